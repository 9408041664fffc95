"""The local socket's frames (``local_socket.py`` serves them, ``edgefleet.agent.local_client`` sends
them): a 4-byte little-endian length, then that many bytes, the first of which is a request's method or a
reply's status. Nothing here imports more than the standard library."""

from __future__ import annotations

import socket
import struct

__all__ = [
    "FEEDBACK",
    "MAX_FRAME_BYTES",
    "MAX_INPUT_BYTES",
    "PREDICT",
    "FrameError",
    "read_frame",
    "write_frame",
]

PREDICT, FEEDBACK = 1, 2
#: The largest input tensor either transport takes (gRPC's receive limit is set from it too).
MAX_INPUT_BYTES = 16 * 1024 * 1024
MAX_FRAME_BYTES = MAX_INPUT_BYTES + 4096
_HEADER = struct.Struct("<I")


class FrameError(Exception):
    """A frame's length is outside 1..MAX_FRAME_BYTES: the stream cannot be followed past it."""


def _recv_exactly(conn: socket.socket, n: int) -> bytes | None:
    data = conn.recv(n, socket.MSG_WAITALL)
    return data if len(data) == n else None


def read_frame(conn: socket.socket) -> bytes | None:
    """The next frame's bytes (its kind byte first), or None when the peer closed before a whole frame."""
    header = _recv_exactly(conn, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if not 1 <= size <= MAX_FRAME_BYTES:
        raise FrameError(f"a frame of {size} bytes: frames are 1 to {MAX_FRAME_BYTES} bytes")
    return _recv_exactly(conn, size)


def write_frame(conn: socket.socket, kind: int, body: bytes) -> None:
    conn.sendall(_HEADER.pack(len(body) + 1) + bytes((kind,)) + body)
