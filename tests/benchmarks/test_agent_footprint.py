"""Agent footprint: idle RSS, USS and CPU of `edgefleet-agent run` serving a loaded variant (no workload),
beside its floor measured the same way in the same run: a Python process with LiteRT and the same model
(the bundle the agent serves) loaded, nothing else (issue 19 item 4: agent RSS <= 80 MiB)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
from typer.testing import CliRunner

from edgefleet.orchestrator.cli.app import app
from tests.helpers.processes import agent, orchestrator, wait_until
from tests.helpers.smaps import rss_by_mapping

MiB = 2**20
#: The floor: the model taken out of the agent's active bundle, loaded by LiteRT and invoked once; it then
#: says "ready" and waits.
FLOOR = """
import sys, tarfile, time
import numpy as np
from ai_edge_litert.interpreter import Interpreter
with tarfile.open(sys.argv[1]) as tar:
    model = next(tar.extractfile(m).read() for m in tar.getmembers() if m.name.endswith(".tflite"))
it = Interpreter(model_content=model, num_threads=1)
it.allocate_tensors()
inp = it.get_input_details()[0]
it.set_tensor(inp["index"], np.zeros(inp["shape"], dtype=inp["dtype"]))
it.invoke()
print("ready", flush=True)
time.sleep(3600)
"""


def _json(result: Any) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _idle(pid: int, seconds: int = 10) -> tuple[float, float, float]:
    """Mean RSS and USS (MiB) and CPU (% of one core) over ``seconds``, sampled every second."""
    ps = psutil.Process(pid)
    ps.cpu_percent()
    samples = []
    for _ in range(seconds):
        time.sleep(1.0)
        mem = ps.memory_full_info()
        samples.append((mem.rss, mem.uss, ps.cpu_percent()))
    return (
        statistics.fmean(r for r, _, _ in samples) / MiB,
        statistics.fmean(u for _, u, _ in samples) / MiB,
        statistics.fmean(c for _, _, c in samples),
    )


def _active_bundle(data_dir: Path) -> Path:
    state = json.loads((data_dir / "slots/state.json").read_text())
    return data_dir / "slots" / state["active"] / "bundle.tar"


def test_agent_footprint(tmp_path: Path) -> None:
    runner = CliRunner()
    load = os.getloadavg()[0]
    with orchestrator(tmp_path / "orch") as (_proc, served):
        env = served.env()
        _json(
            runner.invoke(
                app,
                ["variants", "build", "--reference", "--recipes", "fp32,static_wi8_ai8", "--json"],
                env=env,
            )
        )
        token = _json(runner.invoke(app, ["devices", "token", "--json"], env=env))["token"]
        with agent(served, tmp_path / "rpi4", "rpi4", token) as proc:

            def device() -> dict[str, Any] | None:
                devices = _json(runner.invoke(app, ["devices", "list", "--json"], env=env))
                return devices[0] if devices else None

            wait_until(lambda: (d := device()) and d["status"] == "online", "the agent online")
            _json(runner.invoke(app, ["deploy", "digits", "--json"], env=env))
            wait_until(lambda: (d := device()) and d["phase"] == "committed", "the variant committed")
            time.sleep(3)
            rss, uss, cpu = _idle(proc.pid)
            threads, mappings = psutil.Process(proc.pid).num_threads(), rss_by_mapping(proc.pid)
            bundle = _active_bundle(tmp_path / "rpi4")
            floor = subprocess.Popen(
                [sys.executable, "-c", FLOOR, str(bundle)], stdout=subprocess.PIPE, text=True
            )
            try:
                assert floor.stdout is not None
                assert floor.stdout.readline().strip() == "ready"
                f_rss, f_uss, _ = _idle(floor.pid, 5)
                f_threads, f_mappings = psutil.Process(floor.pid).num_threads(), rss_by_mapping(floor.pid)
            finally:
                floor.kill()
                floor.wait()
    print(
        "\nagent footprint (rpi4 profile, variant loaded, idle; canary every 60 s, heartbeats every 10 s); "
        f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print("| process | RSS (MiB) | USS (MiB) | CPU (% of one core) |")
    print("|---|---|---|---|")
    print(f"| `edgefleet-agent run` | {rss:.1f} | {uss:.1f} | {cpu:.1f} |")
    print(f"| floor: Python + LiteRT + the same model | {f_rss:.1f} | {f_uss:.1f} | - |")
    print(f"| agent - floor | {rss - f_rss:+.1f} | {uss - f_uss:+.1f} | |")
    print(f"\nwhere the RSS is, by mapping (/proc/PID/smaps; threads: agent {threads}, floor {f_threads}):")
    print("| mapping | agent (MiB) | floor (MiB) | agent - floor |")
    print("|---|---|---|---|")
    for name, kib in mappings.most_common(14):
        f_kib = f_mappings.get(name, 0)
        print(f"| {name} | {kib / 1024:.1f} | {f_kib / 1024:.1f} | {(kib - f_kib) / 1024:+.1f} |")
    rest = sum(mappings.values()) - sum(k for _, k in mappings.most_common(14))
    print(f"| everything else | {rest / 1024:.1f} | | |")
    assert rss > 0
