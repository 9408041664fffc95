"""A throw-away PostgreSQL server for the tests: initdb + pg_ctl in a temp directory, on a free port.

Debian's ``postgresql`` package (``make system-deps``) provides the binaries under
/usr/lib/postgresql/VERSION/bin. The server runs as an unprivileged user: PostgreSQL refuses to run as
root, so as root (here and in CI) it runs as ``postgres`` through ``runuser`` in a directory that user
owns; as anyone else it runs directly. fsync is off (nothing here needs to survive a crash). One server
per test session (per xdist worker); a fresh database per test.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PostgresServer", "find_pg_bin", "postgres_server", "unavailable_reason"]

SUPERUSER = "edgefleet"


def find_pg_bin() -> Path | None:
    """The newest installed server's bin directory (Debian keeps it off PATH), or initdb's on PATH."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", "postgres", "--"]


def unavailable_reason() -> str:
    """Why no server can be started here ("" when one can)."""
    if find_pg_bin() is None:
        return "PostgreSQL is not installed (Debian package postgresql: run `make system-deps`)"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser: PostgreSQL refuses to run as root"
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run PostgreSQL as"
    return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    root: Path
    port: int
    _names: itertools.count[int]

    def url(self, database: str = "postgres", *, password: str = "") -> str:
        auth = f"{SUPERUSER}:{password}" if password else SUPERUSER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; returns its name."""
        import psycopg

        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=SUPERUSER, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'")
        return name


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = find_pg_bin()
    assert bin_dir is not None, unavailable_reason()
    # /tmp, not pytest's 0700 tree: the postgres user must reach the data directory
    root = Path(tempfile.mkdtemp(prefix="edgefleet-pg-"))
    data, log = root / "data", root / "server.log"
    as_user = _run_as()
    if as_user:
        entry = pwd.getpwnam("postgres")
        os.chown(root, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    cwd = str(root)  # runuser keeps the working directory: one the user can enter
    try:
        subprocess.run(
            [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", SUPERUSER, "--auth=trust",
             "--encoding=UTF8", "--locale=C", "--no-sync"],
            check=True, capture_output=True, cwd=cwd,
        )  # fmt: skip
        options = (
            f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w",
             "-t", "60", "start"],
            check=True, capture_output=True, cwd=cwd,
        )  # fmt: skip
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace") + (log.read_text() if log.exists() else "")
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {detail[-2000:]}") from exc
    try:
        yield PostgresServer(root, port, itertools.count(1))
    finally:
        subprocess.run(
            [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True, cwd=cwd, check=False,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)
