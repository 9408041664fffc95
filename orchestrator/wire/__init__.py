"""protobuf <-> domain converters for the orchestrator's gRPC edges, one module per domain."""
