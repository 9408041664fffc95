"""The agent's side of FleetControl: the connect loop, one session per stream, the reconciler (desired state
-> slots), the artifact downloader, and ``wire`` (the only protobuf edge)."""
