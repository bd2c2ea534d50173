"""Reads bounded (SPEC §6): log pages and export chunks end by bytes as well as by count, and
heavy reads past the budget get 503 with Retry-After while health checks and writes go on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from events import store
from service.settings import Settings
from service.stream import follow
from service.wiring import Services

Client = httpx.AsyncClient
PAGE_BYTES = 64 * 1024
BLOB = 20_000  # characters of x- data per event: three fit in a page, four do not


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Small pages, and a budget of one heavy read with no queue."""
    return Settings.from_env(
        database_url=db_url,
        data_dir=tmp_path,
        db_timeout=5.0,
        page_bytes=PAGE_BYTES,
        heavy_reads=1,
        heavy_queue=0,
        heavy_wait=0,
    )


def blob(n: int, size: int = BLOB) -> dict[str, Any]:
    return {"type": "x-blob", "id": f"b{n}", "time": "2025-11-27", "data": {"text": "x" * size}}


async def test_a_page_ends_by_bytes_with_a_next_cursor_and_pages_through_everything(
    client: Client,
) -> None:
    r = await client.post("/v1/events", json=[blob(n) for n in range(10)])
    assert r.status_code == 201, r.text
    first = await client.get("/v1/events", params={"limit": 1000})
    page = first.json()
    n, size = len(page["events"]), len(first.content)
    print(f"limit=1000: {n} events, {size} bytes, next={page['next']}")
    assert [e["sequence"] for e in page["events"]] == [1, 2, 3]
    assert len(first.content) < PAGE_BYTES + 4096
    assert page["next"] == "3" and page["last_sequence"] == 10
    seen, after = [], 0
    while True:
        p = (await client.get("/v1/events", params={"after": after, "limit": 1000})).json()
        seen += [e["sequence"] for e in p["events"]]
        if p["next"] is None:
            break
        after = int(p["next"])
    assert seen == list(range(1, 11))


async def test_an_event_larger_than_a_page_comes_alone(client: Client) -> None:
    big = blob(0, size=3 * PAGE_BYTES // 2)
    assert (await client.post("/v1/events", json=[big, blob(1)])).status_code == 201
    page = (await client.get("/v1/events", params={"limit": 100})).json()
    assert [e["id"] for e in page["events"]] == ["b0"] and page["next"] == "1"
    page = (await client.get("/v1/events", params={"after": 1})).json()
    assert [e["id"] for e in page["events"]] == ["b1"] and page["next"] is None


async def test_the_ndjson_export_is_whole_in_byte_bounded_chunks(client: Client) -> None:
    assert (await client.post("/v1/events", json=[blob(n) for n in range(10)])).status_code == 201
    r = await client.get("/v1/export/events.ndjson", params={"batch": 10_000})
    assert r.status_code == 200
    lines = r.content.splitlines()
    assert [httpx.Response(200, content=x).json()["sequence"] for x in lines] == list(range(1, 11))


HEAVY = [
    "/v1/events",
    "/v1/verify",
    "/v1/export/events.ndjson",
    "/v1/export/events.csv",
    "/v1/export/timelinejs",
    "/v1/export/meetings.ics",
    "/v1/state",
    "/v1/diff?from=2025-11-01&to=2025-12-01",
]


async def test_heavy_reads_past_the_budget_are_503_while_health_and_writes_go_on(
    client: Client, services: Services
) -> None:
    assert (await client.post("/v1/events", json=blob(0, size=10))).status_code == 201
    held = await services.heavy.admit()  # the one place, taken by another heavy read
    try:
        for path in HEAVY:
            r = await client.get(path)
            assert r.status_code == 503, (path, r.text)
            assert r.headers["retry-after"] == "2"
            assert r.headers["content-type"] == "application/problem+json"
            body = r.json()
            assert (body["title"], body["type"]) == ("Too busy", "urn:annals:problem:busy")
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/v1/head")).status_code == 200
        assert (await client.post("/v1/events", json=blob(1, size=10))).status_code == 201
    finally:
        held.release()
    for path in HEAVY:
        assert (await client.get(path)).status_code == 200, path
    assert services.heavy.busy == 0


async def test_a_live_stream_catches_up_through_byte_bounded_pages(
    client: Client, services: Services
) -> None:
    """Pages that end by bytes before BATCH events must not read as "caught up"."""
    assert (await client.post("/v1/events", json=[blob(n) for n in range(10)])).status_code == 201
    assert services.listener is not None
    live = follow(
        services.acquire_read,
        services.listener,
        0,
        subject=None,
        type_=None,
        keepalive=60,
        max_bytes=PAGE_BYTES,
    )
    seen: list[int] = []
    async with asyncio.timeout(10):
        async for message in live:
            if message.id is not None:
                seen.append(int(message.id))
            if len(seen) == 10:
                break
    assert seen == list(range(1, 11))


async def test_a_subjects_page_ends_by_bytes_too(client: Client, conn: asyncpg.Connection) -> None:
    mine = [{**blob(n), "subject": "party/big"} for n in range(5)]
    others = [blob(n + 100) for n in range(5)]
    assert (await client.post("/v1/events", json=mine + others)).status_code == 201
    page = await store.read_log(conn, 0, 500, subject="party/big", max_bytes=PAGE_BYTES)
    assert [e.id for e in page] == ["b0", "b1", "b2"]
    page = await store.read_log(conn, 3, 500, subject="party/big", max_bytes=PAGE_BYTES)
    assert [e.id for e in page] == ["b3", "b4"]
