"""What one inference costs depends on how often inferences come (issue 16): the inference thread's CPU time per
inference of the three reference widths, back to back and paced at 1,000, 100 and 10 per second, in 5
interleaved rounds (every width at every pace in each round), on LiteRT with one thread.

Why the benchmark job paces its turns at the device's serving rate: measured back to back the model's
arithmetic dominates and w0.5 looks 2-3x cheaper than w2.0; at a hundred calls a second the wake-up with cold
caches dominates and the widths come close. A saving measured at one cadence does not carry to another.

make bench   (or: .venv/bin/python -m pytest -s -p no:xdist tests/benchmarks/test_cadence.py)
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from edgefleet.agent.runtime import load_model
from edgefleet.core.evalset import load_eval_set
from edgefleet.orchestrator.reference import ReferenceFamily

#: Inferences per second (0: back to back), and the inferences measured at each per round.
PACES = (0.0, 1000.0, 100.0, 10.0)
COUNT = {0.0: 400, 1000.0: 200, 100.0: 60, 10.0: 12}
ROUNDS = 5


def _cpu_per_inference(model: object, native: np.ndarray, pace: float, n: int) -> list[float]:
    invoke = model.invoke_raw  # type: ignore[attr-defined]
    out = []
    for k in range(n):
        if pace:
            time.sleep(1.0 / pace)
        c0 = time.thread_time()
        invoke(native[k % len(native) : k % len(native) + 1])
        out.append(time.thread_time() - c0)
    return out


def test_cost_per_inference_by_cadence(family: ReferenceFamily) -> None:
    x = load_eval_set(family.eval_path).split().scoring.x[:64]
    models = {ref.name.split("_")[1]: load_model(ref.path.read_bytes(), threads=1) for ref in family.models}
    native = {w: m.input.to_native(x) for w, m in models.items()}
    for w, m in models.items():  # warm-up, unmeasured
        _cpu_per_inference(m, native[w], 0.0, 20)
    seen: dict[tuple[str, float], list[float]] = {(w, p): [] for w in models for p in PACES}
    for _ in range(ROUNDS):
        for pace in PACES:
            for w, m in models.items():
                seen[(w, pace)] += _cpu_per_inference(m, native[w], pace, COUNT[pace])
    median = {k: statistics.median(v) for k, v in seen.items()}
    widths = list(models)
    print("\nCPU time per inference (median), LiteRT, 1 thread; 5 interleaved rounds")
    print("| pace | " + " | ".join(widths) + f" | {widths[-1]} / {widths[0]} |")
    print("|---" * (len(widths) + 2) + "|")
    for pace in PACES:
        cells = " | ".join(f"{median[(w, pace)] * 1e6:,.1f} µs" for w in widths)
        ratio = median[(widths[-1], pace)] / median[(widths[0], pace)]
        label = "back to back" if pace == 0 else f"{pace:,.0f}/s"
        print(f"| {label} | {cells} | {ratio:.2f} |")
    for w in widths:
        print(f"{w}: paced at 100/s / back to back = {median[(w, 100.0)] / median[(w, 0.0)]:.1f}x")
    assert all(v > 0 for v in median.values())
