"""Device accuracy over distinct samples agrees with host accuracy on the scoring split (issue 16).

Every reference variant is scored by a real agent (real LiteRT, and TFLite Micro for the full-integer ones)
over the bundled scoring split, each sample once (a benchmark job's self-test scoring), and the
orchestrator's host evaluation of the same variant on the same split must fall inside the device figure's
95 % Wilson interval. The interval is the acceptance; on this host both run the same kernels, so the
counts themselves are printed for the closing note."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgefleet.orchestrator.rollout.analysis import wilson
from edgefleet.v1 import control_pb2
from tests.helpers.controlstub import control_stub
from tests.helpers.fleet import agent_config, agent_in_process, wait_for
from tests.integration.test_benchmark_agent import DONE, SCORING, finished, job

Z95 = 1.96


def _check(report: control_pb2.BenchmarkReport, host: dict[str, float | None], runtime: str) -> None:
    assert report.state == DONE, report.reason
    assert {r.variant.variant_id for r in report.results} == set(host)
    for r in report.results:
        assert r.error == "", (r.variant.recipe, r.error)
        assert r.scored == SCORING  # distinct samples: the whole scoring split, each once
        expected = host[r.variant.variant_id]
        assert expected is not None
        low, high = wilson(r.correct, r.scored, Z95)
        print(
            f"{runtime:12s} {r.variant.variant_id[:10]} {r.variant.recipe:18s} device {r.correct}/{r.scored}"
            f" = {r.correct / r.scored:.4f} [{low:.4f}, {high:.4f}]  host {expected:.4f}"
        )
        assert low <= expected <= high, (r.variant.recipe, r.correct, r.scored, expected)


@pytest.mark.parametrize(
    ("runtime", "profile", "recipes"),
    [
        ("litert", "rpi4", ()),  # all nine variants of the family
        ("tflite-micro", "mcu-gateway", ("static_wi8_ai8",)),  # what TFLite Micro runs: full integer
    ],
)
async def test_device_accuracy_matches_host_accuracy_within_its_wilson_interval(
    template: Path, tmp_path: Path, runtime: str, profile: str, recipes: tuple[str, ...]
) -> None:
    async with control_stub(template, tmp_path) as stub:
        cat = stub.catalogue
        ids = cat.variant_ids(recipes=recipes)
        assert len(ids) == (9 if not recipes else 3)
        cards = {v: cat.services.variants.get(v) for v in ids}
        assert all(c.host.samples == SCORING for c in cards.values())  # the host scored the same split
        host = {v: c.host.accuracy for v, c in cards.items()}
        cfg = agent_config(stub.address, tmp_path / "a", profile, "t")
        async with agent_in_process(cfg) as agent:
            await wait_for(agent.connected.is_set, what="stream")
            stub.send(job("acc", [cat.bundle(v) for v in ids], rounds=2, turn=0.1, runtime=runtime))
            report = await finished(stub, "acc", timeout=240)
    _check(report, host, runtime)
