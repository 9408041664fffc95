"""The estimator against measurements, per profile: predicted vs measured energy per inference and p95
latency for all 18 reference variants, before learning (the prior) and after (the learnt model), both
leave-one-variant-out, with Spearman's rank correlation.

Measured here: each built-in profile's runnable variants run on this host under the profile's runtime
(LiteRT for rpi4 and phone; TFLite Micro for mcu-gateway, where only full-integer variants run), in
interleaved rounds (A, B, C, A, B, C, ...), through the agent's own meter (``probe_meters``). This machine
has no energy sensor, so that meter is the CPU-time estimator with the profile's power figures: the energy
is labelled ``estimated`` (on-device estimate), the latency is measured. On a machine with RAPL the same
benchmark reads the counter.

make bench   (or: .venv/bin/python -m pytest -s -p no:xdist tests/benchmarks/test_estimator_per_profile.py)
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgefleet.agent.energy.estimators import CpuTimeEstimator
from edgefleet.agent.energy.meters import Meter, WindowContext
from edgefleet.agent.energy.probe import probe_meters
from edgefleet.agent.energy.sysfs import Sysfs
from edgefleet.agent.runtime import load_model
from edgefleet.core.enums import FigureKind
from edgefleet.core.evalset import load_eval_set
from edgefleet.orchestrator.profiles.loader import ProfileRegistry
from edgefleet.orchestrator.profiles.model import Profile
from edgefleet.orchestrator.reference import ReferenceFamily
from edgefleet.orchestrator.selection.learned import (
    LooError,
    Point,
    TargetFit,
    fit_target,
    leave_one_out,
    predict,
)
from edgefleet.orchestrator.selection.prior import estimate
from edgefleet.orchestrator.selection.regression import spearman
from edgefleet.orchestrator.service.variants import BuildRequest, VariantService
from edgefleet.orchestrator.variants.card import VariantCard
from tests.helpers.services import variant_service

ROUNDS = 7
SUBSETS = 30
INFERENCES = {"litert": 300, "tflite-micro": 40}


@dataclass(frozen=True)
class HostRun:
    energy_j: float  # dynamic, per inference: median over rounds
    p95_s: float
    kind: str
    method: str


def _meter(profile: Profile) -> Meter:
    meter, _ = probe_meters(
        sysfs=Sysfs(Path("/sys")),
        idle_watts=profile.power.idle_watts,
        active_watts=profile.power.active_watts,
        cores=profile.hardware.cores,
        pmic=False,
    )
    if meter.sample_hz > 0:  # a sampled sensor needs the agent's sampler thread; use its estimator here
        meter = CpuTimeEstimator(
            idle_watts=profile.power.idle_watts,
            active_watts=profile.power.active_watts,
            cores=profile.hardware.cores,
        )
    return meter


def _runnable(card: VariantCard, profile: Profile) -> bool:
    if profile.runtime != "tflite-micro":
        return True
    return card.facts.full_integer and not card.facts.hybrid and card.facts.tflm_arena is not None


def _measure(
    service: VariantService, cards: Sequence[VariantCard], profile: Profile, x: np.ndarray
) -> dict[str, HostRun]:
    meter, n = _meter(profile), INFERENCES[profile.runtime]
    models = {
        c.variant_id: load_model(service.artifact(c.variant_id), runtime=profile.runtime) for c in cards
    }
    try:
        batches = {}
        for vid, model in models.items():
            native = model.input.to_native(x[:64])
            batches[vid] = [native[i : i + 1] for i in range(len(native))]
            for b in batches[vid][:8]:  # warm up
                model.invoke_raw(b)
        energy: dict[str, list[float]] = defaultdict(list)
        latency: dict[str, list[int]] = defaultdict(list)
        kind = method = ""
        for _ in range(ROUNDS):
            for c in cards:  # interleaved: drift and thermal state hit every variant alike
                model, batch = models[c.variant_id], batches[c.variant_id]
                wall0, cpu0 = time.monotonic_ns(), time.thread_time()
                meter.begin(wall0)
                for i in range(n):
                    t0 = time.perf_counter_ns()
                    model.invoke_raw(batch[i % len(batch)])
                    latency[c.variant_id].append(time.perf_counter_ns() - t0)
                wall1, cpu = time.monotonic_ns(), time.thread_time() - cpu0
                reading = meter.end(wall1, WindowContext(cpu_seconds=cpu, inferences=n))
                dynamic = reading.joules - profile.power.idle_watts * (wall1 - wall0) / 1e9
                energy[c.variant_id].append(max(dynamic, 0.0) / n)
                kind, method = reading.kind, reading.method
        return {
            c.variant_id: HostRun(
                statistics.median(energy[c.variant_id]),
                float(np.percentile(latency[c.variant_id], 95)) / 1e9,
                kind,
                method,
            )
            for c in cards
        }
    finally:
        for model in models.values():
            model.close()


def _pct(log_err: float | None) -> str:
    return "-" if log_err is None else f"{math.expm1(log_err):.0%}"


def _rho(r: float | None) -> str:
    return "-" if r is None else f"{r:+.2f}"


def _errors(name: str, before: LooError, after: LooError) -> str:
    return (
        f"  {name:8} LOO |error| median {_pct(before.median_abs_log):>6} -> {_pct(after.median_abs_log):>5}, "
        f"max {_pct(before.max_abs_log):>7} -> {_pct(after.max_abs_log):>6}; "
        f"Spearman {_rho(before.spearman)} -> {_rho(after.spearman)}   (before: prior -> after: learnt)"
    )


def _coefficients(fit: TargetFit) -> str:
    fitted = [f"{c.name} {c.value:+.2f}" for c in fit.coefficients if c.fitted]
    kept = [c.name for c in fit.coefficients if not c.fitted]
    return f"  {fit.target:8} fitted: {', '.join(fitted)}; residual {_pct(fit.residual)}; left out: {', '.join(kept)}"


def _from_subsets(profile: Profile, family: Sequence[VariantCard], points: Sequence[Point]) -> str:
    """The benchmark job measures a few candidates, not all: fit on k random measured variants, predict
    the others (the plan's figure: learnt, or the prior where the model does not beat it), median over
    SUBSETS seeded draws."""
    rng, out = random.Random(16), []
    for k in (k for k in (3, 4, 6, 9, 12) if k < len(points)):
        prior_err, plan_err, prior_rho, plan_rho = [], [], [], []
        for _ in range(SUBSETS):
            chosen = set(rng.sample(range(len(points)), k))
            fit = fit_target("energy", family, profile, [points[i] for i in sorted(chosen)])
            rest = [p for i, p in enumerate(points) if i not in chosen]
            y = [math.log(p.value) for p in rest]
            scaled = [math.log(estimate(p.card, profile)[0] * fit.prior_scale) for p in rest]
            plan = [math.log(predict(fit, p.card, profile).value) for p in rest]
            prior_err.append(statistics.median(abs(a - b) for a, b in zip(scaled, y, strict=True)))
            plan_err.append(statistics.median(abs(a - b) for a, b in zip(plan, y, strict=True)))
            prior_rho.append(spearman(scaled, y) or 0.0)
            plan_rho.append(spearman(plan, y) or 0.0)
        out.append(
            f"k={k}: {_pct(statistics.median(prior_err))} {_rho(statistics.median(prior_rho))} -> "
            f"{_pct(statistics.median(plan_err))} {_rho(statistics.median(plan_rho))}"
        )
    return "; ".join(out)


def _name(c: VariantCard) -> str:
    return f"{c.base_name.removeprefix(c.model + '_')} {c.recipe}"


def _report(
    profile: Profile, family: Sequence[VariantCard], cards: Sequence[VariantCard], runs: dict[str, HostRun]
) -> None:
    points = {
        "energy": [Point(c, runs[c.variant_id].energy_j, FigureKind.ESTIMATED_ON_DEVICE) for c in cards],
        "latency": [Point(c, runs[c.variant_id].p95_s, FigureKind.MEASURED) for c in cards],
    }
    fits = {t: fit_target(t, family, profile, p) for t, p in points.items()}
    loo = {t: leave_one_out(t, family, profile, p) for t, p in points.items()}
    run = next(iter(runs.values()))
    print(
        f"\n{profile.name}: {len(cards)} variants under {profile.runtime} on this host, {ROUNDS} interleaved rounds; "
        f"energy: {run.method} with {profile.name}'s power figures ({run.kind}), dynamic per inference"
    )
    print(
        f"  {'variant':26} {'measured':>9} {'prior':>9} {'prior LOO':>9} {'learnt LOO':>10} µJ |"
        f" {'measured':>9} {'prior LOO':>9} {'learnt LOO':>10} µs p95"
    )
    for i, c in enumerate(cards):
        r = runs[c.variant_id]
        raw = estimate(c, profile)[0]
        print(
            f"  {_name(c):26} {r.energy_j * 1e6:9.2f} {raw * 1e6:9.2f} {loo['energy'][0][i] * 1e6:9.2f} "
            f"{loo['energy'][1][i] * 1e6:10.2f}    | {r.p95_s * 1e6:9.1f} {loo['latency'][0][i] * 1e6:9.1f} "
            f"{loo['latency'][1][i] * 1e6:10.1f}"
        )
    for t in ("energy", "latency"):
        print(_errors(t, fits[t].before, fits[t].after))
    for t in ("energy", "latency"):
        print(_coefficients(fits[t]))
    best = {
        "measured": min(cards, key=lambda c: runs[c.variant_id].energy_j),
        "prior": min(cards, key=lambda c: estimate(c, profile)[0]),
        "learnt (LOO)": cards[int(np.argmin(loo["energy"][1]))],
    }
    print("  least energy: " + "; ".join(f"{k}: {_name(c)}" for k, c in best.items()))
    if len(cards) > 4:
        print(
            f"  energy of the unmeasured from k measured ({SUBSETS} random subsets; median |error| and Spearman, "
            f"prior -> plan): {_from_subsets(profile, family, points['energy'])}"
        )
    for t in ("energy", "latency"):
        print(f"  {t:8} the plan's figure for an unmeasured variant: {fits[t].kind} ({fits[t].note})")
    assert all(math.isfinite(runs[c.variant_id].energy_j) for c in cards)


def test_estimator_before_and_after_learning(family: ReferenceFamily, tmp_path: Path) -> None:
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
    cards = sorted(service.list_variants(family.model), key=lambda c: (c.base_name, c.recipe))
    assert len(cards) == 18
    print(
        "\npredicted vs measured per profile (prior: today's estimate; LOO: each variant predicted from the "
        "others, the prior scaled to them or the learnt model)"
    )
    for profile in ProfileRegistry.load(()).all():
        runnable = [c for c in cards if _runnable(c, profile)]
        runs = _measure(service, runnable, profile, evalset.x)
        _report(profile, cards, runnable, runs)
