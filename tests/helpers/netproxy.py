"""A loopback TCP proxy that delays, throttles and cuts connections (this machine has no netns/tc).

TLS passes through untouched: the proxy only moves bytes, so mTLS between agent and orchestrator is
the real thing; the agent dials the proxy's address, which the test certificate covers (127.0.0.1).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class LinkProxy:
    target: str
    #: One-way delay added to every chunk, seconds.
    delay_s: float = 0.0
    #: Throughput cap per direction and connection, bytes per second (0: none).
    rate_bps: float = 0.0
    #: While set, new connections are accepted and closed at once (a dead link).
    down: bool = False
    address: str = ""
    bytes_forwarded: int = 0
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.address = f"127.0.0.1:{port}"
        return self.address

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        """Drop every live connection (as a pulled cable or a NAT timeout would) and refuse new ones."""
        self.down = True
        for w in list(self._writers):
            with contextlib.suppress(Exception):
                w.transport.abort()
        self._writers.clear()

    def restore(self) -> None:
        self.down = False

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        host, port = self.target.rsplit(":", 1)
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
        )
        for w in (writer, up_writer):
            self._writers.discard(w)
            with contextlib.suppress(Exception):
                w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(
                16384 if not self.rate_bps else max(512, int(self.rate_bps / 20))
            ):
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                if self.rate_bps:
                    await asyncio.sleep(len(data) / self.rate_bps)
                if self.down:
                    break
                writer.write(data)
                self.bytes_forwarded += len(data)
                await writer.drain()
        finally:
            with contextlib.suppress(Exception):
                writer.transport.abort() if self.down else writer.write_eof()
