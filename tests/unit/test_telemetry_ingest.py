"""Telemetry that is not sound is stored flagged, never silently used."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from edgefleet.core.samples import bitmap_from_indices
from edgefleet.orchestrator.profiles import ProfileRegistry
from edgefleet.orchestrator.service.telemetry import MIN_INFERENCES, TelemetryService
from edgefleet.orchestrator.store import Store
from tests.helpers.records import window
from tests.helpers.services import open_store, variant_service

GOOD = window(1)  # rpi4-1's window 1: sound in every respect


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return open_store(tmp_path)


@pytest.fixture
def service(tmp_path: Path, store: Store) -> TelemetryService:
    variants = variant_service(tmp_path, store=store)
    return TelemetryService(store=store, variants=variants, profiles=ProfileRegistry.load())


@pytest.mark.parametrize(
    ("change", "flag"),
    [
        ({"gross_j": float("nan")}, "invalid gross_j nan"),
        ({"gross_j": float("inf")}, "invalid gross_j inf"),
        ({"gross_j": -1e-3}, "invalid gross_j -0.001"),
        ({"gross_j": 5e3}, "absurd energy 5e+03 J per inference"),
        ({"correct": 500}, "correct 500 > labelled 200"),
        ({"latency_p95_s": float("nan")}, "invalid latency_p95_s nan"),
        ({"end": 90.0}, "window ends before it starts"),
    ],
)
def test_unsound_windows_are_flagged_and_left_out(
    service: TelemetryService, store: Store, change: dict, flag: str
) -> None:  # type: ignore[type-arg]
    service.ingest([dataclasses.replace(GOOD, seq=1, **change)])
    [stored] = store.windows(device_id="rpi4-1")
    assert flag in stored.flags
    assert service.measured("digits", "rpi4") == {}


def test_replayed_sequence_is_stored_once(service: TelemetryService, store: Store) -> None:
    first = service.ingest([GOOD, dataclasses.replace(GOOD, seq=2)])
    assert (first.new, first.repeated) == (2, 0)
    again = service.ingest([GOOD, dataclasses.replace(GOOD, gross_j=9.0)])
    assert (again.new, again.repeated) == (0, 2)  # same (device, seq): ignored
    assert store.count_windows("rpi4-1") == 2
    assert service.advance_ack("rpi4-1") == 2


def test_aggregation_weights_by_inferences_and_skips_small_windows(service: TelemetryService) -> None:
    service.ingest(
        [
            dataclasses.replace(GOOD, seq=1, inferences=100, gross_j=1e-4, dynamic_j=1e-5),
            dataclasses.replace(GOOD, seq=2, inferences=300, gross_j=3e-4, dynamic_j=3e-5),
            dataclasses.replace(
                GOOD, seq=3, inferences=MIN_INFERENCES - 1, gross_j=9e-3, dynamic_j=9e-4
            ),  # NODATA for energy
        ]
    )
    m = service.measured("digits", "rpi4")["v" * 64]
    assert m.windows == 2
    assert m.measure == "dynamic"  # what rpi4's energy budget judges
    assert m.energy_joules == pytest.approx((100 * 1e-5 + 300 * 3e-5) / 400)
    assert m.gross_joules == pytest.approx((100 * 1e-4 + 300 * 3e-4) / 400)
    assert m.energy_kind == "measured"
    assert m.energy_method == "hwmon:ina219:power1_input (dynamic)"


def test_without_an_idle_baseline_there_is_no_dynamic_figure(service: TelemetryService) -> None:
    """Never the gross figure under the dynamic name (issue 15 item 5)."""
    service.ingest([dataclasses.replace(GOOD, seq=s, dynamic_j=None) for s in range(1, 4)])
    m = service.measured("digits", "rpi4")["v" * 64]
    assert (m.windows, m.dynamic_joules, m.gross_joules) == (0, None, pytest.approx(2e-4))


def test_accuracy_counts_distinct_samples_per_device(service: TelemetryService) -> None:
    """A sample replayed many times counts once (issue 16 item 4); each device scores its own samples."""
    scored, right = bitmap_from_indices(range(10)).hex(), bitmap_from_indices(range(8)).hex()
    again = bitmap_from_indices(range(5, 12)).hex()  # 8 and 9 again, wrong again: the model is deterministic
    again_right = bitmap_from_indices([5, 6, 7, 10, 11]).hex()
    service.ingest(
        [
            dataclasses.replace(
                GOOD, seq=1, labelled=5000, correct=4000, scored_samples=scored, correct_samples=right
            ),
            dataclasses.replace(
                GOOD, seq=2, labelled=5000, correct=4000, scored_samples=again, correct_samples=again_right
            ),
            dataclasses.replace(
                GOOD, device_id="rpi4-2", seq=1, scored_samples=scored, correct_samples=right
            ),
        ]
    )
    m = service.measured("digits", "rpi4")["v" * 64]
    assert (m.labelled, m.correct) == (12 + 10, 10 + 8)  # device 1: 10 of 0..11; device 2: 8 of 0..9


def test_the_dynamic_figure_is_preferred_when_there_is_a_baseline(service: TelemetryService) -> None:
    service.ingest([dataclasses.replace(GOOD, seq=1, gross_j=2e-3, dynamic_j=4e-5)])
    m = service.measured("digits", "rpi4")["v" * 64]
    assert m.energy_joules == pytest.approx(4e-5)  # marginal cost, comparable with the estimates and budgets
    assert m.energy_method.endswith("(dynamic)")


def test_measured_figures_use_only_the_newest_windows_per_variant(service: TelemetryService) -> None:
    """Memory and time per plan or scrape stay bounded: older windows beyond the horizon do not count."""
    from edgefleet.orchestrator.service.telemetry import AGGREGATE_WINDOWS

    old = [
        dataclasses.replace(GOOD, seq=i, dynamic_j=9e-3, start=float(i), end=float(i) + 1)
        for i in range(1, 301)
    ]
    new = [
        dataclasses.replace(GOOD, seq=i, dynamic_j=1e-3, start=float(i), end=float(i) + 1)
        for i in range(301, 301 + AGGREGATE_WINDOWS)
    ]
    service.ingest(old + new)
    [figures] = service.measured("digits", "rpi4").values()
    assert figures.windows == AGGREGATE_WINDOWS
    assert figures.energy_joules == pytest.approx(1e-3)  # the old, costlier windows fell out
