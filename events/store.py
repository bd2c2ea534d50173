"""The store: raw SQL over asyncpg for reading the log (the append transaction is
events/append.py, its decisions events/accept.py, its integrity check events/integrity.py)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Final, TypeAlias

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy
from msgspec import Struct

from events.accept import Appended, Conflict, Head, Precondition
from events.chain import GENESIS
from events.envelope import BadParameter, StoredEvent
from events.timeparse import TimeError, format_time, parse_at
from events.vocabulary import (
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


async def family(conn: Conn, ids: Iterable[str], upto: int) -> list[Recorded]:
    """Every event (up to `upto`) whose belief can depend on the events with these ids, or
    that theirs can depend on.

    That is the closure over ids: events with the ids, the retractions and corrections
    naming them, and, again, those naming any of theirs (a retraction can be retracted).
    """
    found: dict[int, Recorded] = {}
    seen: set[str] = set()
    frontier = set(ids)
    while frontier:
        seen |= frontier
        rows = await conn.fetch(
            f"SELECT {RECORDED_COLUMNS}, target FROM events"  # noqa: S608
            " WHERE (id = ANY($1::text[]) OR target = ANY($1::text[])) AND sequence <= $2",
            sorted(frontier),
            upto,
        )
        frontier = set()
        for r in rows:
            found[r["sequence"]] = row_to_recorded(r)
            frontier |= {r["id"], r["target"]} - seen - {None}
    return [found[s] for s in sorted(found)]


async def recorded_events(conn: Conn, sequences: Iterable[int]) -> dict[int, Recorded]:
    """The log's events with these sequences."""
    rows = await log_rows(conn, sequences, RECORDED_COLUMNS)
    return {r["sequence"]: row_to_recorded(r) for r in rows}


async def log_rows(
    conn: Conn, sequences: Iterable[int], columns: str = COLUMNS
) -> list[asyncpg.Record]:
    """The log's rows with these sequences (`columns`, a constant), in sequence order."""
    wanted = sorted(set(sequences))
    if not wanted:
        return []
    return await conn.fetch(
        f"SELECT {columns} FROM events WHERE sequence = ANY($1::bigint[])"  # noqa: S608
        " ORDER BY sequence",
        wanted,
    )


async def stored_concerns(conn: Conn, sequences: Sequence[int]) -> dict[int, list[str]]:
    """The subjects each of these events concerns, as stored (a retraction or correction
    concerns every subject its target does)."""
    rows = await log_rows(conn, sequences, "sequence, concerns")
    return {r["sequence"]: r["concerns"] for r in rows}


async def history(conn: Conn, subject: str, limit: int) -> list[tuple[int, datetime]]:
    """Up to `limit` (sequence, valid time) of the events concerning `subject`, spread over
    its history (every k-th), for questions about it."""
    rows = await conn.fetch(
        "SELECT sequence, valid_from FROM ("
        " SELECT sequence, valid_from, row_number() OVER (ORDER BY sequence) AS n,"
        " count(*) OVER () AS total FROM event_concerns WHERE subject = $1) c"
        " WHERE n % greatest(total / $2, 1) = 0",
        subject,
        limit,
    )
    return [(r["sequence"], r["valid_from"]) for r in rows]


async def log_after(
    conn: Conn, after: int, upto: int, limit: int
) -> list[tuple[Recorded, list[str]]]:
    """The log's events after `after`, up to `upto`, at most `limit`, in sequence order,
    each with the subjects it concerns as stored."""
    rows = await conn.fetch(
        f"SELECT {RECORDED_COLUMNS}, concerns FROM events"  # noqa: S608
        " WHERE sequence > $1 AND sequence <= $2 ORDER BY sequence LIMIT $3",
        after,
        upto,
        limit,
    )
    return [(row_to_recorded(r), r["concerns"]) for r in rows]


async def first_targeting(conn: Conn, ids: Sequence[str], upto: int) -> dict[str, int]:
    """For each id, the sequence of the first retraction or correction naming it (<= upto)."""
    rows = await conn.fetch(
        "SELECT target, min(sequence) AS first FROM events"
        " WHERE target = ANY($1::text[]) AND sequence <= $2 GROUP BY target",
        list(ids),
        upto,
    )
    return {r["target"]: r["first"] for r in rows}


# Names the callers of the store know it by (the append decisions live in events/accept.py).
__all__ = ["Appended", "Conflict", "Precondition"]
