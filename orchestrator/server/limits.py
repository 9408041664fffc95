"""Process limits a server holding thousands of connections needs: one file descriptor per agent stream."""

from __future__ import annotations

import contextlib
import resource

__all__ = ["raise_open_file_limit"]

#: Where the hard limit is "unlimited": Linux still caps descriptors at fs.nr_open (1,048,576 by default).
_NR_OPEN_DEFAULT = 1 << 20


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
