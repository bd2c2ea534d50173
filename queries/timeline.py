"""The timeline: events in valid-time order, keyset-paged, each walk pinned to one known_at.

What a timeline shows, as known at sequence K (SPEC §4; the belief rules are
`projections.knowledge`'s, the same ones every answer uses):

- Every event recorded by K, ordered by the start of its valid time, then by sequence.
- A retraction recorded by K removes its target from the timeline; a retraction that is
  itself retracted restores it. A correction recorded by K shows its target with the
  latest correction applied: replacement `data`, and `time`/`timegiven`/`timeprecision`/
  `timequalifier`/`confidence` when the correction gives them; `corrected_by` names the
  correction, while `sequence`, `recordedtime` and `hash` stay the stored event's own (so
  the original is still found at /v1/events/{id}). The corrected time decides the place
  in the order, and the corrected data decides which subjects the event concerns.
- Retractions and corrections themselves are not timeline entries: they change what is
  believed about the past, and the entries they act on show it. Custom `x-` events are
  entries (projections ignore them; timelines do not), and may be retracted or corrected.

Paging: the cursor holds the last entry's (valid time, sequence) and K. Every page reads
only events with sequence <= K, and the log below K never changes (commit order equals
sequence order, see events/writer.py), so a walk sees exactly the timeline as known at K:
no entry twice, none missing, however many events (backdated or not) are appended
meanwhile. Filters are not in the cursor: the client repeats them with every page.

Cost of a page: the retractions and corrections known by K (for a subject, through the
partial index on event_concerns; for the whole log, a scan of the events that name a
target), their targets by id, then one index range scan in (valid_from, sequence) order —
on event_concerns (subject, valid_from, sequence) with a subject, on events_valid without.
Corrected events are merged in from memory, so SQL never has to know corrected times.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Final

import asyncpg
import msgspec
from msgspec import Struct

from events.envelope import BadParameter, StoredEvent
from events.store import COLUMNS, row_to_recorded, row_to_stored
from events.timeparse import TimeError, format_time, parse_at, parse_time
from events.vocabulary import (
    CONFIDENCE_RANK,
    META_TYPES,
    SUBJECT_RE,
    SUBJECT_RULE,
    references,
    type_matches,
)
from projections.knowledge import Correction, applicable, corrections_by_target, retracted_ids
from queries.question import CursorError, decode_cursor, encode_cursor

MAX_LIMIT: Final = 1_000
_E_COLUMNS: Final = ", ".join("e." + c.strip() for c in COLUMNS.split(","))
_EARLIEST: Final = datetime.fromisoformat("0001-01-01T00:00:00+00:00")
_LATEST: Final = datetime.fromisoformat("9999-12-31T23:59:59.999999+00:00")


class Cursor(Struct, frozen=True, forbid_unknown_fields=True):
    """Where a walk stands: after valid time `v` (RFC 3339) and sequence `s`, known at `k`."""

    v: str
    s: int
    k: int


def decode_timeline_cursor(text: str) -> tuple[datetime, int, int]:
    """(valid time, sequence, known sequence) of a cursor; CursorError when it is not one."""
    c = decode_cursor(text, Cursor)
    try:
        v = datetime.fromisoformat(c.v)
    except ValueError as e:
        raise CursorError(f"not a cursor this service made ({e})") from None
    if v.tzinfo is None or c.s < 1 or c.k < 0:
        raise CursorError("not a cursor this service made (out of range)")
    return v, c.s, c.k


class Filters(Struct, frozen=True, kw_only=True):
    """Which events a timeline shows; bounds are inclusive, on the start of valid time."""

    subject: str | None = None
    type: str | None = None  # exact, or a prefix when it ends in "."
    start: datetime | None = None
    end: datetime | None = None
    min_confidence: str = "disputed"

    def confidences(self) -> list[str]:
        """The confidence levels at or above `min_confidence`."""
        floor = CONFIDENCE_RANK[self.min_confidence]
        return [c for c, rank in CONFIDENCE_RANK.items() if rank >= floor]

    def keeps(self, e: StoredEvent, start: datetime) -> bool:
        """Whether an entry (of the corrected kind, filtered in memory) passes."""
        concerned = self.subject in (None, e.subject) or self.subject in references(e.data)
        if not concerned:
            return False
        if not type_matches(self.type, e.type):
            return False
        return (
            CONFIDENCE_RANK[e.confidence] >= CONFIDENCE_RANK[self.min_confidence]
            and (self.start is None or start >= self.start)
            and (self.end is None or start <= self.end)
        )


class Entry(Struct, frozen=True):
    """One timeline entry: the event as believed at K, where it sorts, what corrected it."""

    event: StoredEvent
    start: datetime
    corrected_by: str | None = None

    @property
    def key(self) -> tuple[datetime, int]:
        """The position in timeline order."""
        return self.start, self.event.sequence


class Belief(Struct, frozen=True):
    """What retractions and corrections known by K do to the stored events they name."""

    hidden: list[int]  # sequences SQL must skip: retracted or corrected events
    corrected: list[Entry]  # corrected events as now believed, in timeline order


class Page(Struct, frozen=True):
    """A page of the timeline and the cursor of the next one (None at the end)."""

    entries: list[Entry]
    next: str | None
    known: int


async def believe(conn: asyncpg.Connection, subject: str | None, known: int) -> Belief:
    """Apply the retractions and corrections recorded by `known` (to all events, or to the
    events concerning `subject`: every meta event acting on one of them concerns it)."""
    if subject is None:
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM events WHERE target IS NOT NULL AND sequence <= $1",  # noqa: S608
            known,
        )
    else:
        rows = await conn.fetch(
            f"""SELECT {COLUMNS} FROM events WHERE sequence IN (
                SELECT sequence FROM event_concerns
                WHERE subject = $1 AND meta AND sequence <= $2)""",  # noqa: S608
            subject,
            known,
        )
    metas = [row_to_recorded(r) for r in rows]
    if not metas:
        return Belief([], [])
    gone = retracted_ids(metas)
    corrections = corrections_by_target(metas, gone)
    targets = await conn.fetch(
        f"SELECT {COLUMNS} FROM events WHERE id = ANY($1::text[]) AND sequence <= $2",  # noqa: S608
        sorted(gone | corrections.keys()),
        known,
    )
    hidden, corrected = [], []
    for row in targets:
        if row["type"] in META_TYPES:  # only by a reused id; never a timeline entry anyway
            continue
        hidden.append(row["sequence"])
        if row["id"] not in gone:
            c = applicable(row["type"], corrections[row["id"]])
            corrected.append(_corrected(row_to_stored(row), row["valid_from"], c))
    return Belief(sorted(hidden), sorted(corrected, key=lambda e: e.key))


def _corrected(e: StoredEvent, start: datetime, c: Correction | None) -> Entry:
    """`e` as correction `c` states it, in the API's shape (itself when there is none)."""
    if c is None:
        return Entry(e, start)
    changes: dict[str, Any] = {"data": c.data.data}
    if c.time is not None:
        start = c.time.start
        changes |= {
            "time": format_time(c.time.start),
            "timegiven": c.data.time,
            "timeprecision": c.time.precision,
            "timequalifier": c.time.qualifier,
        }
    if c.data.confidence is not None:
        changes["confidence"] = c.data.confidence
    return Entry(msgspec.structs.replace(e, **changes), start, c.id)


async def read_page(
    conn: asyncpg.Connection,
    f: Filters,
    known: int,
    after: tuple[datetime, int] | None,
    limit: int,
    belief: Belief | None = None,
) -> Page:
    """Up to `limit` entries after position `after`, as known at sequence `known`."""
    if belief is None:
        belief = await believe(conn, f.subject, known)
    rows = await _scan(conn, f, known, after or (_EARLIEST, 0), limit + 1, belief.hidden)
    found = [Entry(row_to_stored(r), r["valid_from"]) for r in rows]
    found += [
        e
        for e in belief.corrected
        if (after is None or e.key > after) and f.keeps(e.event, e.start)
    ]
    found.sort(key=lambda e: e.key)
    entries = found[:limit]
    nxt = None
    if len(found) > limit:
        last = entries[-1]
        nxt = encode_cursor(Cursor(format_time(last.start), last.event.sequence, known))
    return Page(entries, nxt, known)


async def _scan(
    conn: asyncpg.Connection,
    f: Filters,
    known: int,
    after: tuple[datetime, int],
    limit: int,
    hidden: list[int],
) -> list[asyncpg.Record]:
    """Stored events past `after` in (valid_from, sequence) order: one index range scan."""
    type_exact = f.type if f.type is not None and not f.type.endswith(".") else None
    type_prefix = f.type if f.type is not None and f.type.endswith(".") else None
    # $1 known, $2/$3 position, $4/$5 valid-time bounds, $6/$7 type, $8 confidences,
    # $9 hidden sequences, $10 limit, $11 subject.
    where = """
        AND ($6::text IS NULL OR e.type = $6)
        AND ($7::text IS NULL OR starts_with(e.type, $7))
        AND e.confidence = ANY($8::text[])
        AND NOT (e.sequence = ANY($9::bigint[]))"""
    if f.subject is None:
        sql = f"""
            SELECT {_E_COLUMNS} FROM events e
            WHERE e.sequence <= $1 AND e.target IS NULL
              AND (e.valid_from, e.sequence) > ($2, $3)
              AND e.valid_from >= $4 AND e.valid_from <= $5 {where}
            ORDER BY e.valid_from, e.sequence LIMIT $10"""  # noqa: S608 - constants only
    else:
        sql = f"""
            SELECT {_E_COLUMNS} FROM event_concerns c JOIN events e ON e.sequence = c.sequence
            WHERE c.subject = $11 AND NOT c.meta AND c.sequence <= $1
              AND (c.valid_from, c.sequence) > ($2, $3)
              AND c.valid_from >= $4 AND c.valid_from <= $5 {where}
            ORDER BY c.valid_from, c.sequence LIMIT $10"""  # noqa: S608 - constants only
    args: list[Any] = [
        known, after[0], after[1], f.start or _EARLIEST, f.end or _LATEST, type_exact,
        type_prefix, f.confidences(), hidden, limit,
    ]  # fmt: skip
    if f.subject is not None:
        args.append(f.subject)
    return await conn.fetch(sql, *args)


async def walk(
    conn: asyncpg.Connection, f: Filters, known: int, batch: int = MAX_LIMIT
) -> AsyncIterator[Entry]:
    """Every entry of the timeline as known at `known`, a page at a time (for exports)."""
    belief = await believe(conn, f.subject, known)
    after: tuple[datetime, int] | None = None
    while True:
        page = await read_page(conn, f, known, after, batch, belief)
        for e in page.entries:
            yield e
        if page.next is None:
            return
        after = page.entries[-1].key


def parse_filters(
    from_: str | None,
    to: str | None,
    subject: str | None,
    type_: str | None,
    min_confidence: str,
) -> Filters:
    """The filters of a timeline, export or stream; BadParameter naming a bad one."""
    try:
        start = parse_time(from_).start if from_ is not None else None
    except TimeError as e:
        raise BadParameter("from", str(e)) from None
    try:
        end = parse_at(to) if to is not None else None
    except TimeError as e:
        raise BadParameter("to", str(e)) from None
    if start is not None and end is not None and start > end:
        raise BadParameter("from", "must not be later than `to`")
    if subject is not None and not SUBJECT_RE.match(subject):
        raise BadParameter("subject", SUBJECT_RULE)
    if type_ is not None and not (0 < len(type_) <= 128 and type_.isprintable()):
        raise BadParameter(
            "type", "an event type, or a prefix ending in '.', of 1 to 128 characters"
        )
    return Filters(subject=subject, type=type_, start=start, end=end, min_confidence=min_confidence)
