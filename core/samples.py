"""Sets of distinct samples as bitmaps (bit i = sample i of a variant's bundled scoring split).

Little-endian bit order, as in the wire contract: bit i is byte ``i // 8``, value ``1 << (i % 8)``.
Telemetry carries them as bytes on the wire and as hex in stored records.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["bitmap_from_indices", "count", "indices", "intersect", "union"]


def bitmap_from_indices(items: Iterable[int]) -> bytes:
    chosen = sorted(set(items))
    if not chosen:
        return b""
    out = bytearray(chosen[-1] // 8 + 1)
    for i in chosen:
        out[i // 8] |= 1 << (i % 8)
    return bytes(out)


def union(a: bytes, b: bytes) -> bytes:
    longer, shorter = (a, b) if len(a) >= len(b) else (b, a)
    out = bytearray(longer)
    for i, byte in enumerate(shorter):
        out[i] |= byte
    return bytes(out)


def intersect(a: bytes, b: bytes) -> bytes:
    return bytes(x & y for x, y in zip(a, b, strict=False))


def count(bitmap: bytes) -> int:
    return sum(byte.bit_count() for byte in bitmap)


def indices(bitmap: bytes) -> list[int]:
    return [i * 8 + bit for i, byte in enumerate(bitmap) for bit in range(8) if byte >> bit & 1]
