"""Energy per inference, per profile: the plan's chosen variant vs the float32 base of the same width,
with accuracy, side by side in one run.

Two figures per variant:
* the plan's estimate for the profile (op count or per-MAC model, as the profile says);
* this host, running the variant under the profile's runtime: an energy counter when this machine has one
  (RAPL), otherwise the agent's CPU-time estimator with the profile's power figures. The method and whether
  it is measured or estimated are printed; this machine has no sensor, so here it says ``estimated``.

make bench   (or: .venv/bin/python -m pytest -s -p no:xdist tests/benchmarks/test_energy_per_profile.py)
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from edgefleet.agent.energy.meters import Meter, WindowContext
from edgefleet.agent.energy.probe import probe_meters
from edgefleet.agent.energy.sysfs import Sysfs
from edgefleet.agent.runtime import load_model
from edgefleet.core.evalset import EvalSet, load_eval_set
from edgefleet.orchestrator.profiles.loader import ProfileRegistry
from edgefleet.orchestrator.profiles.model import Profile
from edgefleet.orchestrator.reference import ReferenceFamily
from edgefleet.orchestrator.selection.select import Candidate
from edgefleet.orchestrator.service.plans import PlanService
from edgefleet.orchestrator.service.variants import BuildRequest, VariantService
from tests.helpers.services import variant_service

INFERENCES = {"litert": 4000, "tflite-micro": 600}


def _host_energy(
    service: VariantService, candidate: Candidate, profile: Profile, evalset: EvalSet
) -> tuple[float, str, str]:
    """(dynamic joules per inference on this host, kind, method)."""
    model = load_model(service.artifact(candidate.variant.variant_id), runtime=profile.runtime)
    try:
        samples = model.input.to_native(evalset.x[:64])
        batch = [samples[i : i + 1] for i in range(len(samples))]
        meter, _ = probe_meters(
            sysfs=Sysfs(Path("/sys")),
            idle_watts=profile.power.idle_watts,
            active_watts=profile.power.active_watts,
            cores=profile.hardware.cores,
            pmic=False,
        )
        if meter.sample_hz > 0:  # a sampled sensor needs the agent's sampler; use the counter-free estimate
            meter = _estimator(profile)
        n = INFERENCES[profile.runtime]
        for x in batch[:8]:  # warm up
            model.invoke_raw(x)
        wall0, cpu0 = time.monotonic_ns(), time.thread_time()
        meter.begin(wall0)
        for i in range(n):
            model.invoke_raw(batch[i % len(batch)])
        wall1, cpu = time.monotonic_ns(), time.thread_time() - cpu0
        reading = meter.end(wall1, WindowContext(cpu_seconds=cpu, inferences=n))
        dynamic = reading.joules - profile.power.idle_watts * (wall1 - wall0) / 1e9
        return max(dynamic, 0.0) / n, reading.kind, reading.method
    finally:
        model.close()


def _estimator(profile: Profile) -> Meter:
    from edgefleet.agent.energy.estimators import CpuTimeEstimator

    return CpuTimeEstimator(
        idle_watts=profile.power.idle_watts,
        active_watts=profile.power.active_watts,
        cores=profile.hardware.cores,
    )


def _fp32_of(candidates: tuple[Candidate, ...], chosen: Candidate) -> Candidate:
    return next(
        c
        for c in candidates
        if c.variant.recipe == "fp32" and c.variant.base_name == chosen.variant.base_name
    )


def test_energy_chosen_vs_float32(family: ReferenceFamily, tmp_path: Path) -> None:
    evalset = load_eval_set(family.eval_path)
    service = variant_service(tmp_path, latency_runs=200)
    for ref in family.models:
        service.build(
            BuildRequest(
                model=family.model,
                base=ref.path.read_bytes(),
                eval_npz=family.eval_path.read_bytes(),
                base_name=ref.name,
            )
        )
    profiles = ProfileRegistry.load(())
    plans = PlanService(variants=service, profiles=profiles).plan(family.model)
    print(f"\nenergy per inference, chosen variant vs float32 of the same width ({family.model})")
    head = f"  {'profile':12} {'variant':34} {'accuracy':>8} {'plan estimate':>14} {'fp32÷':>6}"
    print(f"{head} {'this host (dynamic)':>20} {'fp32÷':>6}  method")
    for plan in plans:
        assert plan.chosen is not None, plan.summary
        profile = profiles.get(plan.profile)
        base = _fp32_of(plan.candidates, plan.chosen)
        rows = []
        for c in (base, plan.chosen):
            host_j, kind, method = _host_energy(service, c, profile, evalset)
            rows.append((c, host_j, kind, method))
        (b, b_host, _, _), (ch, ch_host, kind, method) = rows
        for c, host_j, *_ in rows:
            name = f"{c.variant.base_name} {c.variant.recipe}"
            acc = c.figures.accuracy or float("nan")
            est = c.figures.energy_j
            is_chosen = c is ch
            est_ratio = f"{b.figures.energy_j / est:6.1f}" if is_chosen else f"{'':6}"
            host_ratio = f"{b_host / host_j:6.2f}" if is_chosen and host_j > 0 else f"{'':6}"
            print(
                f"  {plan.profile if is_chosen else '':12} {name:34} {acc:8.2%} {est * 1e6:11.1f} µJ "
                f"{est_ratio} {host_j * 1e6:17.2f} µJ {host_ratio}  {kind if is_chosen else ''} "
                f"{method if is_chosen else ''}"
            )
        assert np.isfinite(ch_host)
        assert ch_host >= 0
