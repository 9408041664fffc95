"""put_windows throughput on SQLite, batches of 100 windows: the SQL store against the old hand-written
SqliteStore (taken from git at --old-rev), the same rows, side by side in one run. Then, for scale, the
per-call cost of get_device and get_device + put_device on both.

    .venv/bin/python scripts/bench_store_windows.py [--batches 300] [--rounds 3] [--old-rev e7a36e2]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from edgefleet.orchestrator.fleet.model import DeviceRecord, WindowRecord
from edgefleet.orchestrator.store import SqliteStore, Store

REPO = Path(__file__).resolve().parents[1]
BASE = WindowRecord(
    device_id="",
    profile="rpi4",
    seq=0,
    variant_id="v" * 64,
    model="digits",
    recipe="static_wi8_ai8",
    start=0.0,
    end=0.0,
    inferences=200,
    gross_j=2e-4,
    dynamic_j=5e-5,
    sigma_j=1e-6,
    energy_kind="measured",
    energy_method="hwmon:ina219:power1_input",
    latency_p50_s=1e-4,
    latency_p95_s=2e-4,
    latency_p99_s=3e-4,
    labelled=64,
    correct=60,
    cpu_percent=30.0,
    rss_bytes=10**8,
    temperature_c=51.0,
    flags=(),
)


def batches(count: int, size: int = 100, devices: int = 20) -> list[list[WindowRecord]]:
    """``count`` batches of ``size`` windows, spread over ``devices`` devices, sequences in order."""
    out, seqs = [], [0] * devices
    for b in range(count):
        batch = []
        for i in range(size):
            d = (b * size + i) % devices
            seqs[d] += 1
            end = 1.7e9 + 10.0 * seqs[d]
            batch.append(replace(BASE, device_id=f"rpi4-{d:03d}", seq=seqs[d], start=end - 10.0, end=end))
        out.append(batch)
    return out


def old_store_class(rev: str) -> Callable[[Path], Store]:
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:orchestrator/store/sqlite.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "old_sqlite.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_sqlite", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls = module.SqliteStore
    cls.__abstractmethods__ = frozenset()  # it predates the contract's new methods; put_windows is its own
    return cls  # type: ignore[no-any-return]


def run(make: Callable[[Path], Store], data: Sequence[list[WindowRecord]]) -> tuple[float, float]:
    """Windows stored per second of wall time and per second of this process's CPU time (the CPU figure
    is the steadier one on a shared machine; SQLite runs in-process, and WAL commits do not fsync)."""
    with tempfile.TemporaryDirectory() as root:
        store = make(Path(root) / "edgefleet.sqlite")
        started, cpu = time.perf_counter(), time.process_time()
        stored = sum(store.put_windows(batch) for batch in data)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        store.close()
    assert stored == sum(len(b) for b in data), stored
    return stored / elapsed, stored / cpu


def device_calls(make: Callable[[Path], Store]) -> tuple[float, float]:
    """(get_device, get_device + put_device) per CPU second, 200 devices."""
    with tempfile.TemporaryDirectory() as root:
        store = make(Path(root) / "edgefleet.sqlite")
        for i in range(200):
            store.put_device(DeviceRecord(f"d{i}", f"d{i}", "rpi4", {"site": "lab"}, "h" * 64, 1.0))
        cpu = time.process_time()
        for i in range(4000):
            store.get_device(f"d{i % 200}")
        gets = 4000 / (time.process_time() - cpu)
        cpu = time.process_time()
        for i in range(1000):
            current = store.get_device(f"d{i % 200}")
            assert current is not None
            store.put_device(replace(current, bytes_done=i))
        puts = 1000 / (time.process_time() - cpu)
        store.close()
    return gets, puts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--old-rev", default="e7a36e2", help="a commit with the hand-written SqliteStore")
    args = parser.parse_args()
    data = batches(args.batches)
    stores: dict[str, Callable[[Path], Store]] = {
        "old SqliteStore": old_store_class(args.old_rev),
        "SQL store (SQLite)": SqliteStore,
    }
    rates: dict[str, list[float]] = {name: [] for name in stores}
    cpu: dict[str, list[float]] = {name: [] for name in stores}
    for _ in range(args.rounds):  # interleaved, so both see the same machine load
        for name, make in stores.items():
            wall, per_cpu = run(make, data)
            rates[name].append(wall)
            cpu[name].append(per_cpu)
    total = args.batches * 100
    print(
        f"put_windows, {args.batches} batches of 100 windows ({total} windows, 20 devices), "
        f"{args.rounds} rounds"
    )
    for name, values in rates.items():
        runs = [round(v) for v in values]
        print(
            f"  {name:20s} median {statistics.median(values):7.0f} windows/s wall, "
            f"{statistics.median(cpu[name]):7.0f} windows/CPU-s   wall runs: {runs}"
        )
    old, new = (statistics.median(v) for v in rates.values())
    old_cpu, new_cpu = (statistics.median(v) for v in cpu.values())
    print(f"  new / old: {new / old:.2f}x (wall), {new_cpu / old_cpu:.2f}x (CPU)")
    print("devices, 200 rows, calls per CPU second (median of the rounds):")
    calls = {name: [device_calls(make) for _ in range(args.rounds)] for name, make in stores.items()}
    for name, values in calls.items():
        gets = statistics.median(v[0] for v in values)
        puts = statistics.median(v[1] for v in values)
        print(f"  {name:20s} get_device {gets:7.0f}/s   get_device + put_device {puts:7.0f}/s")


if __name__ == "__main__":
    sys.exit(main())
