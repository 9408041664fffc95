"""Serving a Prometheus registry: one /metrics endpoint per process, on a daemon thread (prometheus_client's
design, so it runs beside any event loop). The registry is always injected, never the global one."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server

__all__ = ["serve_metrics"]


def serve_metrics(registry: CollectorRegistry, listen: str) -> str:
    """Start a /metrics HTTP server for ``registry`` (a daemon thread, prometheus_client's design).

    Returns the bound HOST:PORT (port 0 picks a free one).
    """
    host, _, port = listen.rpartition(":")
    server, _thread = start_http_server(int(port), addr=host, registry=registry)
    return f"{host}:{server.server_port}"
