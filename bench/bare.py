"""The ceiling of any Python HTTP service here: an ASGI app that does no work of its own.

`bench/append.py --servers bare` runs it on uvicorn (uvloop, httptools: what `annals
serve` runs on) beside raw inserts. `POST /v1/events` reads the body, decodes its JSON
and answers 201 with a small JSON body, without a database. No service built on this
stack can answer single appends faster than this app does on the same cores.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

_ANSWER: Final = msgspec.json.Encoder()
_DECODE: Final = msgspec.json.Decoder()
_HEADERS: Final = [(b"content-type", b"application/json")]
_sequence = 0


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """POST /v1/events: 201 with a made-up sequence; GET /readyz: 200; else 404."""
    global _sequence
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path, method = scope["path"], scope["method"]
    if method == "POST" and path == "/v1/events":
        event = _DECODE.decode(await _body(receive))
        _sequence += 1
        await _answer(send, 201, _ANSWER.encode({"sequence": _sequence, "id": event.get("id")}))
    elif path == "/readyz":
        await _answer(send, 200, b'{"status":"ready"}')
    else:
        await _answer(send, 404, b"{}")
