"""Where closed windows wait for their acknowledgement: the disk outbox, and memory while the disk refuses
writes (full, over quota, failing).

While the disk refuses, windows stay in memory (bounded: the oldest are dropped and counted) and are
still delivered; every later write tries the disk again, and the first that succeeds moves the memory
windows to disk in one transaction: the agent recovers by itself when space returns. Every method runs
on the agent's disk thread and returns a ``SpoolState`` snapshot for the event loop.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

from edgefleet.agent.telemetry.outbox import Encoder, Outbox
from edgefleet.core.errors import ResourceExhausted

__all__ = ["Spool", "SpoolState"]


@dataclass(frozen=True, slots=True)
class SpoolState:
    #: Highest sequence given to a window.
    last_seq: int = 0
    #: Windows not acknowledged yet (disk and memory).
    backlog: int = 0
    #: Windows dropped since the data directory was created (persisted ones plus memory drops not yet
    #: written down); only grows.
    dropped: int = 0
    #: Windows held only in memory.
    in_memory: int = 0
    #: Why the disk refuses writes ("" while it takes them).
    refused: str = ""


class Spool:
    def __init__(self, outbox: Outbox, *, memory_windows: int = 1000) -> None:
        self._outbox = outbox
        self._memory: deque[tuple[int, bytes]] = deque()
        self._memory_max = max(1, memory_windows)
        self._memory_dropped = 0
        self._refused = ""
        self._last_seq = outbox.last_seq
        #: An acknowledgement the disk could not record yet (applied with the next write that works).
        self._ack_owed = 0

    @classmethod
    def open(cls, path: Path, *, max_windows: int, memory_windows: int) -> Spool:
        return cls(Outbox(path, max_windows=max_windows), memory_windows=memory_windows)

    def state(self) -> SpoolState:
        return SpoolState(
            last_seq=self._last_seq,
            backlog=self._outbox.backlog(after=self._ack_owed) + len(self._memory),
            dropped=self._outbox.dropped + self._memory_dropped,
            in_memory=len(self._memory),
            refused=self._refused,
        )

    def append(self, encode: Encoder) -> tuple[int, SpoolState]:
        """Store one window (disk first, memory when the disk refuses); its sequence and the new state."""
        seq = self._last_seq + 1
        self._memory.append((seq, encode(seq)))
        self._last_seq = seq
        self._drain()
        while len(self._memory) > self._memory_max:
            self._memory.popleft()
            self._memory_dropped += 1
        return seq, self.state()

    def retry(self) -> SpoolState:
        """Try the disk again with what memory holds (the periodic recovery check)."""
        self._drain()
        return self.state()

    def _drain(self) -> None:
        try:
            if self._ack_owed:
                self._outbox.ack(self._ack_owed)
                self._ack_owed = 0
            if self._memory or self._memory_dropped:
                self._outbox.put(list(self._memory), dropped=self._memory_dropped)
        except ResourceExhausted as exc:
            self._refused = exc.message
            return
        self._memory.clear()
        self._memory_dropped = 0
        self._refused = ""

    def pending(self, after: int, limit: int) -> list[tuple[int, bytes]]:
        """Windows after ``after`` in sequence order: the disk's first, then memory's (always newer)."""
        after = max(after, self._ack_owed)  # acknowledged, though the disk could not delete them yet
        rows = self._outbox.pending(after=after, limit=limit)
        if len(rows) < limit:
            rows += [item for item in self._memory if item[0] > after][: limit - len(rows)]
        return rows

    def batch(self, after: int, limit: int) -> tuple[list[tuple[int, bytes]], int]:
        """The next batch to send (``pending``) and its dropped-through sequence: the sequence before the
        first window still held after the batch (or the last sequence given, when none is). Every window up
        to it that is in neither this batch nor an earlier one is gone for good: dropped (the outbox bound,
        the memory bound) or acknowledged. Sequences are given in order and windows sent in order, so the
        gaps below it can only be such windows."""
        rows = self.pending(after, limit + 1)
        following = rows[limit][0] if len(rows) > limit else self._last_seq + 1
        return rows[:limit], following - 1

    def ack(self, up_to: int) -> SpoolState:
        """The orchestrator stored everything up to ``up_to``: forget it (disk and memory)."""
        while self._memory and self._memory[0][0] <= up_to:
            self._memory.popleft()
        self._last_seq = max(self._last_seq, up_to)
        try:
            self._outbox.ack(up_to)
        except ResourceExhausted as exc:  # recorded with the next write that works; resent at worst
            self._refused = exc.message
            self._ack_owed = max(self._ack_owed, up_to)
        return self.state()

    def close(self) -> None:
        self._outbox.close()
