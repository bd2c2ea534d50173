"""POST /v1/events answers the same on the lean path (service/api/append_route.py) as on
Litestar's own route: status, body and headers, for good requests and every kind of
refusal (token, scope, origin, rate, size, type, JSON, conflict, binary mode)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import msgspec

from service.access_config import Token, hash_token
from service.api.append_route import LeanAppend
from service.app import create_app
from service.wiring import Services

WRITE, READ = "write-token-a1b2c3", "read-token-d4e5f6"
TOKENS = (
    Token(name="writer", sha256=hash_token(WRITE), scopes=frozenset({"write"})),
    Token(name="reader", sha256=hash_token(READ), scopes=frozenset({"read"})),
)
DESK = "https://desk.example"
# Headers that differ between any two answers, whichever path gave them.
VARYING = {"date", "content-length", "location", "etag"}


@contextlib.asynccontextmanager
async def client(svc: Services, *, lean: bool) -> AsyncIterator[httpx.AsyncClient]:
    settings = msgspec.structs.replace(
        svc.settings,
        tokens=TOKENS,
        write_rate=("minute", 40),
        cors_origins=(DESK,),
        max_body_bytes=4096,
    )
    app = create_app(svc=Services(settings, svc.pool, svc.writer))
    assert isinstance(app.asgi_handler, LeanAppend), "POST /v1/events takes the lean path"
    if not lean:  # Litestar's router and EventsController.append, as for any other route
        app.asgi_handler = app.asgi_handler.litestar
    transport = httpx.ASGITransport(app=cast(Any, app))
    async with httpx.AsyncClient(transport=transport, base_url="http://annals.test") as c:
        yield c


def requests(tag: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, httpx request arguments); ids carry `tag` so that both paths append anew."""
    auth = {"Authorization": f"Bearer {WRITE}"}
    event = {"type": "x-note", "id": f"{tag}-1", "time": "2025-11-27", "data": {"n": 1}}
    changed = {**event, "data": {"n": 2}}
    batch = [{**event, "id": f"{tag}-b{i}"} for i in range(3)]
    return [
        ("single", {"json": event, "headers": auth}),
        ("again, the same", {"json": event, "headers": auth}),
        ("again, changed: conflict", {"json": changed, "headers": auth}),
        (
            "batch",
            {
                "json": batch,
                "headers": {**auth, "Content-Type": "application/cloudevents-batch+json"},
            },
        ),
        ("no token", {"json": {**event, "id": f"{tag}-2"}}),
        (
            "read token",
            {"json": {**event, "id": f"{tag}-3"}, "headers": {"Authorization": f"Bearer {READ}"}},
        ),
        (
            "untrusted origin",
            {
                "json": {**event, "id": f"{tag}-4"},
                "headers": {**auth, "Origin": "https://else.example"},
            },
        ),
        (
            "trusted origin",
            {"json": {**event, "id": f"{tag}-5"}, "headers": {**auth, "Origin": DESK}},
        ),
        (
            "malformed JSON",
            {"content": b"{", "headers": {**auth, "Content-Type": "application/json"}},
        ),
        (
            "invalid event",
            {"json": {**event, "id": f"{tag}-6", "time": "someday"}, "headers": auth},
        ),
        ("media type", {"content": b"{}", "headers": {**auth, "Content-Type": "text/plain"}}),
        (
            "too large",
            {"json": {**event, "id": f"{tag}-7", "data": {"n": "x" * 5000}}, "headers": auth},
        ),
        (
            "binary mode",
            {
                "content": b'{"n": 8}',
                "headers": {
                    **auth,
                    "Content-Type": "application/json",
                    "ce-specversion": "1.0",
                    "ce-id": f"{tag}-8",
                    "ce-source": "urn:test",
                    "ce-type": "x-note",
                    "ce-time": "2025-11-27",
                },
            },
        ),
        (
            "binary mode, bad attribute",
            {
                "content": b"{}",
                "headers": {
                    **auth,
                    "Content-Type": "application/json",
                    "ce-specversion": "1.0",
                    "ce-id": f"{tag}-9",
                    "ce-source": "urn:test",
                    "ce-type": "x-note",
                    "ce-time": "nope",
                },
            },
        ),
        (
            "past the write rate",
            {"json": [{**event, "id": f"{tag}-r{i}"} for i in range(50)], "headers": auth},
        ),
        ("in its debt", {"json": {**event, "id": f"{tag}-10"}, "headers": auth}),
    ]


def comparable(r: httpx.Response, tag: str) -> tuple[int, dict[str, str], Any]:
    """Status, headers and body with what differs by nature (times, ids, sequences) out."""
    headers = {k: v for k, v in r.headers.items() if k not in VARYING}
    body: Any = r.text.replace(tag, "TAG")
    if r.headers.get("content-type", "").endswith("json"):
        body = _without_places(msgspec.json.decode(body.encode()))
    return r.status_code, headers, body


def _without_places(value: Any) -> Any:
    placed = {"sequence", "hash", "predecessorhash", "recordedtime", "id"}
    if isinstance(value, dict):
        return {k: (None if k in placed else _without_places(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_places(v) for v in value]
    return value


async def test_the_lean_path_answers_as_litestars_route(services: Services) -> None:
    answers: dict[bool, list[tuple[str, tuple[int, dict[str, str], Any]]]] = {}
    for lean in (False, True):
        tag = "zq-lean" if lean else "zq-router"
        async with client(services, lean=lean) as c:
            answers[lean] = [
                (name, comparable(await c.post("/v1/events", **kwargs), tag))
                for name, kwargs in requests(tag)
            ]
    statuses = [a[0] for _, a in answers[True]]
    assert statuses == [
        201,
        200,
        409,
        201,
        401,
        403,
        403,
        201,
        400,
        422,
        415,
        413,
        201,
        422,
        201,
        429,
    ], statuses
    for (name, via_router), (_, via_lean) in zip(answers[False], answers[True], strict=True):
        assert via_lean == via_router, name
