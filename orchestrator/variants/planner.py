"""Peak activation memory: a greedy-by-size planner over tensor lifetimes.

The same algorithm as TFLite Micro's ``GreedyMemoryPlanner``: buffers sorted
largest first, each placed at the lowest offset that does not overlap a placed
buffer whose lifetime overlaps its own; the arena is max(offset + size).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Buffer", "Plan", "max_live_bytes", "plan_greedy"]


@dataclass(frozen=True, slots=True)
class Buffer:
    """A tensor's bytes, live from operator ``first`` to operator ``last`` (inclusive)."""

    name: str
    size: int
    first: int
    last: int

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass(frozen=True, slots=True)
class Plan:
    arena_bytes: int
    offsets: dict[str, int]


def plan_greedy(buffers: Sequence[Buffer]) -> Plan:
    """Place every buffer; ties in size keep the earlier-first order (deterministic)."""
    order = sorted(buffers, key=lambda b: (-b.size, b.first, b.name))
    placed: list[tuple[Buffer, int]] = []
    offsets: dict[str, int] = {}
    arena = 0
    for buf in order:
        busy = sorted(
            (off, off + other.size) for other, off in placed if other.overlaps_in_time(buf) and other.size
        )
        offset = 0
        for start, end in busy:
            if offset + buf.size <= start:
                break
            offset = max(offset, end)
        placed.append((buf, offset))
        offsets[buf.name] = offset
        arena = max(arena, offset + buf.size)
    return Plan(arena_bytes=arena, offsets=offsets)


def max_live_bytes(buffers: Sequence[Buffer]) -> int:
    """Lower bound on any plan: the largest sum of sizes live at one operator."""
    if not buffers:
        return 0
    last = max(b.last for b in buffers)
    return max(sum(b.size for b in buffers if b.first <= step <= b.last) for step in range(last + 1))
