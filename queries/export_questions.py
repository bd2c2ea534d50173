"""What the exports hold, asked once for the HTTP exports and `annals export`: the whole
timeline with the names of its subjects, and every meeting with the calendar's stamp."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

import asyncpg

from events import store
from events.store import Conn
from projections import State
from queries import answers, question
from queries import timeline as tl
from queries.names import names_known_at


class Timeline(NamedTuple):
    """The timeline whole, as known at one sequence, and its subjects' display names."""

    walk: tl.Walk
    entries: list[tl.Entry]
    names: dict[str, str]


class Meetings(NamedTuple):
    """Every meeting's state, and the stamp of a calendar of them."""

    states: list[State]
    stamp: datetime


async def timeline(
    conn: asyncpg.Connection,
    filters: tl.Filters,
    known_at: str | None,
    progress: Callable[[int], None] | None = None,
) -> Timeline:
    """Every timeline entry through `filters` as known at `known_at`, and the names of the
    entries' subjects; `progress` hears the sequence of each entry read."""
    w = await tl.pin(conn, filters, known_at, None)
    entries: list[tl.Entry] = []
    async for entry in tl.walk(conn, w.filters, w.known):
        entries.append(entry)
        if progress is not None:
            progress(entry.event.sequence)
    subjects = {e.event.subject for e in entries if e.event.subject is not None}
    return Timeline(w, entries, await names_known_at(conn, subjects, w.known))


async def meetings(
    conn: Conn, at: str | None, known_at: str | None, min_confidence: str, page_facts: int
) -> Meetings:
    """Every meeting's state at `at` as known at `known_at`, read in pages of at most
    `page_facts` facts, and the stamp of a calendar of them: when the newest event it knows
    was recorded (the epoch for an empty log), so the same question always gives the same
    calendar."""
    q = await question.ask(conn, at, known_at, min_confidence)
    states = [state async for _, state in answers.walk(conn, q, "meeting/", page_facts)]
    newest = await store.read_log(conn, q.known - 1, 1) if q.known > 0 else []
    stamp = (
        datetime.fromisoformat(newest[0].recordedtime)
        if newest
        else datetime(1970, 1, 1, tzinfo=UTC)
    )
    return Meetings(states, stamp)
