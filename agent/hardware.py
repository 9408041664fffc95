"""Hardware facts an agent reports: read with psutil and from the device tree."""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

import psutil

__all__ = ["HardwareFacts", "read_hardware"]


@dataclass(frozen=True, slots=True)
class HardwareFacts:
    cpu_count: int
    memory_bytes: int
    storage_bytes: int
    machine: str
    platform: str
    board: str


def read_hardware(data_dir: Path, *, device_tree: Path = Path("/proc/device-tree/model")) -> HardwareFacts:
    try:
        board = device_tree.read_text(errors="replace").strip("\x00\n ")
    except OSError:
        board = ""
    return HardwareFacts(
        cpu_count=psutil.cpu_count(logical=True) or 1,
        memory_bytes=psutil.virtual_memory().total,
        storage_bytes=psutil.disk_usage(str(data_dir)).total,
        machine=platform.machine(),
        platform=platform.platform(),
        board=board,
    )
