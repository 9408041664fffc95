"""Serving a Prometheus registry: one /metrics endpoint per process, on a daemon thread (prometheus_client's
design, so it runs beside any event loop). The registry is always injected, never the global one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from edgefleet.core.ports import bind_error, check_free, split_listen

__all__ = ["MetricsServer", "serve_metrics", "start_metrics"]


@dataclass(frozen=True, slots=True)
class MetricsServer:
    """A running /metrics endpoint; :meth:`close` releases its port (the thread would keep it otherwise)."""

    address: str
    _httpd: Any

    def close(self) -> None:
        """Stop serving and close the socket (blocks up to the server's poll interval, 0.5 s)."""
        self._httpd.shutdown()
        self._httpd.server_close()


def start_metrics(registry: CollectorRegistry, listen: str) -> MetricsServer:
    """Start a /metrics HTTP server for ``registry`` on ``listen`` (HOST:PORT; port 0 picks a free one).

    A port in use, or any address that cannot be bound, is one :class:`EdgefleetError` naming it.
    """
    host, port = split_listen(listen)
    check_free(listen)
    try:
        httpd, _thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:  # taken between the check and the bind
        raise bind_error(listen, exc) from exc
    shown = f"[{host}]" if ":" in host else host
    return MetricsServer(f"{shown}:{httpd.server_port}", httpd)


def serve_metrics(registry: CollectorRegistry, listen: str) -> str:
    """:func:`start_metrics` for a process that serves until it exits; returns the bound HOST:PORT."""
    return start_metrics(registry, listen).address
