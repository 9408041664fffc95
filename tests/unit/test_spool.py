"""The telemetry spool (the disk outbox, and memory while the disk refuses writes) and delivery's handling of
acknowledgements. The disk refuses for real: RLIMIT_FSIZE makes the kernel fail SQLite's write() with
EFBIG (what a quota or a failing device looks like to SQLite: SQLITE_IOERR_WRITE), with no privileges
needed; the agent-level test in tests/integration/test_agent_disk.py fills a real tmpfs (ENOSPC)."""

from __future__ import annotations

import asyncio
import resource
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from edgefleet.agent.diskio import DiskExecutor
from edgefleet.agent.telemetry.delivery import Delivery
from edgefleet.agent.telemetry.outbox import Outbox
from edgefleet.agent.telemetry.spool import Spool, SpoolState


@contextmanager
def files_cannot_grow(directory: Path) -> Iterator[None]:
    """No file of this process may grow past its current largest size in ``directory`` (the kernel
    refuses the write with EFBIG; SIGXFSZ ignored so the process lives on)."""
    largest = max(p.stat().st_size for p in directory.iterdir() if p.is_file())
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (largest, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def payload(seq: int) -> bytes:
    return f"window {seq}".encode() * 20


def seqs(rows: list[tuple[int, bytes]]) -> list[int]:
    return [s for s, _ in rows]


def test_a_refusing_disk_keeps_windows_in_memory_bounded_and_recovers(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path / "o.sqlite", max_windows=1000, memory_windows=3)
    for _ in range(2):
        spool.append(payload)
    with files_cannot_grow(tmp_path):
        states = [spool.append(payload)[1] for _ in range(5)]
    last = states[-1]
    assert last.refused  # the condition, with SQLite's words
    assert "refused the write" in last.refused
    assert (last.last_seq, last.in_memory, last.dropped, last.backlog) == (7, 3, 2, 5)
    assert [s.dropped for s in states] == [0, 0, 0, 1, 2]  # bounded: the oldest memory windows go first
    assert seqs(spool.pending(after=0, limit=100)) == [1, 2, 5, 6, 7]  # disk first, then memory
    assert seqs(spool.pending(after=5, limit=1)) == [6]
    # space returns: the next write moves memory to disk, the condition clears, the drops are persisted
    seq, state = spool.append(payload)
    assert seq == 8
    assert state == SpoolState(last_seq=8, backlog=6, dropped=2, in_memory=0, refused="")
    spool.close()
    reopened = Outbox(tmp_path / "o.sqlite")
    assert seqs(reopened.pending()) == [1, 2, 5, 6, 7, 8]
    assert reopened.pending()[-2] == (7, payload(7))
    assert (reopened.dropped, reopened.last_seq) == (2, 8)
    reopened.close()


def test_acks_reach_memory_and_an_ack_past_the_last_sequence_is_never_reused(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path / "o.sqlite", max_windows=1000, memory_windows=10)
    spool.append(payload)
    with files_cannot_grow(tmp_path):
        spool.append(payload)
        spool.append(payload)
        state = spool.ack(2)  # windows 1 (disk) and 2 (memory) stored by the orchestrator
    assert seqs(spool.pending(after=0, limit=10)) == [3]
    assert state.backlog == 1
    # the orchestrator holds windows up to 10 (made in memory before a restart that lost them)
    spool.ack(10)
    assert spool.append(payload)[0] == 11
    spool.close()
    again = Spool.open(tmp_path / "o.sqlite", max_windows=1000, memory_windows=10)
    assert again.append(payload)[0] == 12
    assert seqs(again.pending(after=0, limit=10)) == [11, 12]
    again.close()


async def test_an_ack_before_any_batch_means_those_windows_are_never_sent(tmp_path: Path) -> None:
    disk = DiskExecutor()
    spool = await disk.run(Spool.open, tmp_path / "o.sqlite", max_windows=1000, memory_windows=10)
    for _ in range(5):
        await disk.run(spool.append, payload)
    states: list[SpoolState] = []
    delivery = Delivery(spool, disk, states.append)
    task = asyncio.create_task(delivery.run())
    sent: list[list[bytes]] = []
    try:
        delivery.ack(3)  # the orchestrator's answer to the Hello: it stored 1-3 already
        delivery.attach(lambda batch, _dropped_through: sent.append(list(batch)))
        for _ in range(200):
            if sent and states:
                break
            await asyncio.sleep(0.01)
        assert sent == [[payload(4), payload(5)]]
        assert states[-1].backlog == 2  # 1-3 deleted from the outbox
        delivery.ack(5)
        await disk.run(spool.append, payload)
        delivery.wake()
        for _ in range(200):
            if len(sent) == 2:
                break
            await asyncio.sleep(0.01)
        assert sent[1] == [payload(6)]
    finally:
        task.cancel()
        await disk.run(spool.close)
        disk.close()


def test_after_an_overflow_batches_say_which_windows_were_dropped(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path / "o.sqlite", max_windows=5, memory_windows=10)
    for _ in range(8):
        spool.append(payload)  # the outbox keeps 4-8: windows 1-3 dropped
    rows, dropped_through = spool.batch(after=0, limit=2)
    assert (seqs(rows), dropped_through) == ([4, 5], 5)  # 1-3 never sent, never will be
    rows, dropped_through = spool.batch(after=5, limit=100)
    assert (seqs(rows), dropped_through) == ([6, 7, 8], 8)
    spool.close()


def test_memory_drops_leave_gaps_the_batch_covers_only_once_it_is_past_them(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path / "o.sqlite", max_windows=1000, memory_windows=2)
    for _ in range(2):
        spool.append(payload)
    with files_cannot_grow(tmp_path):
        for _ in range(4):
            spool.append(payload)  # 3-6 in memory, bounded at 2: 3 and 4 dropped
        rows, dropped_through = spool.batch(after=0, limit=2)
        assert (seqs(rows), dropped_through) == ([1, 2], 4)
        rows, dropped_through = spool.batch(after=0, limit=1)
        assert (seqs(rows), dropped_through) == ([1], 1)  # window 2 is still to come: not dropped
        rows, dropped_through = spool.batch(after=2, limit=10)
        assert (seqs(rows), dropped_through) == ([5, 6], 6)
    spool.close()


async def test_delivery_sends_the_dropped_through_sequence_and_an_ack_past_the_drops_clears_all(
    tmp_path: Path,
) -> None:
    disk = DiskExecutor()
    spool = await disk.run(Spool.open, tmp_path / "o.sqlite", max_windows=3, memory_windows=10)
    for _ in range(6):
        await disk.run(spool.append, payload)  # 1-3 dropped by the outbox bound
    states: list[SpoolState] = []
    delivery = Delivery(spool, disk, states.append)
    task = asyncio.create_task(delivery.run())
    sent: list[tuple[list[bytes], int]] = []
    try:
        delivery.attach(lambda batch, dropped_through: sent.append((list(batch), dropped_through)))
        for _ in range(200):
            if sent:
                break
            await asyncio.sleep(0.01)
        assert sent == [([payload(4), payload(5), payload(6)], 6)]
        assert (await disk.run(spool.state)).dropped == 3
        delivery.ack(6)  # the orchestrator stored 4-6 and counts 1-3 as dropped: one ack up to 6
        for _ in range(200):
            if states and states[-1].backlog == 0:
                break
            await asyncio.sleep(0.01)
        assert states[-1].backlog == 0
        assert await disk.run(spool.pending, 0, 100) == []
    finally:
        task.cancel()
        await disk.run(spool.close)
        disk.close()
