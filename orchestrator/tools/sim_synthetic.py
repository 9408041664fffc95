"""What simulated agents report: synthetic telemetry windows and benchmark reports (no inference, no
download: energies shaped like CPU kernels, labelled estimated, method "simulated")."""

from __future__ import annotations

import random

from edgefleet.v1 import common_pb2, control_pb2

__all__ = ["benchmark_report", "synthetic_window"]

#: Synthetic dynamic energy per inference, joules, per profile.
ENERGY = {"rpi4": 6e-5, "phone": 2e-5, "mcu-gateway": 2e-4}
#: Synthetic energy per recipe relative to float32, shaped like CPU kernels (not the op-count model):
#: dynamic-range int8 quantizes activations on every call and costs more than float32, full int8 saves.
RECIPE_ENERGY = {
    "fp32": 1.0,
    "fp16": 1.05,
    "weight_only_wi8_afp32": 1.1,
    "dynamic_wi8_afp32": 1.35,
    "dynamic_wi4_afp32": 1.5,
    "static_wi8_ai8": 0.7,
}


def synthetic_window(
    rng: random.Random, profile: str, seq: int, variant: common_pb2.VariantRef, window_s: float
) -> common_pb2.TelemetryWindow:
    """A window that ends now: 100-300 inferences, all labelled, ~96 % right."""
    n = rng.randint(100, 300)
    e = ENERGY.get(profile, 1e-4) * RECIPE_ENERGY.get(variant.recipe, 1.0) * rng.lognormvariate(0, 0.1)
    w = common_pb2.TelemetryWindow(
        sequence=seq,
        variant=variant,
        inferences=n,
        labelled=n,
        correct=sum(rng.random() < 0.96 for _ in range(n)),
        latency=common_pb2.LatencySummary(p50_seconds=1e-4, p95_seconds=2e-4, p99_seconds=3e-4),
        energy=common_pb2.EnergyFigure(
            gross_joules_per_inference=e * 3,
            dynamic_joules_per_inference=e,
            kind=common_pb2.MEASUREMENT_KIND_ESTIMATED,
            method="simulated",
        ),
    )
    w.end.GetCurrentTime()
    w.start.FromNanoseconds(w.end.ToNanoseconds() - int(window_s * 1e9))
    return w


def benchmark_report(
    device_id: str, profile: str, job: control_pb2.BenchmarkJob
) -> control_pb2.BenchmarkReport:
    """A plausible report, the same every time this device is asked (seeded by device and variant)."""
    results = []
    for c in job.candidates:
        rng = random.Random(f"{device_id}/{c.variant.variant_id}")
        factor = RECIPE_ENERGY.get(c.variant.recipe, 1.0)
        dynamic = ENERGY.get(profile, 1e-4) * factor * rng.lognormvariate(0, 0.05)
        turns = job.rounds or 3
        results.append(
            common_pb2.BenchmarkResult(
                variant=c.variant,
                turns=turns,
                inferences=turns * rng.randint(500, 1500),
                energy=common_pb2.EnergyFigure(
                    gross_joules_per_inference=dynamic * 3,
                    dynamic_joules_per_inference=dynamic,
                    sigma_joules=dynamic * 0.05,
                    kind=common_pb2.MEASUREMENT_KIND_ESTIMATED,
                    method="simulated",
                ),
                latency=common_pb2.LatencySummary(
                    p50_seconds=1e-4 * factor, p95_seconds=2e-4 * factor, p99_seconds=3e-4 * factor
                ),
                peak_rss_bytes=60_000_000,
                scored=180,
                correct=sum(rng.random() < 0.96 for _ in range(180)),
            )
        )
    state = common_pb2.BENCHMARK_STATE_DONE if results else common_pb2.BENCHMARK_STATE_CANCELLED
    return control_pb2.BenchmarkReport(
        job_id=job.job_id, state=state, results=results, done=len(results), total=len(results)
    )
