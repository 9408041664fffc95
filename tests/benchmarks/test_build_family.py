"""How long building and analysing the reference family takes, by phase, in one run.

make bench   (or: .venv/bin/python -m pytest -s -p no:xdist tests/benchmarks/test_build_family.py)
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path

from edgefleet.core.evalset import load_eval_set
from edgefleet.orchestrator.reference import ReferenceFamily
from edgefleet.orchestrator.service.variants import BuildRequest
from edgefleet.orchestrator.variants.analyser import analyse
from edgefleet.orchestrator.variants.builder import build_variant
from edgefleet.orchestrator.variants.evaluator import evaluate
from edgefleet.orchestrator.variants.recipes import DEFAULT_RECIPES, RECIPES
from tests.helpers.services import variant_service


def test_build_and_analyse_reference_family(family: ReferenceFamily, tmp_path: Path) -> None:
    evalset = load_eval_set(family.eval_path)
    phases: dict[str, float] = defaultdict(float)
    count = 0
    for ref in family.models:
        base = ref.path.read_bytes()
        for name in DEFAULT_RECIPES:
            t0 = time.perf_counter()
            built = build_variant(RECIPES[name], base, evalset)
            t1 = time.perf_counter()
            analyse(built.data)
            t2 = time.perf_counter()
            evaluate(built.data, evalset, latency_runs=200)
            t3 = time.perf_counter()
            phases["quantize"] += t1 - t0
            phases["analyse (incl. TFLM)"] += t2 - t1
            phases["evaluate (360 samples + 200 timed)"] += t3 - t2
            count += 1
    service = variant_service(tmp_path, latency_runs=200)
    t0 = time.perf_counter()
    for ref in family.models:
        service.build(
            BuildRequest(
                model="digits",
                base=ref.path.read_bytes(),
                eval_npz=family.eval_path.read_bytes(),
                base_name=ref.name,
            )
        )
    end_to_end = time.perf_counter() - t0
    parts = sum(phases.values())
    print(
        f"\nreference family: {count} variants ({len(family.models)} widths x {len(DEFAULT_RECIPES)} recipes)"
    )
    for phase, seconds in phases.items():
        print(f"  {phase:38s} {seconds:7.2f} s  {seconds / parts:6.1%} of the phases")
    print(f"  {'sum of phases':38s} {parts:7.2f} s  ({parts / count * 1e3:.0f} ms per variant)")
    label = "service.build end to end (+sign, store)"
    print(f"  {label:38s} {end_to_end:7.2f} s  ratio to phases {end_to_end / parts:.2f}")
    assert count == 18
