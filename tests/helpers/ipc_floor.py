"""Round trips timed by a client in another process, and the floors beside them (issue 19 item 2).

The client (``CLIENT``, run with this interpreter) sends the same serialized request N times, one at a
time, and prints each round trip in seconds. It never parses the replies, so its own cost is the same for
every server: the agent's Inference API (``grpc`` mode, the real Predict method), the agent's local socket
(``local`` mode: Predict in framed protobuf), a minimal grpc.aio unary echo (the gRPC floor: no edgefleet
code) and a blocking unix-socket echo (``unix`` mode, length-prefixed frames; the IPC floor of this
machine).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc

__all__ = ["CLIENT", "ECHO_METHOD", "echo_server", "round_trips", "unix_echo"]

ECHO_METHOD = "/floor.Echo/Echo"

CLIENT = r"""
import socket, struct, sys, time
mode, address, method, n, warmup = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
payload = sys.stdin.buffer.read()
times = []
if mode == "grpc":
    import grpc
    channel = grpc.insecure_channel(address)
    call = channel.unary_unary(method)  # bytes in, bytes out
    for i in range(warmup + n):
        t0 = time.perf_counter()
        call(payload, timeout=10)
        times.append(time.perf_counter() - t0)
else:  # "unix": the echo's frames; "local": the agent's local socket (a method byte first, Predict)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(address)
    body = (b"\x01" if mode == "local" else b"") + payload
    frame = struct.pack("<I", len(body)) + body
    for i in range(warmup + n):
        t0 = time.perf_counter()
        s.sendall(frame)
        size = struct.unpack("<I", s.recv(4, socket.MSG_WAITALL))[0]
        reply = s.recv(size, socket.MSG_WAITALL)
        times.append(time.perf_counter() - t0)
        if mode == "local" and reply[0] != 0:  # a refusal is not a round trip to time
            sys.exit("local socket refused: " + reply[1:].decode())
print(" ".join(f"{t:.9f}" for t in times[warmup:]))
"""


async def round_trips(
    mode: str, address: str, method: str, payload: bytes, n: int, warmup: int = 200
) -> list[float]:
    """Seconds per round trip, from a client process of its own (the caller's event loop keeps serving)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLIENT,
        mode,
        address,
        method,
        str(n),
        str(warmup),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(payload)
    assert proc.returncode == 0, err.decode()[-2000:]
    times = [float(v) for v in out.split()]
    assert len(times) == n, (len(times), n, err.decode()[-2000:])  # every call timed, none lost
    return times


@contextmanager
def echo_server(listen: str) -> Iterator[tuple[grpc.aio.Server, str]]:
    """A grpc.aio server with one unary method that answers the request's bytes (start it with
    ``await server.start()``; the address is known at once)."""

    async def echo(request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        return request

    server = grpc.aio.server()
    handler = grpc.method_handlers_generic_handler(
        ECHO_METHOD.split("/")[1], {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port(listen)
    yield server, listen if listen.startswith("unix:") else f"{listen.rpartition(':')[0]}:{port}"


@contextmanager
def unix_echo(path: Path) -> Iterator[str]:
    """A blocking unix-socket echo on a thread of its own: each length-prefixed frame is sent back."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def serve() -> None:
        while True:  # one client at a time, until the listener is shut down
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                while len(header := conn.recv(4, socket.MSG_WAITALL)) == 4:
                    body = conn.recv(struct.unpack("<I", header)[0], socket.MSG_WAITALL)
                    conn.sendall(header + body)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield str(path)
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes accept()
        listener.close()
        thread.join(timeout=5)
        path.unlink(missing_ok=True)
