"""Reads bounded (SPEC §6): log pages and export chunks end by bytes as well as by count, state
and diff pages by facts, and heavy reads past the budget get 503 with Retry-After while
health checks and writes go on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from unittest import mock

import asyncpg
import httpx
import icalendar
import pytest

from events import store
from queries import assembly, names, pages, question
from queries import timeline as tl
from service.settings import Settings
from service.stream import follow
from service.wiring import Services

Client = httpx.AsyncClient
PAGE_BYTES = 64 * 1024
PAGE_FACTS = 3  # registers and folded events a /v1/state or /v1/diff page holds
BLOB = 20_000  # characters of x- data per event: three fit in a page, four do not


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Small pages, and a budget of one heavy read with no queue."""
    return Settings.from_env(
        database_url=db_url,
        data_dir=tmp_path,
        db_timeout=5.0,
        page_bytes=PAGE_BYTES,
        page_facts=PAGE_FACTS,
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
    "/v1/plans/bounded/family",
]


async def test_heavy_reads_past_the_budget_are_503_while_health_and_writes_go_on(
    client: Client, services: Services
) -> None:
    plan = {"type": "plan.proposed", "subject": "plan/bounded", "time": "2025-11-01",
            "data": {"title": "Bounded", "sponsor": "party/p0"}}  # fmt: skip
    assert (await client.post("/v1/events", json=[blob(0, size=10), plan])).status_code == 201
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


def stated(n: int, time: str = "2025-11-20", party: str = "party/kyiv") -> dict[str, Any]:
    """A statement: one register fact of the party, and one of the issue it is on."""
    return {
        "type": "position.stated",
        "id": f"s{n}-{party}-{time}",
        "subject": party,
        "time": time,
        "data": {"on": f"issue/i{n}", "stance": "supports"},
    }


async def walk(client: Client, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    walked, cursor = [], None
    while True:
        r = await client.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        walked.append(r.json())
        if (cursor := walked[-1]["next"]) is None:
            return walked


def ids(page: dict[str, Any]) -> list[str]:
    return [s["id"] for plural in ("issues", "parties") for s in page[plural]]


async def test_a_state_page_ends_by_facts_and_a_subject_larger_than_a_page_comes_alone(
    client: Client,
) -> None:
    assert (await client.post("/v1/events", json=[stated(n) for n in range(6)])).status_code == 201
    walked = await walk(client, "/v1/state", {"limit": 100})
    # Each issue holds one register; party/kyiv holds six, more than a page, so it is alone.
    assert [ids(p) for p in walked] == [
        ["issue/i0", "issue/i1", "issue/i2"],
        ["issue/i3", "issue/i4", "issue/i5"],
        ["party/kyiv"],
    ]
    assert len(walked[2]["parties"][0]["positions"]) == 6
    assert {p["sequence"] for p in walked} == {6}
    # The limit still ends a page first when it is the smaller bound.
    assert [ids(p) for p in await walk(client, "/v1/state", {"limit": 2})][:2] == [
        ["issue/i0", "issue/i1"],
        ["issue/i2", "issue/i3"],
    ]


async def test_a_pinned_page_ends_where_it_did_however_the_subjects_grow(client: Client) -> None:
    assert (await client.post("/v1/events", json=[stated(n) for n in range(6)])).status_code == 201
    pinned = {"limit": 100, "at": "2025-11-30", "known_at": "6"}
    before = await walk(client, "/v1/state", pinned)
    # Later statements on the same issues, by other parties, at earlier and later dates.
    later = [stated(n, t, f"party/p{n}") for n in range(3) for t in ("2025-11-01", "2025-12-05")]
    assert (await client.post("/v1/events", json=later)).status_code == 201
    assert await walk(client, "/v1/state", pinned) == before
    assert ids(before[0]) == ["issue/i0", "issue/i1", "issue/i2"]


async def test_a_diff_page_counts_the_registers_that_differ_at_both_ends(client: Client) -> None:
    """A diff reads, at each end, only the registers that differ between its ends: an issue
    with an unchanged stance (Kyiv's) and a new one (Lviv's) holds one fact, a party that
    took four new positions four, and a party that did not move none."""
    early = [stated(n, "2025-11-05") for n in range(4)]
    late = [stated(n, "2025-11-25", "party/lviv") for n in range(4)]
    assert (await client.post("/v1/events", json=early + late)).status_code == 201
    walked = await walk(client, "/v1/diff", {"from": "2025-11-10", "to": "2025-11-30"})
    subjects = [sorted({c["subject"] for c in p["changes"]}) for p in walked]
    assert subjects == [["issue/i0", "issue/i1", "issue/i2"], ["issue/i3"], ["party/lviv"]]
    changes = [c for p in walked for c in p["changes"]]
    assert {c["field"] for c in changes if c["subject"] == "issue/i0"} == {"stances.party/lviv"}


async def test_the_meetings_export_walks_pages_of_the_configured_facts(client: Client) -> None:
    """ANNALS_PAGE_FACTS bounds every walk of states, the calendar's as well as /v1/state's."""
    meetings = [
        {"type": "meeting.scheduled", "subject": f"meeting/m{n}", "time": "2025-11-20",
         "data": {"title": f"M{n}", "starts": "2025-12-01", "participants": []}}
        for n in range(5)
    ]  # fmt: skip
    assert (await client.post("/v1/events", json=meetings)).status_code == 201
    budgets: list[int] = []
    walked = pages.page_subjects

    async def page_subjects(*args: Any) -> Any:
        budgets.append(args[6])  # conn, q, ends, prefix, after, limit, budget, each
        return await walked(*args)

    with mock.patch.object(pages, "page_subjects", page_subjects):
        r = await client.get("/v1/export/meetings.ics")
    assert r.status_code == 200, r.text
    assert r.text.count("BEGIN:VEVENT") == 5
    assert budgets and set(budgets) == {PAGE_FACTS}, budgets


async def test_a_timeline_page_ends_by_bytes_too(client: Client) -> None:
    assert (await client.post("/v1/events", json=[blob(n) for n in range(10)])).status_code == 201
    first = await client.get("/v1/timeline", params={"limit": 1000})
    assert [e["id"] for e in first.json()["events"]] == ["b0", "b1", "b2"]
    assert len(first.content) < PAGE_BYTES + 4096
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1000} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/v1/timeline", params=params)).json()
        seen += [e["id"] for e in page["events"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [f"b{n}" for n in range(10)]
    big = blob(10, size=3 * PAGE_BYTES // 2)  # larger than a page: it comes alone
    assert (await client.post("/v1/events", json={**big, "time": "2025-11-28"})).status_code == 201
    alone = await client.get("/v1/timeline", params={"from": "2025-11-28"})
    assert [e["id"] for e in alone.json()["events"]] == ["b10"]


async def test_the_timelinejs_export_is_streamed_a_page_of_bytes_at_a_time(client: Client) -> None:
    """The document is never built whole (SPEC §6): each page of the timeline, bounded by
    ANNALS_PAGE_BYTES, is turned into slides and sent before the next is read."""
    assert (await client.post("/v1/events", json=[blob(n) for n in range(10)])).status_code == 201
    sizes: list[int] = []
    read = tl.read_page

    async def read_page(*args: Any, **kwargs: Any) -> Any:
        assert kwargs["max_bytes"] == PAGE_BYTES
        page = await read(*args, **kwargs)
        sizes.append(len(page.entries))
        return page

    with mock.patch.object(tl, "read_page", read_page):
        r = await client.get("/v1/export/timelinejs")
    assert r.status_code == 200, r.text
    assert "content-length" not in r.headers  # streamed
    assert r.headers["annals-known-at"] == "10"
    assert sizes == [3, 3, 3, 1]
    doc = r.json()
    assert [e["unique_id"] for e in doc["events"]] == [f"b{n}" for n in range(10)]
    assert doc["title"]["text"]["text"] == "10 events, as known at sequence 10."


async def test_the_calendar_is_streamed_a_page_of_meetings_at_a_time(client: Client) -> None:
    meetings = [
        {"type": "meeting.scheduled", "subject": f"meeting/m{n}", "time": "2025-11-20",
         "data": {"title": f"M{n}", "starts": f"2025-12-0{n + 1}", "participants": []}}
        for n in range(5)
    ]  # fmt: skip
    assert (await client.post("/v1/events", json=meetings)).status_code == 201
    r = await client.get("/v1/export/meetings.ics")
    assert r.status_code == 200, r.text
    assert "content-length" not in r.headers  # streamed
    assert r.headers["annals-known-at"] == "5"
    cal = icalendar.Calendar.from_ical(r.content)
    assert [str(e["uid"]) for e in cal.walk("VEVENT")] == [f"meeting/m{n}@annals" for n in range(5)]


async def test_the_timelinejs_export_asks_each_name_once_a_few_subjects_at_a_time(
    client: Client,
) -> None:
    """A name is its subject's state, which may be large: an export reads the states of
    NAMES_CHUNK subjects at a time, and each subject's once however many pages show it."""
    parties = [
        {"type": "party.registered", "subject": f"party/p{n}", "time": "2025-11-01",
         "data": {"name": f"P{n}", "kind": "state"}}
        for n in range(5)
    ]  # fmt: skip
    notes = [{**blob(n), "subject": f"party/p{n % 5}"} for n in range(10)]
    assert (await client.post("/v1/events", json=parties + notes)).status_code == 201
    asked: list[list[str]] = []
    states = assembly.states

    async def counted(conn: Any, subjects: list[str], q: Any) -> Any:
        asked.append(subjects)
        return await states(conn, subjects, q)

    with (
        mock.patch.object(names, "CHUNK", 2, create=True),
        mock.patch.object(assembly, "states", counted),
    ):
        r = await client.get("/v1/export/timelinejs")
    assert r.status_code == 200, r.text
    assert {e["group"] for e in r.json()["events"]} == {f"P{n}" for n in range(5)}
    assert all(len(chunk) <= 2 for chunk in asked), asked
    assert sorted(s for chunk in asked for s in chunk) == [f"party/p{n}" for n in range(5)]


async def test_the_timelinejs_export_asks_its_names_question_once_a_walk(client: Client) -> None:
    """Every page's names are believed as of one question (one sequence, one valid time),
    asked once however many pages bring new subjects."""
    notes = [{**blob(n), "subject": f"party/q{n}"} for n in range(10)]  # a new subject a page
    assert (await client.post("/v1/events", json=notes)).status_code == 201
    asked: list[Any] = []
    ask = question.ask

    async def counted(*args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs.get("known"))
        return await ask(*args, **kwargs)

    with mock.patch.object(question, "ask", counted):
        r = await client.get("/v1/export/timelinejs")
    assert r.status_code == 200, r.text
    assert len(r.json()["events"]) == 10
    assert asked == [10], asked
