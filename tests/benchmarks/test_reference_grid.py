"""The gain from Once-for-All sub-networks and Early-Bird pruning, in numbers: per built-in profile, the plan's
choice (min-energy) among the demo's three separately trained networks, with the pruned networks added, with
the OFA sub-networks added, and over the whole grid (12 networks x 6 recipes): first on the prior estimates,
then on figures measured here: every variant in one benchmark job by a real agent (in-process, candidates
interleaved, 3 rounds of 1 s turns) on LiteRT, the full-integer ones in a second job on TFLite Micro, turned
into the plans' measured figures by the orchestrator's own code (report_from_pb, measured_from_results).
This machine has no energy sensor: the agent's CPU-time estimate with rpi4's power figures, for every profile
(a phone's or an MCU's absolute figures differ; the columns' ratios are the point).

make bench   (or: .venv/bin/python -m pytest -s -p no:xdist tests/benchmarks/test_reference_grid.py)
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from edgefleet.orchestrator.benchmark.figures import measured_from_results
from edgefleet.orchestrator.benchmark.model import BenchmarkResult
from edgefleet.orchestrator.selection import select
from edgefleet.orchestrator.wire.benchmarks import report_from_pb
from edgefleet.v1 import common_pb2
from tests.benchmarks.test_benchmark_job import measuring_agent, run_job
from tests.conftest import REPO

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(2400)]


def _compare() -> ModuleType:
    """scripts/compare_reference_grid.py: the same sets and the same table as the script prints."""
    spec = importlib.util.spec_from_file_location(
        "compare_reference_grid", REPO / "scripts" / "compare_reference_grid.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


async def test_best_variant_per_profile_with_and_without_pruning_and_subnetworks(tmp_path: Path) -> None:
    compare = _compare()
    template = tmp_path / "template"
    cards, profiles = compare.build_grid(template)
    chosen = compare.best(cards, profiles)
    by_id = {c.variant_id: c for c in cards}
    print(f"\n{len(cards)} variants; energy: the plan's prior estimate (objective min-energy)\n")
    print(compare.markdown(cards, profiles, chosen))

    # Every variant on LiteRT, the full-integer ones on TFLite Micro: the plans then rank on measured figures.
    wanted = {
        "litert": [c.variant_id for c in cards],
        "tflite-micro": [c.variant_id for c in cards if c.facts.full_integer],
    }
    reports: dict[str, list[BenchmarkResult]] = {}
    async with measuring_agent(template, tmp_path) as (stub, _agent):
        for runtime, ids in wanted.items():
            seconds, report = await run_job(stub, f"grid-{runtime}", ids, runtime)
            assert report.state == common_pb2.BENCHMARK_STATE_DONE  # type: ignore[attr-defined]
            results = report_from_pb(report).results  # type: ignore[arg-type]
            assert [r.error for r in results if r.error] == []
            reports[runtime] = list(results)
            print(f"\n{runtime}: {len(ids)} candidates measured in {seconds:.0f} s")

    print(
        "\nplans on figures measured here (benchmark jobs, candidates interleaved; no sensor: the agent's "
        "CPU-time estimate with rpi4's power figures; LiteRT for rpi4 and phone, TFLite Micro for mcu-gateway)\n"
    )
    print("| profile | " + " | ".join(compare.SETS) + " |")
    print("|---|" + "---|" * len(compare.SETS))
    for profile in profiles:
        runtime = "tflite-micro" if profile.name == "mcu-gateway" else "litert"
        measure = profile.budgets.energy_measure
        measured = {r.variant_id: measured_from_results([r], measure) for r in reports[runtime]}
        cells = []
        for keep in compare.SETS.values():
            # Every card goes in: the float32 bases set the max-drop budget even where they cannot run (TFLM).
            plan = select([c for c in cards if keep(c)], profile, measured=measured)
            c = plan.chosen
            if c is None:
                cells.append("nothing feasible")
                continue
            card, f = by_id[c.variant.variant_id], c.figures
            cells.append(
                f"{card.base_name} {card.recipe}: {f.energy_j * 1e6:.1f} µJ {measure} ({f.energy_figure}), "
                f"p95 {f.latency_p95_s * 1e6:.0f} µs, {(f.accuracy or 0):.2%}"
            )
        print(f"| {profile.name} | " + " | ".join(cells) + " |")
