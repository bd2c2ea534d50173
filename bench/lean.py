"""A lean HTTP/1.1 keep-alive client for the benchmark, on asyncio streams.

Why not httpx: on a 2-core machine httpx spent ~80 % of a core to drive 1,300 requests/s
(docs/PERFORMANCE.md, bench/append.py), so the client, not the service, set the pace. This
one sends pre-encoded requests and reads only the status line, the headers it needs
(Content-Length, Transfer-Encoding, Connection) and the body: a few microseconds a request.
It only ever talks to 127.0.0.1 (the benchmark's own service).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Final

HOST: Final = "127.0.0.1"


class HttpError(Exception):
    """The server answered something this client cannot read, or closed the connection."""

    def __init__(self, message: str, before_answer: bool = False) -> None:
        super().__init__(message)
        self.before_answer = before_answer  # closed before any byte of the answer


def request(method: str, path: str, port: int, body: bytes = b"", extra: str = "") -> bytes:
    """One pre-encoded HTTP/1.1 request (keep-alive)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n{extra}"
    if body or method in ("POST", "PUT"):
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


async def _headers(reader: asyncio.StreamReader) -> tuple[int, dict[bytes, bytes]]:
    line = await reader.readline()
    if not line:
        raise HttpError("connection closed before the status line", before_answer=True)
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise HttpError(f"bad status line {line[:80]!r}")
    status = int(parts[1])
    headers: dict[bytes, bytes] = {}
    while True:
        h = await reader.readline()
        if h in (b"\r\n", b"\n"):
            return status, headers
        if not h:
            raise HttpError("connection closed inside the headers")
        name, _, value = h.partition(b":")
        headers[name.strip().lower()] = value.strip()


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """The chunks of a chunked body, until the last (empty) one."""
    while True:
        size_line = await reader.readline()
        if not size_line:
            raise HttpError("connection closed inside a chunked body")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            await reader.readline()  # the CRLF after the last chunk (no trailers expected)
            return
        data = await reader.readexactly(size)
        await reader.readline()
        yield data


class Connection:
    """One keep-alive connection; reconnects when the server closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(HOST, self.port, limit=1 << 20)
        sock = writer.get_extra_info("socket")
        if sock is not None:  # asyncio sets it already; uvloop too, but be explicit
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._reader, self._writer = reader, writer
        return reader, writer

    async def send(self, raw: bytes) -> tuple[int, bytes]:
        """Send one pre-encoded request; return (status, body).

        A server closes keep-alive connections left idle past its timeout (uvicorn: 5 s):
        a reused connection that closes before any byte of the answer is opened again and
        the request sent once more, as any HTTP client does (nothing was processed).
        """
        reused = self._reader is not None
        try:
            return await self._send(raw)
        except (ConnectionResetError, BrokenPipeError, HttpError) as e:
            if not reused or (isinstance(e, HttpError) and not e.before_answer):
                raise
            return await self._send(raw)

    async def _send(self, raw: bytes) -> tuple[int, bytes]:
        if self._reader is None or self._writer is None:
            reader, writer = await self._open()
        else:
            reader, writer = self._reader, self._writer
        try:
            writer.write(raw)
            status, headers = await _headers(reader)
            if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                body = b"".join([c async for c in _chunks(reader)])
            else:
                body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
        except (OSError, asyncio.IncompleteReadError, HttpError):
            await self.close()
            raise
        if headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return status, body

    async def close(self) -> None:
        """Close the connection (the next send opens a new one)."""
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(Exception):
                await self._writer.wait_closed()
        self._reader = self._writer = None


async def sse(
    port: int, opened: asyncio.Event, path: str = "/v1/stream"
) -> AsyncIterator[tuple[bytes, bytes]]:
    """(id, data) of each Server-Sent Event with data, as soon as it arrives; `opened` is
    set once the server answered 200 (it then follows from the log's current head)."""
    reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 22)
    try:
        writer.write(request("GET", path, port, extra="Accept: text/event-stream\r\n"))
        status, headers = await _headers(reader)
        if status != 200:
            raise HttpError(f"GET {path} answered {status}")
        opened.set()

        async def raw() -> AsyncIterator[bytes]:
            if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                async for c in _chunks(reader):
                    yield c
            else:
                while data := await reader.read(1 << 16):
                    yield data

        buf = b""
        async for data in raw():
            buf += data.replace(b"\r\n", b"\n")
            while b"\n\n" in buf:
                block, buf = buf.split(b"\n\n", 1)
                ev_id, payload = b"", []
                for line in block.split(b"\n"):
                    if line.startswith(b"id:"):
                        ev_id = line[3:].strip()
                    elif line.startswith(b"data:"):
                        payload.append(line[5:].removeprefix(b" "))
                if payload:
                    yield ev_id, b"\n".join(payload)
    finally:
        writer.close()
