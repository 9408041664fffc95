"""The store contract, part 4: what replicas share besides records, presence and leases (soft state that
expires). Every test runs on SQLite and on a real PostgreSQL (see conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from edgefleet.orchestrator.store import Lease, Presence, Store


def _at(device_id: str, replica: str, seen: float, ttl: float = 10.0, **kw: object) -> Presence:
    return Presence(device_id, replica, seen, seen + ttl, **kw)  # type: ignore[arg-type]


def test_presence_is_upserted_listed_and_expires(store: Store) -> None:
    assert store.presence(0.0) == []
    store.touch_presence(
        [_at("d1", "a", 100.0), _at("d2", "a", 100.0, conditions=(("disk.full", "x", 90.0),))]
    )
    store.touch_presence([_at("d3", "b", 101.0)])
    assert [p.device_id for p in store.presence(105.0)] == ["d1", "d2", "d3"]
    assert store.presence(105.0, ["d2"]) == [_at("d2", "a", 100.0, conditions=(("disk.full", "x", 90.0),))]
    assert [p.device_id for p in store.presence(105.0, replica="b")] == ["d3"]
    assert [p.device_id for p in store.presence(110.5)] == ["d3"]  # d1 and d2 expired at 110
    store.touch_presence([_at("d1", "a", 111.0)])  # a refresh brings it back
    assert [p.device_id for p in store.presence(115.0, ["d1", "d2"])] == ["d1"]


def test_presence_goes_to_the_newest_view(store: Store, open_replica: Callable[[], Store]) -> None:
    other = open_replica()
    store.touch_presence([_at("d1", "a", 100.0)])
    other.touch_presence([_at("d1", "b", 105.0)])  # the device moved to replica b
    store.touch_presence([_at("d1", "a", 103.0)])  # a's late flush of an older view does not take it back
    [p] = store.presence(106.0)
    assert (p.replica, p.last_seen) == ("b", 105.0)
    assert store.drop_presence("a", ["d1"]) == 0  # a's stream ending does not remove b's row
    other.touch_presence([_at("d2", "b", 105.0), _at("d3", "b", 105.0), _at("d4", "c", 105.0)])
    assert other.drop_presence("b", ["d1"]) == 1
    assert other.drop_presence("b") == 2  # all of b's rows (a replica stopping)
    assert [p.device_id for p in store.presence(106.0)] == ["d4"]


def test_a_lease_has_one_holder_until_it_expires_or_is_released(store: Store) -> None:
    assert store.acquire_lease("rollout/r1", "a", 100.0, 10.0)
    assert store.acquire_lease("rollout/r1", "a", 105.0, 10.0)  # renewed: until 115
    assert not store.acquire_lease("rollout/r1", "b", 112.0, 10.0)
    assert store.leases(112.0) == [Lease("rollout/r1", "a", 100.0, 115.0)]  # held since the first take
    assert store.acquire_lease("rollout/r1", "b", 115.0, 10.0)  # expired: b takes it over
    assert store.leases(116.0) == [Lease("rollout/r1", "b", 115.0, 125.0)]
    assert not store.release_lease("rollout/r1", "a")
    assert store.release_lease("rollout/r1", "b")
    assert store.acquire_lease("rollout/r1", "a", 116.0, 10.0)  # released: free at once
    store.acquire_lease("replica/a", "a", 116.0, 5.0)
    store.acquire_lease("Replica/x", "x", 116.0, 5.0)
    assert [x.name for x in store.leases(117.0, "replica/")] == ["replica/a"]  # case and prefix exact
    assert [x.name for x in store.leases(122.0)] == ["rollout/r1"]  # the others expired at 121


def test_of_replicas_racing_for_a_free_lease_exactly_one_wins(
    store: Store, open_replica: Callable[[], Store]
) -> None:
    replicas = [store, open_replica(), open_replica(), open_replica()]
    for round_ in range(5):
        barrier = threading.Barrier(len(replicas))
        name = f"rollout/r{round_}"

        def take(i: int, name: str = name, barrier: threading.Barrier = barrier) -> bool:
            barrier.wait()
            return replicas[i].acquire_lease(name, f"replica-{i}", 100.0, 10.0)

        with ThreadPoolExecutor(len(replicas)) as pool:
            won = list(pool.map(take, range(len(replicas))))
        assert sum(won) == 1
        [lease] = store.leases(101.0, name)
        assert lease.holder == f"replica-{won.index(True)}"
