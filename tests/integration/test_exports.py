"""Exports against a real PostgreSQL: NDJSON that imports back, TimelineJS3, iCalendar."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import icalendar
import msgspec
import pytest

from events import integrity, store
from events.envelope import StoredEvent
from events.timeparse import parse_time
from events.vocabulary import references
from events.writer import Writer
from service.database import create_pool
from service.importer import import_lines
from service.wiring import EXAMPLE
from tests.conftest import EXAMPLE_EVENTS

Client = httpx.AsyncClient
MOSCOW = "meeting/moscow-2025-12-02"
WASHINGTON = "meeting/washington-2025-12"
LINES: list[dict[str, Any]] = [msgspec.json.decode(x) for x in EXAMPLE.read_bytes().splitlines()]


async def post(c: Client, event: dict[str, Any]) -> dict[str, Any]:
    r = await c.post("/v1/events", json=event)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def as_given(e: Any) -> tuple[Any, ...]:
    """What an import must reproduce: identity, type, subject, data and times as given."""
    if isinstance(e, StoredEvent):
        e = msgspec.to_builtins(e)
    fields = ("sequence", "id", "source", "type", "subject", "timegiven", "time", "confidence")
    return (*(e[f] for f in fields), msgspec.json.encode(e["data"]))


async def test_ndjson_export_imports_back_into_an_empty_database(
    example: Client, second_db: str
) -> None:
    target = await post(example, {"type": "x-note", "time": "2025-11-02T10:30:00.123456+02:00"})
    await post(example, {"type": "event.retracted", "time": "2025-12-05",
                         "data": {"event": target["id"], "reason": "test"}})  # fmt: skip
    await post(example, {"type": "event.corrected", "time": "2025-12-06", "data": {
        "event": "pt25-030", "time": "2025-11-22", "data": {"points": 21}}})  # fmt: skip
    r = await example.get("/v1/export/events.ndjson", params={"batch": 7})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    lines = r.content.splitlines()
    exported = [msgspec.json.decode(line) for line in lines]
    head = EXAMPLE_EVENTS + 3
    assert [e["sequence"] for e in exported] == list(range(1, head + 1))
    assert exported[0]["specversion"] == "1.0" and r.headers["annals-known-at"] == str(head)

    pool = await create_pool(second_db, min_size=1, max_size=2)
    writer = Writer(pool)
    writer.start()
    try:
        stats = await import_lines(writer, enumerate(lines, start=1))
        async with pool.acquire() as conn:
            imported = await store.read_log(conn, 0, 1000)
            verified = await integrity.verify(conn)
    finally:
        await writer.stop()
        await pool.close()
    assert (stats.appended, stats.already) == (head, 0)
    assert [as_given(e) for e in imported] == [as_given(e) for e in exported]
    assert verified.ok and verified.head == head


async def test_ndjson_export_pinned_to_known_at_is_a_prefix_of_the_log(example: Client) -> None:
    r = await example.get("/v1/export/events.ndjson", params={"known_at": "10"})
    assert [msgspec.json.decode(x)["id"] for x in r.content.splitlines()] == [
        f"pt25-{n:03}" for n in range(1, 11)
    ]
    empty = await example.get("/v1/export/events.ndjson", params={"known_at": "0"})
    assert empty.status_code == 200 and empty.content == b""


async def test_timelinejs_has_the_required_fields_and_dates_to_their_precision(
    example: Client,
) -> None:
    r = await example.get("/v1/export/timelinejs")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["title"]["text"]["headline"]
    events = {e["unique_id"]: e for e in doc["events"]}
    assert len(events) == EXAMPLE_EVENTS
    for e in doc["events"]:
        assert isinstance(e["start_date"]["year"], int) and e["text"]["headline"]
    month = events["pt25-039"]  # 2025-11~
    assert month["start_date"] == {"year": 2025, "month": 11, "display_date": "c. November 2025"}
    assert month["display_date"] == "c. November 2025"
    assert events["pt25-001"]["start_date"] == {"year": 2014, "display_date": "2014"}
    assert events["pt25-044"]["display_date"] == "30 November 2025?"
    assert events["pt25-038"]["start_date"]["day"] == 29
    assert events["pt25-038"]["group"] == "Russia"  # the party's name, not its id
    assert "<blockquote>" in events["pt25-045"]["text"]["text"]  # the Axios quote
    assert "Confidence: reported" in events["pt25-037"]["text"]["text"]


async def test_timelinejs_groups_by_display_name_and_credits_sources(example: Client) -> None:
    note = {"type": "x-note", "subject": "party/russia", "time": "2025-11-30",
            "source": "urn:annals:test:desk", "data": {"text": "no outlet"}}  # fmt: skip
    await post(example, note)
    doc = (await example.get("/v1/export/timelinejs")).json()
    titles = {e["subject"]: e["data"]["title"] for e in LINES if e["type"] == "plan.proposed"}
    groups = {e["unique_id"]: e["group"] for e in doc["events"]}
    for line in LINES:
        if line.get("subject") in titles:
            assert groups[line["id"]] == titles[line["subject"]]
    assert not any(g.startswith(("party/", "plan/", "meeting/")) for g in groups.values())
    for e in doc["events"]:
        sources = e["text"]["text"].rpartition('<p class="annals-sources">')[2]
        assert sources.startswith(("Source: ", "Sources: ", "Recorded by ")), e
    by_id = {e["unique_id"]: e for e in doc["events"]}
    assert "Source: bne IntelliNews" in by_id["pt25-001"]["text"]["text"]
    slide = next(e for e in doc["events"] if "no outlet" in e["text"]["text"])
    assert "Recorded by urn:annals:test:desk" in slide["text"]["text"]


async def test_timelinejs_takes_the_timeline_filters(example: Client) -> None:
    params = {"subject": "issue/donbas", "type": "position.", "min_confidence": "confirmed"}
    doc = (await example.get("/v1/export/timelinejs", params=params)).json()
    want = [
        (parse_time(e["time"]).start, n, e["id"])
        for n, e in enumerate(LINES)
        if e["type"].startswith("position.")
        and e["confidence"] == "confirmed"
        and "issue/donbas" in references(e["data"])
    ]
    assert [e["unique_id"] for e in doc["events"]] == [i for *_, i in sorted(want)]
    assert {"pt25-040", "pt25-038"} <= {e["unique_id"] for e in doc["events"]}
    assert doc["title"]["text"]["headline"] == "Donbas: timeline"
    bad = await example.get("/v1/export/timelinejs", params={"from": "soon"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "from"


async def test_timelinejs_slides_of_an_id_two_sources_share_name_their_sequence(
    example: Client,
) -> None:
    """A slide's unique_id is the event's id, unless several events share it: then each is
    `id~sequence`, the same in every export that holds it, whatever the filters."""
    for source in ("urn:annals:test:one", "urn:annals:test:two"):
        await post(example, {"type": "x-note", "id": "shared-1", "source": source,
                             "subject": "party/russia", "time": "2025-11-30"})  # fmt: skip
    head = EXAMPLE_EVENTS + 2
    want = {f"shared-1~{head - 1}", f"shared-1~{head}"}
    ids = [e["unique_id"] for e in (await example.get("/v1/export/timelinejs")).json()["events"]]
    assert want <= set(ids) and "shared-1" not in ids and "pt25-001" in ids
    assert len(ids) == len(set(ids)) == head
    only = await example.get("/v1/export/timelinejs", params={"type": "x-note"})
    assert {e["unique_id"] for e in only.json()["events"]} == want
    before = await example.get("/v1/export/timelinejs", params={"known_at": str(head - 1)})
    assert "shared-1" in {e["unique_id"] for e in before.json()["events"]}


async def test_timelinejs_of_nothing_is_a_document_with_its_title(example: Client) -> None:
    r = await example.get("/v1/export/timelinejs", params={"type": "x-none", "known_at": "5"})
    assert r.status_code == 200 and r.headers["cache-control"].endswith("immutable")
    assert r.json() == {
        "events": [],
        "title": {"text": {"headline": "Annals: timeline",
                           "text": "0 events, as known at sequence 5."}},
    }  # fmt: skip


def vevents(body: bytes) -> dict[str, Any]:
    cal = icalendar.Calendar.from_ical(body)
    return {str(e["uid"]): e for e in cal.walk("VEVENT")}


async def test_icalendar_parses_back_with_the_moscow_meeting_on_2_december(
    example: Client,
) -> None:
    r = await example.get("/v1/export/meetings.ics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/calendar")
    events = vevents(r.content)
    assert set(events) == {f"{MOSCOW}@annals", f"{WASHINGTON}@annals"}
    moscow = events[f"{MOSCOW}@annals"]
    assert moscow.decoded("dtstart") == date(2025, 12, 2)
    assert str(moscow["location"]) == "Moscow"
    assert str(moscow["status"]) == "TENTATIVE"  # Axios-reported
    washington = events[f"{WASHINGTON}@annals"]  # "2025-12~": a month, approximately
    assert washington.decoded("dtstart") == date(2025, 12, 1)
    assert washington.decoded("dtend") == date(2026, 1, 1)
    only = vevents((await example.get("/v1/export/meetings.ics", params={
        "subject": "party/volodymyr-zelenskiy"})).content)  # fmt: skip
    assert set(only) == {f"{WASHINGTON}@annals"}


async def test_icalendar_marks_cancelled_and_rescheduled_meetings(example: Client) -> None:
    await post(example, {"type": "meeting.cancelled", "subject": WASHINGTON, "time": "2025-12-01",
                         "data": {"reason": "test"}})  # fmt: skip
    await post(example, {"type": "meeting.rescheduled", "subject": MOSCOW, "time": "2025-12-01",
                         "data": {"starts": "2025-12-03T14:00:00Z"}})  # fmt: skip
    events = vevents((await example.get("/v1/export/meetings.ics")).content)
    assert str(events[f"{WASHINGTON}@annals"]["status"]) == "CANCELLED"
    moscow = events[f"{MOSCOW}@annals"]
    assert moscow.decoded("dtstart").isoformat() == "2025-12-03T14:00:00+00:00"
    assert int(moscow["sequence"]) == 1
    before = vevents(
        (await example.get("/v1/export/meetings.ics", params={"known_at": "44"})).content
    )
    assert str(before[f"{WASHINGTON}@annals"]["status"]) == "TENTATIVE"


PINNED_EXPORTS = [
    ("/v1/export/events.ndjson", {}),
    ("/v1/export/events.csv", {"subject": "party/russia"}),
    ("/v1/export/timelinejs", {"type": "plan."}),
    ("/v1/export/meetings.ics", {"at": "2025-12-01"}),
]


@pytest.mark.parametrize(("path", "params"), PINNED_EXPORTS)
async def test_a_pinned_export_carries_a_strong_etag_and_answers_304_to_it(
    example: Client, path: str, params: dict[str, str]
) -> None:
    """SPEC §4: an answer whose `known_at` is pinned carries a strong ETag and is immutable;
    an export is streamed, so its ETag names the question it answers, pinned to a sequence."""
    pinned = {**params, "known_at": "40"}
    first = await example.get(path, params=pinned)
    etag = first.headers["etag"]
    assert first.status_code == 200 and etag.startswith('"') and first.content
    assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
    await post(example, {"type": "x-note", "subject": "party/russia", "time": "2025-11-21"})
    again = await example.get(path, params=pinned)
    assert again.headers["etag"] == etag and again.content == first.content
    cached = await example.get(path, params=pinned, headers={"If-None-Match": f'"x", {etag}'})
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers["etag"] == etag and cached.headers["annals-known-at"] == "40"
    other = await example.get(path, params={**params, "known_at": "39"})
    assert other.headers["etag"] != etag
    head = await example.get(path, params=params)
    assert head.headers["cache-control"] == "no-cache" and head.headers["etag"] != etag
    unchanged = await example.get(
        path, params=params, headers={"If-None-Match": head.headers["etag"]}
    )
    assert unchanged.status_code == 304  # nothing was appended since


async def test_an_exports_names_are_the_latest_known_not_the_clocks(example: Client) -> None:
    """A subject's name in the TimelineJS document is the one its state holds at the end of
    valid time, as known at the document's sequence: a renaming dated in the future is
    already known, and the pinned document does not change as the clock reaches its date."""
    plan = "plan/geneva-19-point-plan"
    await post(example, {"type": "plan.revised", "subject": plan, "time": "2999-01-01",
                         "data": {"title": "The 2999 plan"}})  # fmt: skip
    doc = (await example.get("/v1/export/timelinejs", params={"subject": plan})).json()
    assert {e["group"] for e in doc["events"]} == {"The 2999 plan"}
    assert doc["title"]["text"]["headline"] == "The 2999 plan: timeline"
