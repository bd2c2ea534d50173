"""GET /metrics: Prometheus text exposition of HTTP traffic and of the Annals figures.

The figures live in one registry per process and are shared by every test in this run, so
each test compares a figure before and after what it does, never with a fixed number.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import msgspec
import pytest
import uvicorn
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from service.access_config import Token, hash_token
from service.app import create_app
from service.metrics import counted_stream_client
from service.wiring import Services
from tests.prometheus import Samples, samples, value

Client = httpx.AsyncClient
ADMIN, WRITE = "metrics-admin-7a6b5c", "metrics-writer-4d3e2f"
TOKENS = (
    Token(name="ops", sha256=hash_token(ADMIN), scopes=frozenset({"admin"})),
    Token(name="writer", sha256=hash_token(WRITE), scopes=frozenset({"write", "read"})),
)


def note(n: int) -> dict[str, Any]:
    return {"type": "x-note", "id": f"metrics-{n}", "time": "2025-11-27", "data": {"n": n}}


def party(n: int) -> dict[str, Any]:
    return {
        "type": "party.registered",
        "subject": f"party/p{n}",
        "time": "2025-11-27",
        "data": {"name": f"Party {n}", "kind": "state"},
    }


async def scrape(client: Client, **headers: str) -> Samples:
    """GET /metrics, parsed: {(sample name, labels): value}."""
    r = await client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    return samples(r.text)


async def test_metrics_is_prometheus_text_with_the_annals_figures(client: Client) -> None:
    await client.get("/healthz")
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    for name in (
        "annals_http_requests_total",
        "annals_http_request_duration_seconds",
        "annals_http_requests_in_progress",
        "annals_events_appended_total",
        "annals_append_request_events",
        "annals_query_seconds",
        "annals_stream_clients",
    ):
        assert f"# TYPE {name} " in r.text, name
    families = {f.name for f in text_string_to_metric_families(r.text)}  # it parses
    assert {"annals_events_appended", "annals_query_seconds"} <= families


async def test_appended_counter_counts_new_events_only(client: Client) -> None:
    before = await scrape(client)
    assert (await client.post("/v1/events", json=[note(1), note(2), note(3)])).status_code == 201
    assert (await client.post("/v1/events", json=note(4))).status_code == 201
    assert (await client.post("/v1/events", json=note(4))).status_code == 200  # a retry
    assert (await client.post("/v1/events", json={"type": "nope"})).status_code == 422
    after = await scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("annals_events_appended_total") == 4
    # three accepted requests: sizes 3, 1 and 1 (the retry); the refused one is not counted
    assert delta("annals_append_request_events_count") == 3
    assert delta("annals_append_request_events_sum") == 5
    assert delta("annals_append_request_events_bucket", le="1.0") == 2
    # Litestar's request counts, per route template and status
    post = {"app_name": "annals", "method": "POST", "path": "/v1/events"}
    assert delta("annals_http_requests_total", **post, status_code="201") == 2
    assert delta("annals_http_requests_total", **post, status_code="200") == 1
    assert delta("annals_http_requests_total", **post, status_code="422") == 1


async def test_query_latency_is_observed_per_question(client: Client) -> None:
    await client.post("/v1/events", json=party(1))
    before = await scrape(client)
    assert (await client.get("/v1/state")).status_code == 200
    assert (
        await client.get("/v1/diff", params={"from": "2025-11-01", "to": "2025-12-01"})
    ).is_success
    assert (await client.get("/v1/parties/p1")).status_code == 200
    assert (await client.get("/v1/parties/p1")).status_code == 200
    assert (await client.get("/v1/events/no-such-event")).status_code == 404
    after = await scrape(client)
    for query, n in (("state", 1), ("diff", 1), ("subject", 2)):
        name = "annals_query_seconds_count"
        assert value(after, name, query=query) - value(before, name, query=query) == n, query
    assert value(after, "annals_query_seconds_sum", query="subject") > value(
        before, "annals_query_seconds_sum", query="subject"
    )
    # one series per route, not per id: the path label is the template
    one = {"app_name": "annals", "method": "GET", "status_code": "404"}
    assert value(after, "annals_http_requests_total", **one, path="/v1/events/{event_id}") >= 1
    assert not any("no-such-event" in str(labels) for _, labels in after)


@contextlib.asynccontextmanager
async def guarded(services: Services) -> AsyncIterator[Client]:
    settings = msgspec.structs.replace(services.settings, tokens=TOKENS)
    app = create_app(svc=Services(settings, services.pool, services.writer))
    transport = httpx.ASGITransport(app=cast(Any, app))
    async with httpx.AsyncClient(transport=transport, base_url="http://annals.test") as c:
        yield c


async def test_metrics_needs_the_admin_scope_when_tokens_are_configured(
    services: Services,
) -> None:
    async with guarded(services) as c:
        r = await c.get("/metrics")
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
        r = await c.get("/metrics", headers={"Authorization": f"Bearer {WRITE}"})
        assert r.status_code == 403
        assert "admin" in r.json()["detail"]
        r = await c.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"})
        assert r.status_code == 200
        assert "annals_events_appended_total" in r.text
        assert ADMIN not in r.text


async def test_metrics_is_open_in_open_mode(client: Client) -> None:
    assert (await client.get("/metrics")).status_code == 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_stream_clients_gauge_follows_connections(services: Services) -> None:
    """Over a real socket (httpx's ASGI transport cannot stream): the gauge goes up while a
    client follows /v1/stream and back down when it hangs up."""
    port = _free_port()
    config = uvicorn.Config(
        cast(Any, create_app(svc=services)), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start"
            await asyncio.sleep(0.02)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            before = value(await scrape(c), "annals_stream_clients")
            async with c.stream("GET", "/v1/stream") as r:
                assert r.status_code == 200
                lines = r.aiter_lines()
                assert (await anext(lines)).startswith(": annals stream after")
                assert value(await scrape(c), "annals_stream_clients") == before + 1
            for _ in range(200):  # the server notices the hang-up
                if value(await scrape(c), "annals_stream_clients") == before:
                    break
                await asyncio.sleep(0.02)
            assert value(await scrape(c), "annals_stream_clients") == before
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def test_stream_client_count_is_released_however_the_stream_ends() -> None:
    def current() -> float:
        return REGISTRY.get_sample_value("annals_stream_clients") or 0.0

    closed: list[str] = []

    async def messages() -> AsyncIterator[int]:
        try:
            for i in range(3):
                yield i
        finally:
            closed.append("inner")

    base = current()
    ended = [m async for m in counted_stream_client(messages())]
    assert (ended, current()) == ([0, 1, 2], base)

    stream = counted_stream_client(messages())
    assert await anext(stream) == 0
    assert current() == base + 1
    await cast(Any, stream).aclose()  # what Litestar does when the client goes away
    assert current() == base
    assert closed == ["inner", "inner"]

    async def failing() -> AsyncIterator[int]:
        yield 1
        raise ConnectionResetError

    stream = counted_stream_client(failing())
    assert await anext(stream) == 1
    with pytest.raises(ConnectionResetError):
        await anext(stream)
    assert current() == base
