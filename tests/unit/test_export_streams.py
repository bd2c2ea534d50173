"""The streamed exports' documents: whole and well formed however their pages fall."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import icalendar

from projections import MeetingState
from queries.timeline import Filters
from service import exports

STAMP = datetime(2025, 12, 1, 9, 30, tzinfo=UTC)


async def pages_of(pages: Iterable[list[Any]]) -> AsyncIterator[list[Any]]:
    for page in pages:
        yield page


def streamed(chunks: AsyncIterator[bytes]) -> list[bytes]:
    async def collect() -> list[bytes]:
        return [c async for c in chunks]

    return asyncio.run(collect())


def meeting(n: int, starts: str | None, **more: Any) -> MeetingState:
    return MeetingState(id=f"meeting/m{n}", title=f"Meeting {n} " + "x" * 80, starts=starts, **more)


def test_a_calendar_streamed_in_pages_is_the_librarys_own_calendar_byte_for_byte() -> None:
    pages = [
        [meeting(1, "2025-12-02"), meeting(2, None), meeting(3, "2025-12~")],
        [],
        [meeting(4, "2025-12-03T14:00:00Z", location="Moscow", participants=["party/a"])],
    ]
    counts: list[int] = []

    chunks = streamed(exports.calendar(pages_of(pages), Filters(), STAMP, counts.append))

    whole = b"".join(chunks)
    cal = icalendar.Calendar.from_ical(whole)
    assert cal.to_ical() == whole  # what icalendar itself writes for these components
    uids = [str(e["uid"]) for e in cal.walk("VEVENT")]
    assert uids == ["meeting/m1@annals", "meeting/m3@annals", "meeting/m4@annals"]
    assert str(cal["x-wr-calname"]) == "Annals meetings"
    assert counts == [2, 2, 3]
    assert len(chunks) == 4  # the calendar's start, a chunk per page with meetings, its end


def test_an_empty_calendar_is_still_a_calendar() -> None:
    whole = b"".join(
        streamed(exports.calendar(pages_of([[], [meeting(1, None)]]), Filters(), STAMP))
    )

    cal = icalendar.Calendar.from_ical(whole)
    assert cal.walk("VEVENT") == [] and cal.to_ical() == whole
