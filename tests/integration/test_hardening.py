"""What a hostile review found (issue 12), each held by a test through the real app.

The event-size limit wherever an event enters, the stream's parameters, static paths,
response headers, error text, strict JSON, `source`, numbers, the write rate in events,
the header read timeout, OPTIONS on admin routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import httpx
import msgspec
import pytest
import uvicorn

from events.envelope import MAX_EVENT_BYTES
from service.access_config import Token, hash_token
from service.app import create_app
from service.serving import uvicorn_options
from service.wiring import Services

Client = httpx.AsyncClient
JSON = {"content-type": "application/json"}
NDJSON = {"content-type": "application/x-ndjson"}
ADMIN = "admin-token-hardening"
READER = "read-token-hardening"
TOKENS = (
    Token(name="ops", sha256=hash_token(ADMIN), scopes=frozenset({"admin", "read", "write"})),
    Token(name="reader", sha256=hash_token(READER), scopes=frozenset({"read"})),
)
DRIVER_WORDS = ("query argument", "int64", "asyncpg", "invalid input for")


def note(data: Any, **over: Any) -> dict[str, Any]:
    return {"type": "x-note", "time": "2025-11-27", "data": data, **over}


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text[:2000]
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


def named(r: httpx.Response, status: int) -> list[str]:
    return [e["path"] for e in problem(r, status)["errors"]]


Opener = Callable[..., contextlib.AbstractAsyncContextManager[Client]]


@pytest.fixture
def app_with(services: Services) -> Opener:
    """A client of an app on the test's database whose settings differ as given."""

    @contextlib.asynccontextmanager
    async def open_client(**changes: Any) -> AsyncIterator[Client]:
        settings = msgspec.structs.replace(services.settings, **changes)
        svc = Services(settings, services.pool, services.writer, services.listener)
        transport = httpx.ASGITransport(app=cast(Any, create_app(svc=svc)))
        async with httpx.AsyncClient(transport=transport, base_url="http://annals.test") as c:
            yield c

    return open_client


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def served(services: Services, header_timeout: float | None = None) -> AsyncIterator[str]:
    """The app on a real socket (uvicorn, with the service's own protocol options)."""
    port = _free_port()
    config = uvicorn.Config(
        cast(Any, create_app(svc=services)),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        **uvicorn_options(services.settings, header_timeout),
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


# --- finding 2: one event is at most 1 MiB wherever it enters -----------------------------


def big_note(size: int, id_: str = "big") -> dict[str, Any]:
    return note({"text": "a" * size}, id=id_)


async def test_an_event_past_1_mib_in_a_larger_post_body_is_413_naming_it(
    app_with: Opener,
) -> None:
    async with app_with(max_body_bytes=8 * MAX_EVENT_BYTES) as c:
        small = note({"n": 1}, id="small")
        r = await c.post("/v1/events", json=[small, big_note(MAX_EVENT_BYTES + 10)])
        assert named(r, 413) == ["$[1]"]
        r = await c.post("/v1/events", json=big_note(MAX_EVENT_BYTES - 200))
        assert r.status_code == 201, r.text[:500]


async def test_an_imported_event_past_1_mib_is_413_naming_its_line(client: Client) -> None:
    lines = [note({"n": 1}, id="first"), big_note(MAX_EVENT_BYTES + 10)]
    body = b"".join(msgspec.json.encode(x) + b"\n" for x in lines)
    r = await client.post("/v1/import", content=body, headers=NDJSON)
    body_ = problem(r, 413)
    assert [e["path"] for e in body_["errors"]] == ["line 2"]
    assert body_["committed"]["appended"] == 1


async def test_a_correction_whose_replacement_data_is_past_1_mib_is_413(
    app_with: Opener,
) -> None:
    async with app_with(max_body_bytes=8 * MAX_EVENT_BYTES) as c:
        assert (await c.post("/v1/events", json=note({"n": 1}, id="target"))).status_code == 201
        fix = {
            "type": "event.corrected",
            "time": "2025-11-28",
            "data": {"event": "target", "data": {"text": "b" * (MAX_EVENT_BYTES + 10)}},
        }
        assert named(await c.post("/v1/events", json=fix), 413) == ["$"]


async def test_a_400_mb_ndjson_line_is_413_naming_it_without_reading_it_whole(
    client: Client,
) -> None:
    chunk, sent = b"x" * 65_536, 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        first = msgspec.json.encode(note({"n": 1}, id="before-the-long-line")) + b"\n"
        sent += len(first)
        yield first
        yield b'{"type":"x-note","time":"2025","data":"'
        for _ in range(400 * 1024 * 1024 // len(chunk)):
            sent += len(chunk)
            yield chunk

    r = await client.post("/v1/import", content=body(), headers=NDJSON)
    found = problem(r, 413)
    assert [e["path"] for e in found["errors"]] == ["line 2"]
    assert found["committed"]["lines"] == 1
    assert sent < 8 * MAX_EVENT_BYTES, f"read {sent} bytes of a line it must refuse"


# --- finding 4: /v1/stream validates its parameters like every other endpoint --------------


@pytest.mark.parametrize(
    ("params", "headers", "name"),
    [
        ({"after": "99999999999999999999"}, {}, "after"),
        ({"after": "-1"}, {}, "after"),
        ({}, {"Last-Event-ID": "99999999999999999999"}, "Last-Event-ID"),
        ({}, {"Last-Event-ID": "x1"}, "Last-Event-ID"),
        ({"subject": "party/a\x00b"}, {}, "subject"),
        ({"subject": "nobody"}, {}, "subject"),
        ({"type": "t" * 500}, {}, "type"),
    ],
)
async def test_a_bad_stream_parameter_is_a_4xx_before_the_stream_starts(
    services: Services, params: dict[str, str], headers: dict[str, str], name: str
) -> None:
    async with served(services) as url, httpx.AsyncClient(base_url=url, timeout=10) as c:
        async with c.stream("GET", "/v1/stream", params=params, headers=headers) as r:
            first = (await r.aread())[:2000] if r.status_code >= 400 else b""
            assert 400 <= r.status_code < 500, f"{r.status_code}: the stream started"
        text = first.decode()
        assert name in text
        assert not any(w in text for w in DRIVER_WORDS), text


# --- finding 5: static routes answer 404, never 500 ------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/%00", "/js/main.js%00.html", "/index.html/x", "/js/main.js/x", "/app.css/..%2f", "/a%00/b"],
)
async def test_odd_static_paths_are_404_without_a_traceback(
    client: Client, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        r = await client.get(path)
    assert r.status_code in (400, 404), r.text
    assert "Traceback" not in caplog.text and "unhandled" not in caplog.text


# --- finding 6: headers, schema page, error text, strict JSON, source, numbers --------------


async def test_the_viewer_carries_a_content_security_policy_and_frame_policy(
    client: Client,
) -> None:
    for path in ("/", "/index.html", "/js/main.js", "/app.css"):
        r = await client.get(path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("style-src")[0]
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"


async def test_api_answers_and_problems_carry_nosniff(client: Client) -> None:
    for r in (
        await client.get("/v1/events"),
        await client.get("/v1/events/nope"),
        await client.get("/no/such/route"),
        await client.post("/v1/events", content=b"{", headers=JSON),
    ):
        assert r.headers["x-content-type-options"] == "nosniff", r.url


def test_response_hooks_run_on_the_event_loop(services: Services) -> None:
    """Litestar runs a plain-function before_send hook in a worker thread, a thread hop for
    each message of every response (the headers above come from such a hook)."""
    app = create_app(svc=services)
    assert app.before_send, "the security headers come from a before_send hook"
    for hook in app.before_send:
        assert inspect.iscoroutinefunction(hook), f"{hook!r} would run in a thread"


async def test_schema_pages_load_nothing_from_another_origin(client: Client) -> None:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200 and r.json()["openapi"].startswith("3.")
    assert (await client.get("/schema/openapi.yaml")).status_code == 200
    for path in ("/schema", "/schema/swagger", "/schema/scalar", "/schema/redoc"):
        r = await client.get(path)
        assert '<script src="http' not in r.text and "cdn." not in r.text, path


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/v1/events?after=99999999999999999999", "after"),
        ("/v1/events?after=-5", "after"),
        ("/v1/events/a%00b", "id"),
    ],
)
async def test_out_of_range_values_are_named_without_driver_text(
    client: Client, path: str, name: str
) -> None:
    r = await client.get(path)
    assert 400 <= r.status_code < 500, r.text
    assert name in r.text
    assert not any(w in r.text for w in DRIVER_WORDS), r.text


async def test_a_long_bad_parameter_is_not_echoed_whole(client: Client) -> None:
    value = "party/" + "z" * 20_000
    for path in ("/v1/timeline", "/v1/stream", "/v1/events/"):
        url = f"{path}{value}" if path.endswith("/") else path
        r = await client.get(url, params={} if path.endswith("/") else {"subject": value})
        assert 400 <= r.status_code < 500, (path, r.status_code)
        assert len(r.content) < 4_000, (path, len(r.content))


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b'{"type":"x-a","type":"x-b","time":"2025","data":1}', "$.type"),
        (b'{"type":"x-a","time":"2025","data":{"k":1,"k":2}}', "$.data.k"),
        (b'[{"type":"x-a","time":"2025","data":1},{"type":"x-a","time":"2025","time":"2024"}]',
         "$[1].time"),
        (b'{"type":"x-a","time":"2025","data":{"k\\u003a":1,"k:":2}}', '$.data["k:"]'),
    ],
)  # fmt: skip
async def test_duplicate_json_keys_are_422_naming_the_key(
    client: Client, body: bytes, path: str
) -> None:
    assert named(await client.post("/v1/events", content=body, headers=JSON), 422) == [path]


async def test_duplicate_keys_in_an_imported_line_are_422_naming_the_line(client: Client) -> None:
    body = b'{"type":"x-a","id":"d","time":"2025","data":{"k":1,"k":2}}\n'
    assert named(await client.post("/v1/import", content=body, headers=NDJSON), 422) == [
        "line 1.data.k"
    ]


async def test_colons_in_text_do_not_look_like_duplicate_keys(client: Client) -> None:
    body = b'{"type":"x-a","time":"2025","data":{"a":"b:c:d","e":{"f":"::"}}}'
    r = await client.post("/v1/events", content=body, headers=JSON)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "source",
    ["not a uri", "http://exa mple.org", "a%zz", "x#a#b", "ht tp:x", "<script>", "1http:x"],
)
async def test_a_source_that_is_no_uri_reference_is_422_naming_it(
    client: Client, source: str
) -> None:
    r = await client.post("/v1/events", json=note(1, source=source))
    assert named(r, 422) == ["$.source"]
    assert "URI" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "source",
    ["urn:annals:api", "https://example.org/feed?x=1#top", "/desk/world", "desk-3", "mailto:a@b.c",
     "http://[::1]:8000/x", "tag:reuters.com,2025:feed/1%20a"],
)  # fmt: skip
async def test_uri_references_are_accepted_as_source(client: Client, source: str) -> None:
    r = await client.post("/v1/events", json=note(1, source=source))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "literal",
    [b"1e-400", b"-1e-400", b"0.12345678901234567890123", b"123456789012345678901234567890.5"],
)
async def test_numbers_that_would_change_are_422_naming_the_path(
    client: Client, literal: bytes
) -> None:
    body = b'{"type":"x-n","time":"2025","data":{"v":[1,' + literal + b"]}}"
    r = await client.post("/v1/events", content=body, headers=JSON)
    assert named(r, 422) == ["$.data.v[1]"]
    line = b'{"type":"x-n","id":"n","time":"2025","data":{"v":' + literal + b"}}\n"
    r = await client.post("/v1/import", content=line, headers=NDJSON)
    assert named(r, 422) == ["line 1.data.v"]


async def test_the_write_rate_counts_events_not_requests(app_with: Opener) -> None:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    async with app_with(tokens=TOKENS, write_rate=("minute", 5)) as c:
        batch = [note({"n": i}, id=f"rate-{i}") for i in range(5)]
        assert (await c.post("/v1/events", json=batch, headers=auth)).status_code == 201
        r = await c.post("/v1/events", json=note({"n": 9}, id="rate-9"), headers=auth)
        assert problem(r, 429)["type"] == "urn:annals:problem:rate-limited"
        assert "events" in r.json()["detail"]


async def test_the_write_rate_counts_bytes_too(app_with: Opener) -> None:
    auth = {"Authorization": f"Bearer {ADMIN}"}
    async with app_with(tokens=TOKENS, write_rate=("minute", 5)) as c:
        heavy = note({"text": "h" * 200_000}, id="heavy")
        assert (await c.post("/v1/events", json=heavy, headers=auth)).status_code == 201
        r = await c.post("/v1/events", json=note({"n": 1}, id="light"), headers=auth)
        problem(r, 429)


async def test_an_import_counts_its_events_against_the_write_rate(app_with: Opener) -> None:
    auth = {"Authorization": f"Bearer {ADMIN}", **NDJSON}
    async with app_with(tokens=TOKENS, write_rate=("minute", 5)) as c:
        body = b"".join(
            msgspec.json.encode(note({"n": i}, id=f"imp-{i}")) + b"\n" for i in range(8)
        )
        assert (await c.post("/v1/import", content=body, headers=auth)).status_code == 200
        r = await c.post("/v1/events", json=note({"n": 1}, id="after-import"), headers=auth)
        problem(r, 429)


async def test_options_on_admin_routes_never_asks_for_a_token(app_with: Opener) -> None:
    async with app_with(tokens=TOKENS, public_reads=False) as c:
        for path in ("/v1/verify", "/metrics", "/v1/events", "/v1/state"):
            r = await c.options(path)
            assert r.status_code in (200, 204), (path, r.status_code, r.text)
        assert (await c.get("/v1/verify")).status_code == 401


async def test_reading_request_headers_is_bounded_in_time(services: Services) -> None:
    async with served(services, header_timeout=0.5) as url:
        port = int(url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
        await writer.drain()
        got = await asyncio.wait_for(reader.read(), 5)  # b"" or a 408: the server hung up
        assert got == b"" or got.startswith(b"HTTP/1.1 408"), got
        writer.close()
        # A prompt client is served as usual on the same server.
        async with httpx.AsyncClient(base_url=url) as c:
            assert (await c.get("/healthz")).status_code == 200
