"""The reference: answers by a full replay of the log, which the read model must equal."""

from __future__ import annotations

from datetime import datetime

import projections
from events import store
from events.store import COLUMNS, Conn, row_to_recorded, row_to_stored
from events.timeparse import LAST_INSTANT
from events.vocabulary import CONFIDENCE_RANK, Recorded, type_matches
from projections.knowledge import applicable, believed
from queries.question import Question
from queries.timeline import Entry, Filters, entry_of


async def load_subject(conn: Conn, subject: str, at: datetime | None, known: int) -> list[Recorded]:
    """Every event known by `known` that can count for `subject` at valid time `at`.

    That is: events concerning it up to `at` (one index range scan), every retraction and
    correction concerning it whatever its time, and the family of all of those (the
    closure over ids, `store.family`): the targets of those corrections (a correction may
    move an event's time before `at`), and the retractions and corrections that name one
    of its events by an id another source reused, which concern that source's subjects.
    """
    names = await conn.fetch(
        """
        SELECT id, target FROM events WHERE sequence IN (
            SELECT sequence FROM event_concerns
            WHERE subject = $1 AND sequence <= $3 AND (valid_from <= $2 OR meta))
        """,
        subject,
        at if at is not None else LAST_INSTANT,
        known,
    )
    ids = {r["id"] for r in names} | {r["target"] for r in names if r["target"] is not None}
    return await store.family(conn, ids, known) if ids else []


async def replayed_state(conn: Conn, subject: str, q: Question) -> projections.State | None:
    """One subject's state by a full replay of what can count."""
    known = await load_subject(conn, subject, q.at, q.known)
    return projections.project(subject, known, at=q.at, min_confidence=q.min_confidence)


async def replayed_timeline(conn: Conn, f: Filters, known: int) -> list[Entry]:
    """The timeline as known at `known`, by applying the belief rules in memory to what can
    concern it: everything known, or for a subject what `load_subject` reads."""
    if f.subject is not None:
        concerning = await load_subject(conn, f.subject, None, known)
        found = await store.log_rows(conn, [e.sequence for e in concerning])
    else:
        found = await conn.fetch(
            f"SELECT {COLUMNS} FROM events WHERE sequence <= $1",  # noqa: S608 - a constant
            known,
        )
    rows = {r["sequence"]: r for r in found}
    recorded = {s: row_to_recorded(r) for s, r in rows.items()}
    out = []
    for sequence, v in believed(recorded.values()).items():
        c = None if v.version == sequence else applicable(v.event.type, [recorded[v.version]])
        entry = entry_of(row_to_stored(rows[sequence]), rows[sequence]["valid_from"], c)
        if (
            (f.subject is None or f.subject in projections.concerns(v.event))
            and type_matches(f.type, v.event.type)
            and CONFIDENCE_RANK[v.event.confidence] >= CONFIDENCE_RANK[f.min_confidence]
            and (f.start is None or entry.start >= f.start)
            and (f.end is None or entry.start <= f.end)
        ):
            out.append(entry)
    return sorted(out, key=lambda e: e.key)
