"""GET /v1/timeline against a real PostgreSQL: filters, order, cursor paging, belief."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import asyncpg
import httpx
import pytest

from events.timeparse import parse_at, parse_time
from events.vocabulary import CONFIDENCE_RANK, references, type_matches, type_matches_sql
from queries import projector
from queries import timeline as tl
from service.importer import file_lines, import_lines
from service.wiring import EXAMPLE, Services
from tests.conftest import EXAMPLE_EVENTS

Client = httpx.AsyncClient
LINES: list[dict[str, Any]] = [json.loads(x) for x in EXAMPLE.read_text("utf-8").splitlines()]


@pytest.fixture
async def example(services: Services, client: Client) -> Client:
    """The client, with the bundled example timeline imported (sequences 1..EXAMPLE_EVENTS)."""
    stats = await import_lines(services.writer, file_lines(EXAMPLE))
    assert stats.appended == EXAMPLE_EVENTS
    return client


async def page(c: Client, **params: Any) -> Any:
    r = await c.get("/v1/timeline", params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def walk(c: Client, **params: Any) -> list[dict[str, Any]]:
    """Every entry, following `next` with the same filters."""
    out, cursor = [], None
    while True:
        body = await page(c, **params, **({"cursor": cursor} if cursor else {}))
        out += body["events"]
        cursor = body["next"]
        if cursor is None:
            return out


def ids(events: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in events]


def expected(keep: Any = lambda e: True) -> list[str]:
    """The example's ids that pass `keep`, in valid-time order (start, then file order)."""
    chosen = [(parse_time(e["time"]).start, n, e["id"]) for n, e in enumerate(LINES) if keep(e)]
    return [i for _, _, i in sorted(chosen)]


def concerns(e: dict[str, Any], subject: str) -> bool:
    """SPEC §1: the event's subject, or a subject referenced anywhere in its data."""
    return bool(e["subject"] == subject or subject in references(e["data"]))


async def post(c: Client, event: dict[str, Any]) -> dict[str, Any]:
    r = await c.post("/v1/events", json=event)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_every_event_in_valid_time_order_then_sequence(example: Client) -> None:
    body = await page(example, limit=1000)
    assert ids(body["events"]) == expected()
    assert body["next"] is None and body["known_at"] == EXAMPLE_EVENTS
    keys = [(e["time"], e["sequence"]) for e in body["events"]]
    assert keys == sorted(keys)
    plan = next(e for e in body["events"] if e["id"] == "pt25-024")
    assert plan["headline"] == "United States proposes US 28-point peace plan (28PPP) (28 points)"
    assert (plan["timeprecision"], plan["timequalifier"], plan["timegiven"]) == (
        "day", "uncertain", "2025-11-20?",
    )  # fmt: skip
    assert plan["hash"] and plan["corrected_by"] is None


async def test_subject_includes_events_that_reference_it_in_data(example: Client) -> None:
    for subject in ["party/vladimir-putin", "issue/donbas", "plan/us-updated-settlement-proposal"]:
        got = ids((await page(example, subject=subject))["events"])
        assert got == expected(lambda e, s=subject: concerns(e, s))
        assert "pt25-037" in got  # the Moscow meeting: participant, agenda item or agenda plan


TYPE_CASES = [
    (None, "plan.proposed"), ("plan.proposed", "plan.proposed"), ("plan.", "plan.proposed"),
    ("plan", "plan.proposed"), ("plan.proposed", "plan.proposed.x"), ("plan.p", "plan.proposed"),
    (".", "plan.proposed"), ("x-", "x-note"), ("x-note", "x-note"), ("meeting.", "plan.revised"),
    ("plan.proposed.", "plan.proposed"), ("PLAN.", "plan.proposed"), ("%", "plan.proposed"),
    ("_lan.", "plan.proposed"),
]  # fmt: skip


@pytest.mark.parametrize(("wanted", "type_"), TYPE_CASES)
async def test_the_type_filters_sql_is_the_type_rule(
    conn: asyncpg.Connection, wanted: str | None, type_: str
) -> None:
    """The SQL of timelines and subscriptions decides as `type_matches` (streams) does."""
    timeline = f"SELECT ($1::text IS NULL OR {type_matches_sql('$2::text', '$1::text')})"
    subscription = (
        "SELECT ($1::text[] IS NULL OR EXISTS (SELECT 1 FROM unnest($1::text[]) AS p(t)"  # noqa: S608
        f" WHERE {type_matches_sql('$2::text', 'p.t')}))"
    )
    want = type_matches(wanted, type_)
    assert await conn.fetchval(timeline, wanted, type_) is want
    listed = None if wanted is None else ["meeting.held", wanted]
    assert await conn.fetchval(subscription, listed, type_) is (want or type_ == "meeting.held")


async def test_type_exact_and_prefix(example: Client) -> None:
    exact = ids((await page(example, type="plan.proposed"))["events"])
    assert exact == expected(lambda e: e["type"] == "plan.proposed")
    assert exact[:3] == ["pt25-024", "pt25-025", "pt25-026"] and "pt25-036" in exact
    prefix = ids((await page(example, type="plan."))["events"])
    assert prefix == expected(lambda e: e["type"].startswith("plan."))
    assert len(prefix) > len(exact)
    assert (await page(example, type="plan"))["events"] == []  # no prefix without the dot


async def test_from_and_to_bound_valid_time_by_whole_days(example: Client) -> None:
    got = ids((await page(example, **{"from": "2025-11-27", "to": "2025-11-29"}))["events"])
    lo, hi = parse_time("2025-11-27").start, parse_at("2025-11-29")
    assert got == expected(lambda e: lo <= parse_time(e["time"]).start <= hi)
    assert got[0] == "pt25-031" and got[-1] == "pt25-038"
    exact = await page(example, **{"from": "2025-11-29T00:00:01Z", "to": "2025-11-30T00:00:00Z"})
    assert ids(exact["events"]) == ["pt25-043", "pt25-044"]  # 29 Nov 00:00 is before `from`


async def test_min_confidence_and_filters_combine(example: Client) -> None:
    us = "party/united-states"
    got = ids((await page(example, subject=us, min_confidence="reported"))["events"])
    floor = CONFIDENCE_RANK["reported"]
    assert got == expected(lambda e: concerns(e, us) and CONFIDENCE_RANK[e["confidence"]] >= floor)
    assert "pt25-035" not in got and "pt25-033" in got


async def test_cursor_pages_through_every_event_once(example: Client) -> None:
    first = await page(example, limit=7)
    assert len(first["events"]) == 7 and first["next"]
    assert ids(await walk(example, limit=7)) == expected()
    subject = await walk(example, limit=2, subject="issue/donbas")
    assert ids(subject) == ids((await page(example, subject="issue/donbas"))["events"])


async def test_a_walk_is_exact_while_backdated_events_are_appended(example: Client) -> None:
    size = -(-EXAMPLE_EVENTS // 6)  # six pages: five gaps, one append round in each
    first = await page(example, limit=size)
    pinned, cursor, seen = first["known_at"], first["next"], ids(first["events"])
    assert pinned == EXAMPLE_EVENTS
    times = iter(["2014", "2025-11-21", "2014-01-01T00:00:00Z", "2030", "2025-11"])
    for n, when in enumerate(times):
        await post(example, {"type": "x-note", "subject": "issue/donbas", "time": when, "data": n})
        await post(example, {"type": "event.retracted", "time": "2025-12-05",
                             "data": {"event": f"pt25-0{40 + n}", "reason": "test"}})  # fmt: skip
        body = await page(example, limit=size, cursor=cursor)
        assert body["known_at"] == pinned
        seen, cursor = seen + ids(body["events"]), body["next"]
        if cursor is None:
            break
    assert cursor is None and next(times, None) is None  # every append came between pages
    assert seen == expected()  # all of them as known then: no new event, no retraction applied
    now = ids(await walk(example, limit=10))
    assert len(now) == EXAMPLE_EVENTS + 5 - 5
    assert "pt25-041" not in now and now[0] == seen[0]


async def test_retracted_events_leave_and_corrected_ones_move(example: Client) -> None:
    retraction = await post(example, {
        "type": "event.retracted", "time": "2025-12-05",
        "data": {"event": "pt25-038", "reason": "misattributed (test)"},
    })  # fmt: skip
    correction = await post(example, {
        "type": "event.corrected", "time": "2025-12-06",
        "data": {"event": "pt25-030", "time": "2025-11-22",
                 "data": {"by": "party/marco-rubio", "points": 21}},
    })  # fmt: skip
    now = (await page(example, limit=1000))["events"]
    assert "pt25-038" not in ids(now)
    assert retraction["id"] not in ids(now) and correction["id"] not in ids(now)
    revised = next(e for e in now if e["id"] == "pt25-030")
    assert revised["corrected_by"] == correction["id"]
    assert (revised["time"], revised["timegiven"], revised["timeprecision"]) == (
        "2025-11-22T00:00:00Z", "2025-11-22", "day",
    )  # fmt: skip
    assert revised["data"]["points"] == 21 and revised["sequence"] == 30
    assert revised["headline"] == "Marco Rubio revises US 28 Point Plan (now 21 points)"
    order = ids(now)
    assert order.index("pt25-024") < order.index("pt25-030") < order.index("pt25-025")
    # The corrected data decides what the event concerns.
    rubio = ids(await walk(example, subject="party/marco-rubio", limit=1))
    assert "pt25-030" in rubio
    assert "pt25-030" not in ids((await page(example, subject="party/donald-trump"))["events"])
    before = await page(example, limit=1000, known_at=str(retraction["sequence"] - 1))
    assert ids(before["events"]) == expected()


class Counting:
    """A connection that counts the rows its queries return."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn, self.rows = conn, 0

    async def fetch(self, *args: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(*args)
        self.rows += len(rows)
        return rows

    async def fetchrow(self, *args: Any) -> asyncpg.Record | None:
        self.rows += 1
        return await self.conn.fetchrow(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


async def test_a_page_reads_rows_for_its_entries_not_for_every_retraction(
    services: Services, db_url: str
) -> None:
    """SPEC §6: a page costs the same however many retractions and corrections the log
    holds (they are looked up in the read model per entry met, not gathered per page)."""
    notes: list[dict[str, Any]] = [
        {"type": "x-note", "id": f"n{n}", "subject": "party/russia",
         "time": f"2025-11-{1 + n % 28:02d}"}
        for n in range(400)
    ]  # fmt: skip
    meta: list[dict[str, Any]] = [
        {"type": "event.retracted", "id": f"r{n}", "time": "2025-12-01",
         "data": {"event": f"n{n}", "reason": "test"}} if n % 2 else
        {"type": "event.corrected", "id": f"c{n}", "time": "2025-12-01",
         "data": {"event": f"n{n}", "time": "2025-10-01", "data": {"n": n}}}
        for n in range(300)
    ]  # fmt: skip
    lines = [(n, json.dumps(e).encode()) for n, e in enumerate(notes + meta, 1)]
    assert (await import_lines(services.writer, lines)).appended == 700
    conn = await asyncpg.connect(db_url)
    try:
        assert await projector.catch_up(conn) == 700
        for f in (tl.Filters(), tl.Filters(subject="party/russia", start=parse_at("2025-11-10"))):
            counted = Counting(conn)
            page = await tl.read_page(counted, f, 700, None, 5)  # type: ignore[arg-type]
            assert len(page.entries) == 5
            assert counted.rows <= 2 * 5 + 5, f"{counted.rows} rows for a page of 5 ({f})"
    finally:
        await conn.close()


async def test_a_page_is_two_round_trips_the_first_of_a_walk_too(
    example: Client, db_url: str
) -> None:
    """The log's head and the read model's status in one round trip, then the page's
    statement (no correction is on these pages, so nothing more is read)."""
    conn = await asyncpg.connect(db_url)
    sent: list[str] = []
    try:
        await projector.catch_up(conn)
        conn.add_query_logger(lambda q: sent.append(q.query))
        first, _ = await tl.page(conn, tl.Filters(), None, None, 3)
        await asyncio.sleep(0)  # asyncpg hands each query to its loggers with call_soon
        assert len(sent) == 2, sent
        sent.clear()
        await tl.page(conn, tl.Filters(), "5", first.next, 3)
        await asyncio.sleep(0)
        assert len(sent) == 2, sent
    finally:
        await conn.close()


async def test_custom_events_are_shown_with_a_headline(client: Client) -> None:
    await post(client, {"type": "x-press-briefing", "time": "2025-11-03", "data": {"title": "Hi"}})
    await post(client, {"type": "x-note", "subject": "party/russia", "time": "2025-11-02"})
    got = (await page(client))["events"]
    assert [e["headline"] for e in got] == ["Note (Russia)", "Press briefing: Hi"]


async def test_a_pinned_page_is_cacheable_forever(example: Client) -> None:
    first = await example.get("/v1/timeline", params={"limit": 5})
    assert first.headers["cache-control"] == "no-cache"
    nxt = first.json()["next"]
    r = await example.get("/v1/timeline", params={"limit": 5, "cursor": nxt})
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    again = await example.get(
        "/v1/timeline",
        params={"limit": 5, "cursor": nxt},
        headers={"if-none-match": r.headers["etag"]},
    )
    assert again.status_code == 304


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


BAD_CURSORS = [
    "garbage!",
    "",
    b64(b"not json"),
    b64(b'{"v": "2025-11-20T00:00:00Z", "s": 3}'),
    b64(b'{"v": "yesterday", "s": 3, "k": 4}'),
    b64(b'{"v": "2025-11-20T00:00:00Z", "s": 3, "k": 4000}'),  # beyond the log's head
]
BAD_PARAMETERS = [
    ({"from": "yesterday"}, "from"),
    ({"to": "2025-13"}, "to"),
    ({"from": "2025-12-01", "to": "2025-11-01"}, "from"),
    ({"subject": "russia"}, "subject"),
    ({"type": ""}, "type"),
    ({"known_at": "soon"}, "known_at"),
    ({"limit": "1001"}, "limit"),
    ({"limit": "0"}, "limit"),
    ({"min_confidence": "maybe"}, "min_confidence"),
]


async def test_a_bad_cursor_is_400_naming_cursor(example: Client) -> None:
    for cursor in BAD_CURSORS:
        r = await example.get("/v1/timeline", params={"cursor": cursor})
        assert r.status_code == 400, (cursor, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["errors"][0]["path"] == "cursor"


async def test_bad_parameters_name_themselves(client: Client) -> None:
    for params, name in BAD_PARAMETERS:
        r = await client.get("/v1/timeline", params=params)
        assert r.status_code in (400, 422), (params, r.text)
        assert name in [e["path"] for e in r.json()["errors"]], (params, r.text)
