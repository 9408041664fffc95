"""Domain services: frozen dataclasses in and out, no grpc import."""
