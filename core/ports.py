"""Listening addresses: is HOST:PORT free for us, and what to tell a user when it is not.

gRPC reports a failed bind as "Failed to bind" (and its C core logs it), and it sets SO_REUSEPORT by default,
so a second server on a port in use may even succeed and share it. Servers here turn SO_REUSEPORT off and
ask :func:`check_free` first: one line naming the address and what is wrong with it.
"""

from __future__ import annotations

import errno
import socket

from edgefleet.core.errors import EdgefleetError, InvalidArgument, PermissionDenied, Unavailable

__all__ = ["bind_error", "check_free", "split_listen"]


def split_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port); a bad one is InvalidArgument."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise InvalidArgument(f"expected HOST:PORT (port 0-65535), got {listen!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


def bind_error(listen: str, exc: OSError) -> EdgefleetError:
    """The user's words for a failed bind of ``listen``."""
    if exc.errno == errno.EADDRINUSE:
        return Unavailable(f"{listen} is in use")
    if exc.errno == errno.EACCES:
        return PermissionDenied(f"{listen}: not allowed to listen there (ports below 1024 need privileges)")
    if exc.errno == errno.EADDRNOTAVAIL:
        return InvalidArgument(f"{listen}: not an address of this host")
    if isinstance(exc, socket.gaierror):
        return InvalidArgument(f"{listen}: unknown host ({exc.strerror})")
    return Unavailable(f"cannot listen on {listen} ({exc.strerror or exc})")


def check_free(listen: str) -> None:
    """Raise the error :func:`bind_error` names when ``listen`` cannot be bound now (port 0: any free port,
    so only the host is checked).

    Binds a throw-away socket the way the servers do (SO_REUSEADDR, no SO_REUSEPORT) on every address the
    host resolves to: any one in use means the port is taken (another server would share it); other failures
    count only when no address can be bound.
    """
    host, port = split_listen(listen)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise bind_error(listen, exc) from exc
    failures: list[OSError] = []
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:  # as gRPC binds [::]: both stacks
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise bind_error(listen, exc) from exc
                failures.append(exc)
    if failures and len(failures) == len(infos):
        raise bind_error(listen, failures[0]) from failures[0]
