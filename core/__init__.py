"""What the agent and the orchestrator share: the error catalogue and its gRPC / exit-code mapping,
layered configuration, crash-safe files, artifact trust, the bundle and evaluation-set formats, and the
enum tables."""
