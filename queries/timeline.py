"""The timeline: events in valid-time order, keyset-paged, each walk pinned to one known_at
(what it shows and what a page costs: docs/READ_MODEL.md, "The timeline")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any, Final

import asyncpg
import msgspec
from msgspec import Struct

from events import store
from events.envelope import MAX_SEQUENCE, BadParameter, StoredEvent
from events.store import COLUMNS, row_to_stored
from events.timeparse import (
    FIRST_INSTANT,
    LAST_INSTANT,
    TimeError,
    format_time,
    parse_at,
    parse_time,
)
from events.vocabulary import (
    CONFIDENCE_RANK,
    DEFAULT_MIN_CONFIDENCE,
    MAX_TYPE,
    SUBJECT_RE,
    SUBJECT_RULE,
    type_matches_sql,
)
from projections.knowledge import Correction, applicable
from queries import model, projector
from queries.question import (
    CursorError,
    check_confidence,
    decode_cursor,
    encode_cursor,
    known_as_of,
)

MAX_LIMIT: Final = 1_000
_E_COLUMNS: Final = ", ".join("e." + c.strip() for c in COLUMNS.split(","))


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
    if v.tzinfo is None or not (1 <= c.s <= MAX_SEQUENCE and 0 <= c.k <= MAX_SEQUENCE):
        raise CursorError("not a cursor this service made (out of range)")
    return v, c.s, c.k


class Filters(Struct, frozen=True, kw_only=True):
    """Which events a timeline shows; bounds are inclusive, on the start of valid time."""

    subject: str | None = None
    type: str | None = None  # exact, or a prefix when it ends in "."
    start: datetime | None = None
    end: datetime | None = None
    min_confidence: str = DEFAULT_MIN_CONFIDENCE


class Entry(Struct, frozen=True):
    """One timeline entry: the event as believed at K, where it sorts, what corrected it."""

    event: StoredEvent
    start: datetime
    corrected_by: str | None = None

    @property
    def key(self) -> tuple[datetime, int]:
        """The position in timeline order."""
        return self.start, self.event.sequence


class Page(Struct, frozen=True):
    """A page of the timeline and the cursor of the next one (None at the end)."""

    entries: list[Entry]
    next: str | None
    known: int


class Walk(Struct, frozen=True):
    """A walk pinned: what to show, as known at which sequence, from where; `pinned`: the
    answer can never change; `status`: the read model's (rules, checkpoint) when pinned."""

    filters: Filters
    known: int
    pinned: bool
    after: tuple[datetime, int] | None = None
    status: tuple[str, int] | None = None


def read_pin(known_at: str | None, cursor: str | None) -> str | int | None:
    """What a page is computed as of, to choose a connection that holds it: its cursor's
    sequence, else `known_at` (a cursor this service did not make: None, and `pin` names
    the problem)."""
    if cursor is None:
        return known_at
    try:
        return decode_timeline_cursor(cursor)[2]
    except CursorError:
        return None


async def pin(
    conn: asyncpg.Connection, filters: Filters, known_at: str | None, cursor: str | None
) -> Walk:
    """The cursor's known sequence and position when paging on, else `known_at` resolved;
    CursorError for a cursor this service did not make, or made for a longer log. The
    log's head and the read model's status come in one round trip."""
    v, s, k = decode_timeline_cursor(cursor) if cursor is not None else (None, 0, None)
    known, pinned, status = await known_as_of(conn, known_at, k)
    return Walk(filters, known, pinned, None if v is None else (v, s), status)


async def page(
    conn: asyncpg.Connection,
    f: Filters,
    known_at: str | None,
    cursor: str | None,
    limit: int,
    max_bytes: int | None = None,
) -> tuple[Page, bool]:
    """A page of a walk (`pin`, then `read_page`), and whether it can never change."""
    w = await pin(conn, f, known_at, cursor)
    found = await read_page(conn, w.filters, w.known, w.after, limit, w.status, max_bytes=max_bytes)
    return found, w.pinned


def entry_of(e: StoredEvent, start: datetime, c: Correction | None) -> Entry:
    """Stored event `e` (valid from `start`) as correction `c` states it, in the API's shape
    (itself when there is none)."""
    if c is None:
        return Entry(e, start)
    changes = c.changes()
    if c.time is not None:  # the API's time is text, beside the time as given
        start = c.time.start
        changes |= {"time": format_time(c.time.start), "timegiven": c.data.time}
    return Entry(msgspec.structs.replace(e, **changes), start, c.id)


async def read_page(
    conn: asyncpg.Connection,
    f: Filters,
    known: int,
    after: tuple[datetime, int] | None,
    limit: int,
    status: tuple[str, int] | None = None,
    *,
    max_bytes: int | None = None,
) -> Page:
    """Up to `limit` entries after position `after`, as known at sequence `known`, ending
    before the entry that would take the page past about `max_bytes` bytes (its first
    entry always comes, whatever its size: store.EVENT_BYTES); `status` is the read
    model's, when the caller has just read it. The database drops what does not fit, so
    no more is fetched."""
    known = await projector.ensure(conn, known, status or await model.status(conn))
    statement = _statement(f, known, after or (FIRST_INSTANT, 0), limit + 1)
    rows = await conn.fetch(*statement, max_bytes or _NO_BOUND)
    versions = [r["version"] for r in rows if r["version"] is not None]
    corrections = await store.recorded_events(conn, versions) if versions else {}
    found = []
    for r in rows:
        c = None
        if r["version"] is not None:
            c = applicable(r["type"], [corrections[r["version"]]])
            assert c is not None, "the projector chose this correction because it applies"
        found.append(entry_of(row_to_stored(r), r["start"], c))
    entries = found[:limit]
    nxt = None
    if rows and rows[0]["candidates"] > len(entries):
        last = entries[-1]
        nxt = encode_cursor(Cursor(format_time(last.start), last.event.sequence, known))
    return Page(entries, nxt, known)


# The stored events a page shows: every event known by $1 past the position ($2, $3) (the
# `from` bound is folded into it, so that it is where the index scan starts), in
# (valid_from, sequence) order, but those hidden at $1 (retracted, or restated: they come
# from the second part). One index range scan: events_valid for the whole log,
# event_concerns (subject, valid_from, sequence) for a subject.
_STORED_ALL: Final = f"""
SELECT {_E_COLUMNS}, e.valid_from AS start, NULL::bigint AS version FROM events e
WHERE e.sequence <= $1 AND e.target IS NULL
  AND (e.valid_from, e.sequence) > ($2, $3) AND e.valid_from <= $4
  AND e.confidence = ANY($6::text[]) {{filters}}
ORDER BY e.valid_from, e.sequence LIMIT $8"""  # noqa: S608 - constants only

_STORED_SUBJECT: Final = f"""
SELECT {_E_COLUMNS}, c.valid_from AS start, NULL::bigint AS version
FROM event_concerns c JOIN events e ON e.sequence = c.sequence
WHERE c.subject = $9 AND NOT c.meta AND c.sequence <= $1
  AND (c.valid_from, c.sequence) > ($2, $3) AND c.valid_from <= $4
  AND e.confidence = ANY($6::text[]) {{filters}}
ORDER BY c.valid_from, c.sequence LIMIT $8"""  # noqa: S608 - constants only

# The `type` filter ($5), in both parts.
_BY_TYPE: Final = f"($5::text IS NULL OR {type_matches_sql('e.type', '$5::text')})"

_FILTERS: Final = f"""
  AND {_BY_TYPE}
  AND NOT EXISTS (
      SELECT FROM read_hidden h WHERE h.sequence = e.sequence AND {model.believed_at("h", "$1")})"""

# The restated events a page shows: versions believed at $1 (for subject $9, or '' for the
# whole log), placed by their restated valid time.
_RESTATED: Final = f"""
SELECT {_E_COLUMNS}, r.valid_from AS start, r.version
FROM read_restated r JOIN events e ON e.sequence = r.sequence
WHERE r.subject = $9 AND {model.believed_at("r", "$1")}
  AND (r.valid_from, r.sequence) > ($2, $3) AND r.valid_from <= $4
  AND r.confidence >= $7
  AND {_BY_TYPE}
ORDER BY r.valid_from, r.sequence LIMIT $8"""  # noqa: S608 - constants only

# The page: the first $8 entries of both parts, of which those that fit in $10 bytes (the
# first always), each row with the count of entries there were to choose from.
_PAGE: Final = """
SELECT * FROM (
    SELECT p.*, sum({size}) OVER w AS upto, row_number() OVER w AS n,
           count(*) OVER () AS candidates
    FROM (SELECT * FROM (({stored}) UNION ALL ({restated})) u
          ORDER BY start, sequence LIMIT $8) p
    WINDOW w AS (ORDER BY start, sequence)
) q
WHERE upto <= $10 OR n = 1
ORDER BY start, sequence"""
_NO_BOUND: Final = 2**62


def _statement(f: Filters, known: int, after: tuple[datetime, int], limit: int) -> tuple[Any, ...]:
    """The page's statement and its arguments."""
    stored = _STORED_ALL if f.subject is None else _STORED_SUBJECT
    sql = _PAGE.format(
        size=store.EVENT_BYTES, stored=stored.format(filters=_FILTERS), restated=_RESTATED
    )
    floor = CONFIDENCE_RANK[f.min_confidence]
    confidences = [c for c, rank in CONFIDENCE_RANK.items() if rank >= floor]
    if f.start is not None and after < (f.start, 0):
        after = (f.start, 0)  # sequences start at 1: (start, 0) is just before `start`
    return (
        sql, known, after[0], after[1], f.end or LAST_INSTANT, f.type,
        confidences, floor, limit, f.subject or "",
    )  # fmt: skip


async def pages(
    acquire: store.Acquire, f: Filters, known: int, rows: int, max_bytes: int
) -> AsyncIterator[Page]:
    """Every page of the timeline through `f` as known at `known` (`read_page`'s, of `rows`
    entries and about `max_bytes` bytes), each read on a connection of its own from
    `acquire`: for exports."""
    after: tuple[datetime, int] | None = None
    while True:
        async with acquire(known) as conn:
            page = await read_page(conn, f, known, after, rows, max_bytes=max_bytes)
        yield page
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
    if type_ is not None and not (0 < len(type_) <= MAX_TYPE and type_.isprintable()):
        raise BadParameter(
            "type", f"an event type, or a prefix ending in '.', of 1 to {MAX_TYPE} characters"
        )
    check_confidence(min_confidence)
    return Filters(subject=subject, type=type_, start=start, end=end, min_confidence=min_confidence)
