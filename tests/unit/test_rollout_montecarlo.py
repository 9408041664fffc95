"""Seeded Monte-Carlo of the device decision: false rollbacks and time to detection."""

from __future__ import annotations

import dataclasses
import statistics

import numpy as np

from edgefleet.orchestrator.fleet.model import WindowRecord
from edgefleet.orchestrator.rollout.analysis import n_min
from edgefleet.orchestrator.rollout.decide import assess_device
from edgefleet.orchestrator.rollout.policy import Policy

POLICY = Policy(accuracy_floor=0.93, max_energy_joules=1e-3, max_latency_p95_seconds=0.01)
WINDOWS = 40
INFERENCES = 200  # per window, all labelled (canary + replay)


def simulate(
    rng: np.random.Generator, *, energy: float, accuracy: float, cv: float = 0.15
) -> list[WindowRecord]:
    out = []
    sigma = np.sqrt(np.log(1 + cv**2))
    for seq in range(1, WINDOWS + 1):
        e = float(energy * rng.lognormal(-(sigma**2) / 2, sigma))
        correct = int(rng.binomial(INFERENCES, accuracy))
        p95 = float(0.004 * rng.lognormal(0, 0.1))
        out.append(
            WindowRecord(
                device_id="d",
                profile="rpi4",
                seq=seq,
                variant_id="v",
                model="m",
                recipe="r",
                start=seq * 10.0,
                end=seq * 10.0 + 10,
                inferences=INFERENCES,
                gross_j=e,
                dynamic_j=e,  # the measure the budget judges
                sigma_j=0.0,
                energy_kind="measured",
                energy_method="test",
                latency_p50_s=p95 / 2,
                latency_p95_s=p95,
                latency_p99_s=p95 * 1.2,
                labelled=INFERENCES,
                correct=correct,
                cpu_percent=50,
                rss_bytes=1,
                temperature_c=None,
                flags=(),
            )
        )
    return out


def runs(label: str, *, energy: float, accuracy: float, n: int = 250, seed: int = 7) -> list[int | None]:
    rng = np.random.default_rng(seed)
    detections: list[int | None] = []
    for _ in range(n):
        a = assess_device(simulate(rng, energy=energy, accuracy=accuracy), POLICY)
        detections.append(a.trigger_window.seq if a.decision == "rollback" and a.trigger_window else None)
    hits = [d for d in detections if d is not None]
    median = statistics.median(hits) if hits else None
    print(f"\n{label}: {len(hits)}/{n} rolled back; median windows to detection: {median}")
    return detections


def test_healthy_variants_are_never_rolled_back() -> None:
    # 80 % of the energy budget, accuracy 3 points above the floor, 15 % window-to-window noise
    assert all(d is None for d in runs("healthy", energy=0.8e-3, accuracy=0.96))


def test_an_energy_breach_of_20_percent_is_always_caught() -> None:
    detections = runs("energy +20 %", energy=1.2e-3, accuracy=0.96)
    assert all(d is not None for d in detections)
    assert statistics.median([d for d in detections if d]) <= 10


def test_an_accuracy_drop_of_5_points_is_always_caught() -> None:
    detections = runs("accuracy floor - 5 pp", energy=0.8e-3, accuracy=0.88)
    assert all(d is not None for d in detections)
    assert statistics.median([d for d in detections if d]) <= 5


def test_all_windows_nodata_never_roll_back() -> None:
    """Accuracy is judged cumulatively since the rollout began: too few labelled samples in all the windows
    together (here one per window, fewer than n_min in all) is NODATA, whatever they say."""
    rng = np.random.default_rng(1)
    windows = [
        dataclasses.replace(w, inferences=10, labelled=1, correct=0)
        for w in simulate(rng, energy=5e-3, accuracy=0.1)
    ]
    assert len(windows) < n_min(POLICY.accuracy_floor)
    a = assess_device(windows, POLICY)
    assert a.decision == "pending"
    assert a.counts == {"NODATA": WINDOWS}
