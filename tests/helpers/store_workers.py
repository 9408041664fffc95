"""Work for other processes racing on one store (run with multiprocessing's spawn context)."""

from __future__ import annotations

from dataclasses import replace

from edgefleet.core.errors import Aborted
from edgefleet.orchestrator.fleet.model import DeviceRecord
from edgefleet.orchestrator.store import open_store


def bump_with_update(url: str, device_id: str, times: int) -> int:
    """``times`` atomic read-modify-writes of ``bytes_done``; returns how many."""
    store = open_store(url, busy_timeout_s=60.0)
    try:
        for _ in range(times):
            store.update_device(device_id, lambda d: replace(d, bytes_done=d.bytes_done + 1))
    finally:
        store.close()
    return times


def bump_with_cas(url: str, device_id: str, times: int) -> int:
    """``times`` get + compare-and-swap puts of ``bytes_done``, retried on ABORTED; returns the retries."""
    store = open_store(url, busy_timeout_s=60.0)
    retries = 0
    try:
        for _ in range(times):
            while True:
                current = store.get_device(device_id)
                assert current is not None
                try:
                    store.put_device(replace(current, bytes_done=current.bytes_done + 1))
                    break
                except Aborted:
                    retries += 1
    finally:
        store.close()
    return retries


def bump_many_with_update(url: str, device_ids: list[str], times: int) -> int:
    """``times`` grouped updates, each bumping every device (twice: two updates of one device in one group
    apply in turn), the group in a different order each time; returns how many groups."""
    import random

    store = open_store(url, busy_timeout_s=60.0)
    rng = random.Random(len(device_ids) * times)
    try:
        for _ in range(times):
            ids = [*device_ids, *device_ids]
            rng.shuffle(ids)
            results = store.update_devices([(d, _bump) for d in ids])
            assert all(not isinstance(r, Exception) for r in results), results
    finally:
        store.close()
    return times


def _bump(d: DeviceRecord) -> DeviceRecord:
    return replace(d, bytes_done=d.bytes_done + 1)
