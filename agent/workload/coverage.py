"""Which bundled samples a window scored, and which it got right: accuracy over DISTINCT samples.

Replay and the canary go over the variant's bundled samples (the family's scoring split) again and again; a
window that scores sample 7 three times has scored one sample, not three. Bit i of ``scored`` is set when
sample i was scored at least once in the window; bit i of ``correct`` when it was classified right every
time it was scored there (a model that disagrees with itself on a sample does not count it right). The
wire format is little-endian bit order: bit i is byte i // 8, value 1 << (i % 8) (``pack_bits``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["NO_COVERAGE", "Coverage", "SampleCoverage", "pack_bits", "unpack_bits"]


def pack_bits(bits: npt.ArrayLike) -> bytes:
    """Booleans -> bytes, little-endian bit order (empty for no bits)."""
    arr = np.asarray(bits, dtype=bool).reshape(-1)
    return np.packbits(arr, bitorder="little").tobytes() if arr.size else b""


def unpack_bits(data: bytes, n: int) -> npt.NDArray[np.bool_]:
    """The first ``n`` bits of ``data`` (little-endian bit order) as booleans; missing bytes are zeros."""
    raw = np.frombuffer(data, dtype=np.uint8)
    bits = np.unpackbits(raw, bitorder="little").astype(bool)
    if bits.size < n:
        bits = np.concatenate([bits, np.zeros(n - bits.size, dtype=bool)])
    return bits[:n]


@dataclass(frozen=True, slots=True)
class Coverage:
    """One window's distinct samples of one variant's bundle."""

    #: The variant whose bundled samples the bits index ("" when nothing was scored).
    variant_id: str = ""
    scored: bytes = b""
    correct: bytes = b""

    @property
    def scored_count(self) -> int:
        return int(np.unpackbits(np.frombuffer(self.scored, dtype=np.uint8)).sum())

    @property
    def correct_count(self) -> int:
        return int(np.unpackbits(np.frombuffer(self.correct, dtype=np.uint8)).sum())


#: A window that scored no bundled sample.
NO_COVERAGE = Coverage()


class SampleCoverage:
    """Accumulates the current window's coverage (callers hold the stats lock)."""

    def __init__(self) -> None:
        self._variant = ""
        self._scored: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._right: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)

    def mark(self, variant_id: str, size: int, indices: npt.ArrayLike, right: npt.ArrayLike) -> None:
        """Samples ``indices`` of a ``size``-sample bundle were scored, ``right`` says which were right. A
        different variant (or bundle size) starts over: bits index one bundle only."""
        if variant_id != self._variant or size != self._scored.size:
            self._variant = variant_id
            self._scored = np.zeros(size, dtype=bool)
            self._right = np.zeros(size, dtype=bool)
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        ok = np.asarray(right, dtype=bool).reshape(-1)
        if idx.size == 0:
            return
        new = idx[~self._scored[idx]]
        self._right[new] = True  # first scoring in this window: right until proven wrong
        self._scored[idx] = True
        np.logical_and.at(self._right, idx, ok)

    def take(self) -> Coverage:
        """The window's coverage; the next window starts empty (same variant, same size)."""
        if not self._scored.any():
            return NO_COVERAGE
        out = Coverage(self._variant, pack_bits(self._scored), pack_bits(self._right & self._scored))
        self._scored = np.zeros_like(self._scored)
        self._right = np.zeros_like(self._right)
        return out
