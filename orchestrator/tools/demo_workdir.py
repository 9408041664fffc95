"""The demo's working directory: never delete what the demo did not make, never wipe a demo still running.

A directory the demo made carries a marker file with the processes it started; a non-empty directory
without one is refused, and so is one whose recorded processes are still alive (a `--keep` run)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from rich.console import Console

from edgefleet.core.errors import FailedPrecondition
from edgefleet.core.fsutil import atomic_write

__all__ = ["MARKER", "claim", "print_kept", "record_processes", "write_env"]

MARKER = ".edgefleet-demo"


def _alive(pid: int) -> bool:
    """The process exists and is an edgefleet one (a recycled pid of something else does not count)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"edgefleet" in cmdline


def claim(workdir: Path) -> None:
    """Make ``workdir`` the demo's, empty: refused when it holds anything the demo did not create, or
    processes of a demo kept running there."""
    if workdir.exists() and not workdir.is_dir():
        raise FailedPrecondition(f"--workdir {workdir} exists and is not a directory")
    marker = workdir / MARKER
    if workdir.exists() and any(workdir.iterdir()):
        if not marker.is_file():
            raise FailedPrecondition(
                f"--workdir {workdir} is not empty and the demo did not create it (no {MARKER} in it); "
                "choose another directory or empty it yourself"
            )
        try:
            pids = {str(k): int(v) for k, v in json.loads(marker.read_text()).get("pids", {}).items()}
        except (ValueError, OSError, AttributeError, TypeError):
            pids = {}
        running = {name: pid for name, pid in pids.items() if _alive(pid)}
        if running:
            listed = " ".join(str(p) for p in running.values())
            raise FailedPrecondition(
                f"a demo kept with --keep still runs in {workdir} ({', '.join(running)}); "
                f"stop it first (kill {listed}) or choose another --workdir"
            )
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    atomic_write(marker, b'{"pids": {}}\n')


def record_processes(workdir: Path, pids: dict[str, int]) -> None:
    atomic_write(workdir / MARKER, (json.dumps({"pids": pids}, sort_keys=True) + "\n").encode())


def write_env(workdir: Path, env: dict[str, str]) -> Path:
    """Shell lines that point the CLI at the demo's orchestrator (`. WORKDIR/env`)."""
    path = workdir / "env"
    lines = [f"export {k}={_quote(v)}" for k, v in sorted(env.items())]
    atomic_write(path, ("\n".join(lines) + "\n").encode())
    return path


def _quote(value: str) -> str:
    safe = all(c.isalnum() or c in "/._-:@" for c in value)
    return value if safe else "'" + value.replace("'", "'\"'\"'") + "'"


def print_kept(alive: dict[str, int], result: dict[str, Any], out: Console) -> None:
    """What a `--keep` run left running, and how to use the CLI against it."""
    if not alive:
        out.print("[bold]--keep[/]: nothing is left running (every process has exited)", highlight=False)
        return
    lines = "\n".join(f"  export {k}={v}" for k, v in sorted(result.get("env", {}).items()))
    out.print(
        f"[bold]--keep[/]: still running ({', '.join(alive)}); "
        f"orchestrator metrics on {result.get('metrics')}\n"
        f"To use the CLI against it, paste:\n{lines}\n"
        f"(or: . {result.get('env_file')})   Stop with: kill {' '.join(str(p) for p in alive.values())}",
        highlight=False,
    )
