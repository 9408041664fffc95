"""Limits a server holding thousands of connections needs: one file descriptor per agent stream, and room
in gRPC's queue of calls waiting for the event loop."""

from __future__ import annotations

import contextlib
import resource
import sys

__all__ = [
    "GIL_SWITCH_INTERVAL_S",
    "MAX_PENDING_CALLS",
    "MAX_UNREQUESTED_SECONDS",
    "raise_open_file_limit",
    "server_options",
    "share_the_gil",
]

#: Where the hard limit is "unlimited": Linux still caps descriptors at fs.nr_open (1,048,576 by default).
_NR_OPEN_DEFAULT = 1 << 20
#: Calls that reached the server and wait for its event loop to pick them up (the aio server takes one at
#: a time). grpc's defaults, 1,000 soft and 3,000 hard, cancel new calls at random beyond 1,000 before any
#: handler runs (GRPC_TRACE=call_error: "CancelWithError SVR CANCELLED"): a burst of a few thousand agents
#: connecting at once (after a restart, say) lost hundreds of streams that way.
MAX_PENDING_CALLS = 50_000
#: How long a call may wait there before grpc cancels it (default 30 s, then "CancelWithError SVR
#: CANCELLED" on the thread that asks for the next call). A deploy to 10,000 agents starts 10,000 downloads at
#: once; the loop picks them up one per iteration, and garbage collection (1-2 s pauses with a million live
#: objects) and store reads stall it: thousands of downloads were cancelled after 30 s, each a failed
#: deployment on its device. Waiting is better than failing; real overload still ends in a refusal.
MAX_UNREQUESTED_SECONDS = 300


#: How long a thread waiting for the GIL lets the holder run before asking it to let go (Python's default:
#: 5 ms). Under load the event loop thread always wants the GIL, and the telemetry store thread gives it up
#: on every row SQLite steps through (the sqlite3 module releases it around each step): at 5 ms per
#: re-acquisition a group of a few hundred windows took seconds to store and ingest collapsed to a few
#: hundred windows/s with 1,000 agents (issue 19). At 0.5 ms the loop still gets long slices.
GIL_SWITCH_INTERVAL_S = 0.0005


def share_the_gil() -> None:
    """Set the process's GIL switch interval to ``GIL_SWITCH_INTERVAL_S`` (the server's threads: the event
    loop, the store's writer, worker threads)."""
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


def server_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """The orchestrator's grpc.aio server options."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # gRPC's default shares a port in use with another server (calls then land on either at random)
        ("grpc.so_reuseport", 0),
        ("grpc.server.max_pending_requests", MAX_PENDING_CALLS),
        ("grpc.server.max_pending_requests_hard_limit", MAX_PENDING_CALLS),
        ("grpc.server_max_unrequested_time_in_server", MAX_UNREQUESTED_SECONDS),
    ]


def raise_open_file_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns (soft, hard) as they are afterwards.

    Each mTLS agent holds its own TCP connection, so the orchestrator needs one descriptor per agent plus
    its files and database. A service started with the usual default soft limit of 1,024 fails at about
    1,000 agents (EMFILE: accepts and TLS handshakes fail, reading files fails); the hard limit (systemd:
    ``LimitNOFILE=``) is the real ceiling. An unprivileged process may raise its soft limit up to it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _NR_OPEN_DEFAULT if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):  # e.g. above fs.nr_open: keep what we have
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)
