"""Several ``edgefleet serve`` replicas on one store: notices between them, presence and leases."""
