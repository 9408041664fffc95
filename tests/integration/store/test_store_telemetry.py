"""The store contract, part 3: telemetry windows, per-row rejection, the ack watermark, cumulative totals,
the newest N per variant, and retention. Every test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from edgefleet.core.enums import EnergyKind
from edgefleet.orchestrator.store import Store
from tests.helpers.records import window

V1, V2 = "1" * 64, "2" * 64


def test_windows_are_stored_once_per_device_and_sequence(store: Store) -> None:
    assert store.put_windows([window(1), window(2), window(1, "rpi4-2")]) == 3
    assert store.put_windows([window(2, gross_j=9.0), window(3), window(3)]) == 1  # replay and in-call dup
    result = store.store_windows([window(3), window(4)])
    assert result.new == (("rpi4-1", 4),)
    assert result.duplicates == (("rpi4-1", 3),)
    assert not result.rejected
    assert sorted(w.seq for w in store.windows(device_id="rpi4-1")) == [1, 2, 3, 4]
    assert store.windows(device_id="rpi4-1", limit=1)[0].gross_j == 2e-4
    assert [store.count_windows(), store.count_windows("rpi4-2")] == [5, 1]
    assert store.last_window_seq("rpi4-1") == 4
    assert store.last_window_seq("nobody") == 0
    assert store.windows(device_id="rpi4-1", limit=1) == [window(4)]  # round trip, newest first
    # what the wire converter hands over: enum members (str subclasses) are text too
    assert store.put_windows([window(5, energy_kind=EnergyKind.DERIVED)]) == 1
    assert store.windows(device_id="rpi4-1", limit=1)[0].energy_kind == "derived"


def test_one_bad_window_is_rejected_alone(store: Store) -> None:
    """Issue 15 item 2: a legal uint64 sequence >= 2^63 raised OverflowError and failed the whole group,
    other devices' windows included. It is rejected alone, with the reason; the rest is stored."""
    batch = [
        window(1, "rpi4-a"),
        window(2**63, "rpi4-a"),
        window(2**64 - 1, "rpi4-b"),
        window(0, "rpi4-b"),
        window(2, "rpi4-b", variant_id="bad\x00id"),
        window(3, "rpi4-b", inferences=2**64),
        window(4, "rpi4-b", end=math.inf),
        window(1, "rpi4-b"),
        window(2, "rpi4-a", flags=("invalid gross_j nan",), gross_j=math.nan),
    ]
    result = store.store_windows(batch)
    assert set(result.new) == {("rpi4-a", 1), ("rpi4-b", 1), ("rpi4-a", 2)}
    reasons = {(r.device_id, r.seq): r.reason for r in result.rejected}
    assert set(reasons) == {
        ("rpi4-a", 2**63),
        ("rpi4-b", 2**64 - 1),
        ("rpi4-b", 0),
        ("rpi4-b", 2),
        ("rpi4-b", 3),
        ("rpi4-b", 4),
    }
    assert "outside 1..2^63-1" in reasons[("rpi4-a", 2**63)]
    assert "NUL" in reasons[("rpi4-b", 2)]
    assert "inferences" in reasons[("rpi4-b", 3)]
    assert "not a finite number" in reasons[("rpi4-b", 4)]
    assert store.put_windows([window(2**63, "rpi4-c"), window(1, "rpi4-c")]) == 1
    assert math.isnan(store.windows(device_id="rpi4-a", limit=1)[0].gross_j or 0.0)  # stored flagged as sent


def test_the_ack_watermark_is_the_highest_contiguous_sequence(store: Store) -> None:
    """Issue 15 item 1: acknowledge the unbroken run, never MAX(seq) (window 10 refused, 11 stored)."""
    store.put_windows([window(s) for s in (*range(1, 10), 11)])
    assert store.acked("rpi4-1") == 0
    assert store.advance_ack("rpi4-1") == 9
    assert store.advance_ack("rpi4-1") == 9  # 10 is missing: not acknowledged
    store.put_windows([window(10)])
    assert store.advance_ack("rpi4-1") == 11
    store.put_windows([window(s) for s in range(15, 3000)])
    assert store.advance_ack("rpi4-1") == 11
    # the agent declares it dropped 12-14 (outbox overflow): the watermark moves over them and on
    assert store.advance_ack("rpi4-1", floor=14) == 2999
    assert store.advance_ack("rpi4-1", floor=5) == 2999  # never back
    assert store.acked("rpi4-1") == 2999
    assert store.acked("other") == 0
    # a window at or below the watermark is a duplicate, stored or not (13 was declared dropped)
    assert store.store_windows([window(13)]).duplicates == (("rpi4-1", 13),)
    assert store.count_windows() == 11 + 2985
    assert store.advance_ack("rpi4-2", floor=2**64) == 2**63 - 1  # clamped, not an error


def test_windows_stored_and_acknowledged_in_one_call(store: Store) -> None:
    """Issue 19: a group of batches from many devices is stored and acknowledged in one transaction (the
    ingest's one commit per group); the watermarks are those ``advance_ack`` would give, device by device."""
    store.put_windows([window(s, "rpi4-gap") for s in (1, 2, 4)])
    store.put_windows([window(s, "rpi4-long") for s in range(2, 2500)])
    batch = [
        window(1, "rpi4-a"),
        window(2, "rpi4-a"),
        window(3, "rpi4-gap"),  # closes the gap: 1-4
        window(6, "rpi4-gap"),
        window(1, "rpi4-long"),  # a run longer than one step of the walk
        window(2**63, "rpi4-bad"),  # rejected alone
    ]
    floors = {
        "rpi4-a": 0,
        "rpi4-gap": 0,
        "rpi4-long": 0,
        "rpi4-bad": 0,
        "rpi4-dropped": 40,
        "rpi4-max": 2**64,
    }
    result = store.store_windows(batch, floors)
    assert len(result.new) == 5
    assert [r.seq for r in result.rejected] == [2**63]
    assert dict(result.acked) == {
        "rpi4-a": 2,
        "rpi4-gap": 4,
        "rpi4-long": 2499,
        "rpi4-bad": 0,
        "rpi4-dropped": 40,  # the agent declared 1-40 dropped
        "rpi4-max": 2**63 - 1,  # clamped, not an error
    }
    assert {d: store.acked(d) for d in floors} == dict(result.acked)
    # never back; a device not asked about is left alone
    again = store.store_windows([window(3, "rpi4-a")], {"rpi4-dropped": 5, "rpi4-a": 0, "rpi4-max": 0})
    assert dict(again.acked) == {"rpi4-a": 3, "rpi4-dropped": 40, "rpi4-max": 2**63 - 1}
    assert store.store_windows([window(7, "rpi4-gap")]).acked == ()
    assert store.acked("rpi4-gap") == 4


def test_the_watermark_races_between_replicas(store: Store, open_replica: Callable[[], Store]) -> None:
    stores = [store, open_replica()]
    store.put_windows([window(s) for s in range(1, 201)])
    with ThreadPoolExecutor(4) as pool:
        marks = list(pool.map(lambda i: stores[i % 2].advance_ack("rpi4-1"), range(8)))
    assert set(marks) == {200}
    assert store.acked("rpi4-1") == 200


def test_totals_only_grow_with_new_unflagged_windows(store: Store) -> None:
    store.put_windows([window(1, inferences=100), window(2, inferences=300, dynamic_j=None)])
    store.put_windows([window(2, inferences=999)])  # a duplicate: not counted
    store.put_windows([window(3, flags=("absurd energy",), inferences=5000)])  # flagged: not counted
    store.put_windows(
        [window(1, "jetson-1", profile="jetson", variant_id=V2, inferences=10, labelled=0, correct=0)]
    )
    [rpi4] = store.variant_totals("digits", "rpi4")
    assert (rpi4.windows, rpi4.inferences, rpi4.gross_inferences, rpi4.dynamic_inferences) == (
        2,
        400,
        400,
        100,
    )
    assert math.isclose(rpi4.gross_joules, 2e-4 * 400)
    assert math.isclose(rpi4.dynamic_joules, 5e-5 * 100)
    assert (rpi4.labelled, rpi4.correct) == (400, 380)
    assert [(t.profile, t.variant_id) for t in store.variant_totals()] == [("jetson", V2), ("rpi4", "v" * 64)]
    assert [t.profile for t in store.variant_totals(profile="jetson")] == ["jetson"]
    assert store.variant_totals("audio") == []
    store.put_windows([window(s, inferences=2**62) for s in range(10, 14)])
    [big] = store.variant_totals("digits", "rpi4")
    assert big.inferences == 2**63 - 1  # saturates, never overflows (and never fails a batch)


def test_per_variant_keeps_the_newest_n_of_each(store: Store) -> None:
    store.put_windows([window(s, variant_id=V1) for s in range(1, 6)])
    store.put_windows([window(s, variant_id=V2, device_id="rpi4-2") for s in range(1, 4)])
    store.put_windows([window(6, variant_id=V1, flags=("x",))])
    newest = store.windows(model="digits", per_variant=2)
    assert [(w.variant_id, w.seq) for w in newest] == [(V1, 6), (V1, 5), (V2, 3), (V2, 2)]
    unflagged = store.windows(model="digits", unflagged=True, per_variant=2)
    assert [(w.variant_id, w.seq) for w in unflagged] == [(V1, 5), (V1, 4), (V2, 3), (V2, 2)]
    assert [w.seq for w in store.windows(variant_id=V1, since=145.0)] == [6, 5]  # ended at or after
    assert store.windows(profile="jetson") == []
    assert len(store.windows(limit=3)) == 3


def test_retention_folds_acknowledged_old_windows_into_hours(store: Store) -> None:
    hour = 3600.0 * 1000
    old = [window(s, end=hour + 10.0 * s) for s in range(1, 301)]  # all in hour 1000 (hour + 3000 s at most)
    old[7] = window(8, end=hour + 80.0, flags=("invalid cpu_percent -1",))
    store.put_windows([*old, window(1, "rpi4-9", end=hour + 5.0), window(400, end=9 * hour)])
    before = store.variant_totals()
    store.advance_ack("rpi4-1")
    assert store.prune_windows(older_than=hour + 3000.0) == 299  # rpi4-9 never acknowledged: kept
    assert store.count_windows() == 3
    assert store.variant_totals() == before
    assert sorted((w.device_id, w.seq) for w in store.windows()) == [
        ("rpi4-1", 300),
        ("rpi4-1", 400),
        ("rpi4-9", 1),
    ]
    hours = store.hourly_windows(device_id="rpi4-1")
    assert [(h.hour, h.windows, h.flagged) for h in hours] == [(int(hour), 299, 1)]
    [h] = hours
    assert h.inferences == 200 * 298
    assert math.isclose(h.gross_joules, 2e-4 * 200 * 298)
    assert math.isclose(h.latency_p95_sum / (h.windows - h.flagged), 2e-4)
    assert (h.first_start, h.last_end) == (hour, hour + 2990.0)
    # a pruned window sent again is a duplicate, never stored twice
    assert store.store_windows([window(5, end=hour + 50.0)]).duplicates == (("rpi4-1", 5),)
    store.advance_ack("rpi4-1", floor=399)
    assert store.prune_windows(older_than=hour + 4000.0) == 1  # seq 300, folded into the same hour
    assert [(h.hour, h.windows, h.flagged) for h in store.hourly_windows()] == [(int(hour), 300, 1)]
    assert store.last_window_seq("rpi4-1") == 400


def test_retention_runs_in_batches_until_done(store: Store) -> None:
    store.put_windows([window(s, end=10.0 * s) for s in range(1, 4502)])
    store.advance_ack("rpi4-1")
    assert store.prune_windows(older_than=1e9) == 4501  # more than one batch
    assert store.count_windows() == 0
    assert sum(h.windows for h in store.hourly_windows()) == 4501
    assert store.prune_windows(older_than=1e9) == 0


@pytest.mark.parametrize("threads", [4])
def test_concurrent_ingest_of_overlapping_batches(
    store: Store, open_replica: Callable[[], Store], threads: int
) -> None:
    """Two replicas take the same windows at once (an agent resent to both): each stored exactly once,
    the totals counted once."""
    stores = [store, open_replica()]
    batches = [[window(s, f"rpi4-{d}") for d in range(3) for s in range(1, 101)] for _ in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        counts = list(pool.map(lambda i: stores[i % 2].put_windows(batches[i]), range(threads)))
    assert sum(counts) == 300
    assert store.count_windows() == 300
    [t] = store.variant_totals()
    assert t.windows == 300
    assert t.inferences == 300 * 200
