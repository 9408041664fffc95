"""The control plane's gRPC edge: servicers (protobuf in/out) over the domain services."""
