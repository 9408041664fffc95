"""Where a process's resident memory is, by mapping (``/proc/PID/smaps``): the footprint benchmark's profile."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

__all__ = ["rss_by_mapping"]


def _owner(path: str) -> str:
    """A mapping's name for people: the package a file belongs to, the library, or the kernel's label."""
    if not path:
        return "anonymous (Python objects, native buffers, thread stacks)"
    if path.startswith("["):
        return path
    parts = Path(path).parts
    if "site-packages" in parts:
        return f"{parts[parts.index('site-packages') + 1]} (package)"
    name = Path(path).name
    return "libpython" if name.startswith("libpython") else name.split(".so")[0]


def rss_by_mapping(pid: int) -> Counter[str]:
    """Resident KiB per mapping owner."""
    out: Counter[str] = Counter()
    owner = ""
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if fields and "-" in fields[0] and not fields[0].endswith(":"):
            owner = _owner(fields[5] if len(fields) > 5 else "")
        elif fields and fields[0] == "Rss:":
            out[owner] += int(fields[1])
    return out
