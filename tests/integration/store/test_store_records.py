"""The store contract, part 2: devices and rollouts, versioned (compare-and-swap and atomic updates).

Two replicas (two processes, or two store objects) on one database never lose each other's writes, and
a read never waits behind a writer. Every test runs on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import enum
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from edgefleet.core.errors import Aborted, InvalidArgument, NotFound
from edgefleet.orchestrator.fleet.model import DeviceRecord
from edgefleet.orchestrator.store import Store
from tests.helpers.records import device, rollout
from tests.helpers.store_workers import bump_many_with_update, bump_with_cas, bump_with_update


def test_devices_are_versioned_and_listed(store: Store) -> None:
    store.put_device(device("rpi4-1"))
    store.put_device(device("jetson-1", "jetson"))
    stored = store.get_device("rpi4-1")
    assert stored == device("rpi4-1")
    assert stored is not None
    assert stored.version == 1
    store.put_device(replace(stored, phase="downloading", bytes_done=10))
    again = store.get_device("rpi4-1")
    assert again is not None
    assert again.version == 2
    assert again.phase == "downloading"
    assert [d.device_id for d in store.list_devices()] == ["jetson-1", "rpi4-1"]
    assert [(d.device_id, d.version) for d in store.list_devices("rpi4")] == [("rpi4-1", 2)]
    assert store.get_device("nope") is None


def test_a_stale_put_from_another_replica_is_aborted(store: Store, open_replica: Callable[[], Store]) -> None:
    other = open_replica()
    store.put_device(device())
    mine, theirs = store.get_device("rpi4-1"), other.get_device("rpi4-1")
    assert mine is not None
    assert theirs is not None
    other.put_device(replace(theirs, phase="failed", phase_reason="disk full"))
    with pytest.raises(
        Aborted, match=r"changed by another writer \(stored version 2; .* based on version 1\)"
    ):
        store.put_device(replace(mine, name="renamed"))
    kept = store.get_device("rpi4-1")
    assert kept is not None
    assert kept.phase == "failed"
    assert kept.name == "rpi4-1"
    # a new record (version 0) where one exists: aborted too
    with pytest.raises(Aborted):
        other.put_device(device())


def test_a_thread_may_chain_its_own_writes_but_not_over_another_writer(store: Store) -> None:
    r = rollout()
    store.put_rollout(r)  # version 0 -> 1
    store.put_rollout(replace(r, wave=1))  # derived from the same record: this thread's own write, allowed
    assert store.get_rollout("ro-1") == replace(r, wave=1)
    # another thread writes in between: the chain is broken
    other = threading.Thread(
        target=lambda: store.update_rollout("ro-1", lambda x: replace(x, state="paused"))
    )
    other.start()
    other.join()
    with pytest.raises(Aborted):
        store.put_rollout(replace(r, wave=2))
    current = store.get_rollout("ro-1")
    assert current is not None
    assert current.state == "paused"
    assert current.wave == 1
    assert current.version == 3


def test_update_device_is_atomic_and_checks_its_input(store: Store) -> None:
    store.put_device(device())
    updated = store.update_device("rpi4-1", lambda d: replace(d, labels={**d.labels, "rack": "7"}))
    assert updated.version == 2
    assert updated.labels == {"site": "lab", "rack": "7"}
    assert store.get_device("rpi4-1") == updated
    with pytest.raises(NotFound, match="no device"):
        store.update_device("nope", lambda d: d)
    with pytest.raises(InvalidArgument, match="may not change its id"):
        store.update_device("rpi4-1", lambda d: replace(d, device_id="other"))

    def boom(d: DeviceRecord) -> DeviceRecord:
        raise RuntimeError("the function failed")

    with pytest.raises(RuntimeError):
        store.update_device("rpi4-1", boom)
    after = store.get_device("rpi4-1")
    assert after is not None
    assert after.version == 2


def test_update_devices_applies_a_group_in_order_and_refuses_items_alone(store: Store) -> None:
    for name in ("rpi4-1", "rpi4-2", "rpi4-3"):
        store.put_device(device(name))

    def rack(value: str) -> Callable[[DeviceRecord], DeviceRecord]:
        return lambda d: replace(d, labels={**d.labels, "rack": value}, bytes_done=d.bytes_done + 1)

    def refuse(d: DeviceRecord) -> DeviceRecord:
        raise InvalidArgument("this update is refused")

    results = store.update_devices(
        [
            ("rpi4-2", rack("a")),
            ("nope", rack("x")),
            ("rpi4-1", rack("b")),
            ("rpi4-2", rack("c")),  # after the first update of rpi4-2, in the same transaction
            ("rpi4-3", refuse),
            ("rpi4-1", lambda d: replace(d, device_id="other")),
        ]
    )
    first, missing, one, second, refused, renamed = results
    assert isinstance(first, DeviceRecord)
    assert (first.labels["rack"], first.version) == ("a", 2)
    assert isinstance(missing, NotFound)
    assert "no device 'nope'" in missing.message
    assert isinstance(second, DeviceRecord)
    assert (second.labels["rack"], second.bytes_done, second.version) == ("c", 2, 3)
    assert isinstance(one, DeviceRecord)
    assert isinstance(refused, InvalidArgument)
    assert isinstance(renamed, InvalidArgument)
    assert "may not change its id" in renamed.message
    assert store.get_device("rpi4-2") == second
    assert store.get_device("rpi4-1") == one  # the refused rename left it as the group's first update did
    untouched = store.get_device("rpi4-3")
    assert untouched is not None
    assert untouched.version == 1
    assert store.update_devices([]) == []
    # read many at once: unknown ids left out, several IN lists when there are many ids
    assert sorted(store.get_devices(["rpi4-3", "nope", "rpi4-1"])) == ["rpi4-1", "rpi4-3"]
    many = [f"bulk-{i:04d}" for i in range(1200)]
    for name in many:
        store.put_device(device(name))
    assert sorted(store.get_devices([*many, "nope"])) == many
    bumped = store.update_devices([(name, rack("z")) for name in many])
    assert all(isinstance(d, DeviceRecord) and d.version == 2 for d in bumped)


def test_update_device_from_racing_threads_loses_nothing(
    store: Store, open_replica: Callable[[], Store]
) -> None:
    stores = [store, store, open_replica(), open_replica()]
    store.put_device(device())
    with ThreadPoolExecutor(len(stores)) as pool:
        list(pool.map(lambda s: [s.update_device("rpi4-1", _bump) for _ in range(25)], stores))
    final = store.get_device("rpi4-1")
    assert final is not None
    assert final.bytes_done == 100
    assert final.version == 101


@pytest.mark.parametrize("worker", [bump_with_update, bump_with_cas])
def test_two_processes_never_lose_each_others_writes(
    store: Store, store_url: str, worker: Callable[[str, str, int], int]
) -> None:
    store.put_device(device())
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = [pool.apply_async(worker, (store_url, "rpi4-1", 40)) for _ in range(2)]
        for r in results:
            r.get(timeout=240)
    final = store.get_device("rpi4-1")
    assert final is not None
    assert final.bytes_done == 80
    assert final.version == 81


def test_a_read_never_waits_behind_a_writer(store: Store) -> None:
    """A write transaction is held open (its function blocks): reads of the same row still answer, with
    the committed state. Before, one connection behind one lock made a read wait for the writer."""
    store.put_device(device())
    inside, release = threading.Event(), threading.Event()

    def slow(d: DeviceRecord) -> DeviceRecord:
        inside.set()
        release.wait(120)
        return replace(d, phase="verifying")

    writer = threading.Thread(target=store.update_device, args=("rpi4-1", slow))
    writer.start()
    try:
        assert inside.wait(60)
        seen: list[DeviceRecord | None] = []
        reader = threading.Thread(target=lambda: seen.append(store.get_device("rpi4-1")))
        reader.start()
        reader.join(60)  # a hang guard: the read must finish while the writer still holds its transaction
        assert not reader.is_alive()
        assert writer.is_alive()
        assert seen[0] is not None
        assert seen[0].phase == ""
        assert seen[0].version == 1
        assert [d.phase for d in store.list_devices()] == [""]
    finally:
        release.set()
        writer.join(60)
    after = store.get_device("rpi4-1")
    assert after is not None
    assert after.phase == "verifying"
    assert after.version == 2


def test_rollouts_versioned_listed_and_updated(store: Store, open_replica: Callable[[], Store]) -> None:
    store.put_rollout(rollout("ro-1"))
    store.put_rollout(rollout("ro-2", state="succeeded"))
    store.put_rollout(rollout("ro-3", model="audio", state="paused"))
    assert [r.rollout_id for r in store.list_rollouts("digits")] == ["ro-1", "ro-2"]
    assert [r.rollout_id for r in store.list_rollouts(states=("running", "paused"))] == ["ro-1", "ro-3"]
    assert store.get_rollout("nope") is None
    first = store.get_rollout("ro-1")
    assert first == rollout("ro-1")
    assert first is not None
    assert first.version == 1
    other = open_replica()
    moved = other.update_rollout("ro-1", lambda r: replace(r, wave=1, wave_started=5.0))
    assert moved.version == 2
    assert store.get_rollout("ro-1") == moved
    with pytest.raises(Aborted):
        store.put_rollout(replace(first, state="aborted"))  # based on version 1: the wave move would be lost
    with pytest.raises(NotFound, match="no rollout"):
        store.update_rollout("nope", lambda r: r)


class _State(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"


def test_states_given_as_str_enum_members(store: Store) -> None:
    """Services pass state enums (str subclasses): stored and matched by value on both dialects."""
    store.put_rollout(rollout("ro-1", state=_State.PAUSED))  # type: ignore[arg-type]
    assert [r.rollout_id for r in store.list_rollouts(states=(_State.PAUSED,))] == ["ro-1"]
    assert store.list_rollouts(states=(_State.RUNNING,)) == []


def _bump(d: DeviceRecord) -> DeviceRecord:
    return replace(d, bytes_done=d.bytes_done + 1)


def test_grouped_updates_from_two_processes_in_any_order_neither_deadlock_nor_lose_writes(
    store: Store, store_url: str
) -> None:
    names = [f"rpi4-{i}" for i in range(8)]
    for name in names:
        store.put_device(device(name))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = [pool.apply_async(bump_many_with_update, (store_url, names, 20)) for _ in range(2)]
        for r in results:
            assert r.get(timeout=240) == 20
    for name in names:
        final = store.get_device(name)
        assert final is not None
        assert final.bytes_done == 80  # 2 processes x 20 groups x 2 updates each
        assert final.version == 81
