"""The store: raw SQL over asyncpg for reading the log (the append transaction is
events/append.py, its decisions events/accept.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Final, TypeAlias

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy
from msgspec import Struct

from events.accept import Appended, Conflict, Head, Precondition, concerns_of
from events.chain import GENESIS, canonical, link
from events.envelope import BadParameter, StoredEvent
from events.timeparse import TimeError, format_time, parse_at, parse_time
from events.vocabulary import (
    META_TYPES,
    VOCABULARY,
    Payload,
    Recorded,
)

# A connection, or one lent by a pool: every query here takes either.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
# A connection that holds what is known at a pin (a sequence, a `known_at` text, or None for
# the head), for a question or one page of an export's walk: the HTTP exports pass
# Services.acquire_read (a pooled connection, held only while a page is read, never while a
# slow client takes the chunk), `annals export` its own connection.
Acquire: TypeAlias = "Callable[[int | str | None], AbstractAsyncContextManager[Any]]"

COLUMNS: Final = (
    "sequence, id, source, type, subject, time_given, valid_from, time_precision,"
    " time_qualifier, confidence, data::text AS data, recorded_at, hash, predecessor_hash"
)
# What `row_to_recorded` reads: a fold needs neither the chain's hashes nor the time as given.
RECORDED_COLUMNS: Final = (
    "sequence, id, source, type, subject, valid_from, time_precision,"
    " time_qualifier, confidence, data::text AS data, recorded_at"
)
_decoders: Final[dict[type[Payload], msgspec.json.Decoder[Any]]] = {
    cls: msgspec.json.Decoder(cls) for cls, _ in VOCABULARY.values()
}
_any_json: Final = msgspec.json.Decoder()
_any_encoder: Final = msgspec.json.Encoder()


def row_to_stored(row: asyncpg.Record) -> StoredEvent:
    """An events row as the API shows it."""
    return StoredEvent(
        specversion="1.0",
        id=row["id"],
        source=row["source"],
        type=row["type"],
        subject=row["subject"],
        time=format_time(row["valid_from"]),
        timeprecision=row["time_precision"],
        timequalifier=row["time_qualifier"],
        timegiven=row["time_given"],
        confidence=row["confidence"],
        data=None if row["data"] is None else _any_json.decode(row["data"]),
        sequence=row["sequence"],
        recordedtime=format_time(row["recorded_at"]),
        hash=row["hash"],
        predecessorhash=row["predecessor_hash"],
    )


def row_to_recorded(row: asyncpg.Record) -> Recorded:
    """An events row as projections fold it: the payload typed by its type's Struct."""
    entry = VOCABULARY.get(row["type"])
    text = row["data"]
    if text is None:
        data: Any = None
    elif entry is None:
        data = _any_json.decode(text)
    else:
        data = _decoders[entry[0]].decode(text)
    return Recorded(
        sequence=row["sequence"],
        id=row["id"],
        source=row["source"],
        type=row["type"],
        subject=row["subject"],
        time=row["valid_from"],
        timeprecision=row["time_precision"],
        timequalifier=row["time_qualifier"],
        confidence=row["confidence"],
        recordedtime=row["recorded_at"],
        data=data,
    )


class LogPage(Struct, frozen=True):
    """A page of the log; `next` is the `after` of the following page, null when caught up."""

    events: list[StoredEvent]
    next: str | None
    last_sequence: int


async def log_page(conn: Conn, after: int, limit: int, max_bytes: int) -> LogPage:
    """GET /v1/events: `read_log`'s page after `after`, the head it was read against, and
    where the next page starts (none once the page reaches the head)."""
    page = await read_log(conn, after, limit, max_bytes=max_bytes)
    head = await read_head(conn)
    nxt = str(page[-1].sequence) if page and page[-1].sequence < head.sequence else None
    return LogPage(page, nxt, head.sequence)


async def links(conn: Conn, sequences: list[int]) -> dict[int, tuple[str, str]]:
    """The hash and predecessor hash stored at each of these sequences (those there are)."""
    rows = await conn.fetch(
        "SELECT sequence, hash, predecessor_hash FROM events WHERE sequence = ANY($1::bigint[])",
        sequences,
    )
    return {r["sequence"]: (r["hash"], r["predecessor_hash"]) for r in rows}


async def in_recovery(conn: Conn) -> bool:
    """Whether the server is a standby, replaying another's WAL: its log is read-only."""
    return bool(await conn.fetchval("SELECT pg_is_in_recovery()"))


async def system_identifier(conn: Conn) -> int:
    """The database cluster's identity, which a streaming replica shares with its primary."""
    return int(await conn.fetchval("SELECT system_identifier FROM pg_control_system()"))


async def refresh_statistics(conn: Conn) -> None:
    """Bring the planner's statistics of the log up to date after a bulk load: until
    autovacuum gets to it, "events concerning X" can be planned for a log of another size."""
    await conn.execute("ANALYZE events, event_concerns")


async def read_head(conn: Conn) -> Head:
    """The newest event's sequence, hash and recorded time (sequence 0 on an empty log)."""
    row = await conn.fetchrow(
        "SELECT sequence, hash, recorded_at FROM events ORDER BY sequence DESC LIMIT 1"
    )
    if row is None:
        return Head(0, GENESIS, None)
    return Head(row["sequence"], row["hash"], row["recorded_at"])


async def hash_at(conn: Conn, sequence: int) -> str | None:
    """The stored hash of the event at `sequence` (None: there is none)."""
    found: str | None = await conn.fetchval("SELECT hash FROM events WHERE sequence = $1", sequence)
    return found


# A `known_at` given as a sequence number rather than a timestamp.
SEQUENCE_TEXT: Final = re.compile(r"^\d{1,18}$")


class KnownAt(Struct, frozen=True):
    """A resolved `known_at`: the last sequence that counts, and whether it can still move."""

    sequence: int
    pinned: bool


async def resolve_known_at(conn: Conn, text: str | None, head: Head | None = None) -> KnownAt:
    """Turn `known_at` (a sequence number, a timestamp or a date) into a sequence.

    recorded_at never decreases along the sequence (the writer makes it so), so "recorded
    by T" is always a prefix of the log. An answer is pinned when nothing can still be
    recorded inside it: a sequence already written, or a time before the newest event's.
    `head`, when the caller already read it, saves a round trip.
    """
    if head is None:
        head = await read_head(conn)
    if text is None:
        return KnownAt(head.sequence, False)
    if SEQUENCE_TEXT.match(text):
        k = int(text)
        return KnownAt(min(k, head.sequence), k <= head.sequence)
    try:
        t = parse_at(text)
    except TimeError as e:
        raise BadParameter("known_at", f"a sequence number, or {e}") from None
    k = await conn.fetchval(
        "SELECT coalesce(max(sequence), 0) FROM events WHERE recorded_at <= $1", t
    )
    return KnownAt(int(k), head.recorded_at is not None and t < head.recorded_at)


# What one event weighs in a page, in bytes, as the database already knows it (the length
# of a toasted value is read without fetching it): its text fields, and a fixed allowance
# for the envelope's keys, hashes and times (a SQL expression).
EVENT_BYTES: Final = (
    "octet_length(coalesce(data::text, '')) + octet_length(id) + octet_length(source)"
    " + octet_length(type) + octet_length(coalesce(subject, '')) + octet_length(time_given)"
    " + 400"
)


async def read_log(
    conn: Conn,
    after: int,
    limit: int,
    *,
    subject: str | None = None,
    max_bytes: int | None = None,
) -> list[StoredEvent]:
    """The log in sequence order, after a sequence number (only events concerning
    `subject`, when given). With `max_bytes`, the page also ends before the event that
    would take it past about that many bytes (see EVENT_BYTES); its first event is always
    in it, whatever its size. The database chooses the rows, so no more is fetched."""
    if max_bytes is not None:
        picked = (
            "SELECT sequence FROM events WHERE sequence > $1 ORDER BY sequence LIMIT $2"
            if subject is None
            else "SELECT sequence FROM event_concerns WHERE subject = $4 AND sequence > $1"
            " ORDER BY sequence LIMIT $2"
        )
        rows = await conn.fetch(
            f"""
            WITH page AS (
                SELECT sequence,
                       sum(size) OVER (ORDER BY sequence) AS upto,
                       row_number() OVER (ORDER BY sequence) AS n
                FROM (
                    SELECT sequence, {EVENT_BYTES} AS size FROM events
                    WHERE sequence IN ({picked})
                ) AS e
            )
            SELECT {COLUMNS} FROM events
            WHERE sequence IN (SELECT sequence FROM page WHERE upto <= $3 OR n = 1)
            ORDER BY sequence
            """,  # noqa: S608 - COLUMNS, EVENT_BYTES and both choices of `picked` are constants
            after,
            limit,
            max_bytes,
            *([] if subject is None else [subject]),
        )
    elif subject is None:
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM events WHERE sequence > $1 ORDER BY sequence LIMIT $2",  # noqa: S608
            after,
            limit,
        )
    else:
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM events WHERE sequence IN ("  # noqa: S608
            " SELECT sequence FROM event_concerns WHERE subject = $3 AND sequence > $1"
            " ORDER BY sequence LIMIT $2) ORDER BY sequence",
            after,
            limit,
            subject,
        )
    return [row_to_stored(r) for r in rows]


async def log_pages(
    acquire: Acquire, known: int, batch: int, max_bytes: int
) -> AsyncIterator[list[StoredEvent]]:
    """The log up to sequence `known` in pages (`read_log`'s, of `batch` events and about
    `max_bytes` bytes), each read on a connection of its own from `acquire`: for exports."""
    after = 0
    while after < known:  # sequences have no gaps, so `known - after` rows remain
        async with acquire(known) as conn:
            page = await read_log(conn, after, min(batch, known - after), max_bytes=max_bytes)
        if not page:
            return
        yield page
        after = page[-1].sequence


async def find_by_id(conn: Conn, id_: str) -> list[StoredEvent]:
    """Every event with this id (one per source)."""
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM events WHERE id = $1 ORDER BY sequence",  # noqa: S608
        id_,
    )
    return [row_to_stored(r) for r in rows]


async def shared_ids(conn: Conn, ids: list[str], known: int) -> set[str]:
    """Which of `ids` more than one event up to sequence `known` has (sources each have
    their own ids, so two sources may pick the same)."""
    if not ids:
        return set()
    rows = await conn.fetch(
        "SELECT id FROM events WHERE id = ANY($1::text[]) AND sequence <= $2"
        " GROUP BY id HAVING count(*) > 1",
        ids,
        known,
    )
    return {r["id"] for r in rows}


class Broken(Struct, frozen=True):
    """The first place the chain does not hold."""

    sequence: int
    reason: str


class Verified(Struct, frozen=True):
    """The result of walking the chain."""

    ok: bool
    checked: int
    head: int
    first_broken: Broken | None


def _check_row(row: asyncpg.Record, expect_seq: int, prev_hash: str) -> Broken | None:
    if row["sequence"] != expect_seq:
        return Broken(expect_seq, f"sequence {expect_seq} is missing (next is {row['sequence']})")
    if row["predecessor_hash"] != prev_hash:
        return Broken(expect_seq, "predecessorhash does not match the previous event's hash")
    data = None if row["data"] is None else _any_json.decode(row["data"])
    body = canonical(
        id=row["id"],
        source=row["source"],
        type=row["type"],
        subject=row["subject"],
        time=row["time_given"],
        confidence=row["confidence"],
        data=data,
        sequence=row["sequence"],
        recordedtime=row["recorded_at"],
    )
    if link(prev_hash, body) != row["hash"]:
        return Broken(expect_seq, "hash does not match the event's content")
    return _check_derived(row, data)


def _check_derived(row: asyncpg.Record, data: Any) -> Broken | None:
    """The columns answers are loaded by are not hashed: they are derived from what is.
    Derive them again, so a change behind the service's back that alters answers (an
    event moved in valid time, a subject added to or dropped from what it concerns) is
    named like a change of content."""
    seq = row["sequence"]
    try:
        valid = parse_time(row["time_given"])
    except TimeError:
        return Broken(seq, "the time it was given is not a valid time")
    if (valid.start, valid.precision, valid.qualifier) != (
        row["valid_from"],
        row["time_precision"],
        row["time_qualifier"],
    ):
        return Broken(seq, "valid_from, precision or qualifier do not match the time it was given")
    meta = row["type"] in META_TYPES
    event = data.get("event") if meta and isinstance(data, dict) else None
    if row["target"] != event:
        return Broken(seq, "target does not match the event it names")
    concerns = set(row["concerns"] or ())
    if meta:
        ok = row["subject"] is None or row["subject"] in concerns
    else:
        ok = concerns == concerns_of(row["subject"], data)
    if not ok:
        return Broken(seq, "concerns do not match the event's subject and data")
    return None


# The event_concerns index against the events it indexes, both ways, set-based (one pass
# each; a walk probing the index per event would cost a round trip per event). A row of a
# retraction or correction may name a subject its own `concerns` lacks: one that a later
# correction of the same target brought in (the family rule of append_in_transaction).
_INDEX_MISSING: Final = """
SELECT min(e.sequence) FROM events e CROSS JOIN LATERAL unnest(e.concerns) AS s(subject)
WHERE e.sequence < $1 AND NOT EXISTS (
    SELECT 1 FROM event_concerns c
    WHERE c.subject = s.subject AND c.valid_from = e.valid_from AND c.sequence = e.sequence
      AND c.meta = (e.target IS NOT NULL))
"""
_INDEX_FORGED: Final = """
SELECT min(c.sequence) FROM event_concerns c LEFT JOIN events e ON e.sequence = c.sequence
WHERE c.sequence < $1 AND (
    e.sequence IS NULL OR c.valid_from <> e.valid_from OR c.meta <> (e.target IS NOT NULL)
    OR (c.subject <> ALL(e.concerns) AND (NOT c.meta OR NOT EXISTS (
        SELECT 1 FROM events f
        WHERE (f.id = e.target OR f.target = e.target) AND c.subject = ANY(f.concerns)))))
"""


async def _check_index(conn: Conn, before: int) -> Broken | None:
    missing = await conn.fetchval(_INDEX_MISSING, before)
    forged = await conn.fetchval(_INDEX_FORGED, before)
    found = [
        Broken(seq, why)
        for seq, why in (
            (missing, "a row of the event_concerns index is missing"),
            (forged, "a row of the event_concerns index does not match its event"),
        )
        if seq is not None
    ]
    return min(found, key=lambda b: b.sequence) if found else None


async def verify(conn: Conn, progress: Any = None, batch: int = 5_000) -> Verified:
    """Walk the whole chain in sequence order; name the first broken sequence, if any.

    Each event's hash is recomputed from its content and its link to the previous one
    checked; the columns derived from the content (valid time, target, concerns) are
    derived again; then the event_concerns index, which answers are loaded through, is
    checked against the events, both ways. The earliest finding is named."""
    prev, expect, checked = GENESIS, 1, 0
    last = 0
    broken: Broken | None = None
    while broken is None:
        rows = await conn.fetch(
            f"SELECT {COLUMNS}, target, concerns FROM events"  # noqa: S608
            " WHERE sequence >= $1 ORDER BY sequence LIMIT $2",
            expect if checked == 0 else last + 1,
            batch,
        )
        if not rows:
            break
        for row in rows:
            broken = _check_row(row, expect, prev)
            if broken:
                break
            prev, expect, last = row["hash"], expect + 1, row["sequence"]
            checked += 1
        if progress:
            progress(checked)
    index = await _check_index(conn, broken.sequence if broken else last + 1)
    if index is not None:
        # Everything before it held, in the walk and in the index.
        return Verified(False, index.sequence - 1, index.sequence - 1, index)
    if broken is not None:
        return Verified(False, checked, last, broken)
    return Verified(True, checked, last, None)


async def iter_log(conn: Conn, batch: int = 5_000) -> AsyncIterator[StoredEvent]:
    """The whole log in sequence order, a batch at a time (for export)."""
    after = 0
    while True:
        page = await read_log(conn, after, batch)
        if not page:
            return
        for e in page:
            yield e
        after = page[-1].sequence


# Names the callers of the store know it by (the append decisions live in events/accept.py).
__all__ = ["Appended", "Conflict", "Precondition"]
