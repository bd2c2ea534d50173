"""The store: raw SQL over asyncpg for reading the log, and the append transaction."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, Final, TypeAlias

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy
from msgspec import Struct

from events.chain import GENESIS, canonical, link
from events.envelope import Draft, FieldError, InvalidEvent, StoredEvent, split_msgspec_error
from events.timeparse import TimeError, format_time, parse_at, parse_time
from events.vocabulary import (
    META_TYPES,
    VOCABULARY,
    EventCorrected,
    Payload,
    Recorded,
    decode_payload,
    references,
)

# A connection, or one lent by a pool: every query here takes either.
Conn: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

# The one lock every appending transaction takes, in every process on the database.
APPEND_LOCK: Final = 0x414E4E41_4C53_0002
COLUMNS: Final = (
    "sequence, id, source, type, subject, time_given, valid_from, time_precision,"
    " time_qualifier, confidence, data::text AS data, recorded_at, hash, predecessor_hash"
)
_decoders: Final[dict[type[Payload], msgspec.json.Decoder[Any]]] = {
    cls: msgspec.json.Decoder(cls) for cls, _ in VOCABULARY.values()
}
_any_json: Final = msgspec.json.Decoder()
_EVENT_COLUMNS: Final = [
    "sequence", "id", "source", "type", "subject", "time_given", "valid_from", "time_precision",
    "time_qualifier", "confidence", "data", "recorded_at", "hash", "predecessor_hash", "target",
    "concerns",
]  # fmt: skip


class Conflict(Exception):
    """409: an id reused with other content, or a failed precondition."""

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class Precondition(Struct, frozen=True, forbid_unknown_fields=True):
    """Optimistic concurrency: the newest event concerning `subject` has `last_sequence`."""

    subject: str
    last_sequence: int | None


class Appended(Struct, frozen=True):
    """What an append answered: the stored events, in order, and whether any was new."""

    events: list[StoredEvent]
    created: bool
    new: int = 0  # how many of them this append stored (the rest were already there)


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


class Head(Struct):
    """The newest event of the log: where the next append links in."""

    sequence: int
    hash: str
    recorded_at: datetime | None


async def read_head(conn: Conn) -> Head:
    """The newest event's sequence, hash and recorded time (sequence 0 on an empty log)."""
    row = await conn.fetchrow(
        "SELECT sequence, hash, recorded_at FROM events ORDER BY sequence DESC LIMIT 1"
    )
    if row is None:
        return Head(0, GENESIS, None)
    return Head(row["sequence"], row["hash"], row["recorded_at"])


_DIGITS: Final = re.compile(r"^\d{1,18}$")


class KnownAt(Struct, frozen=True):
    """A resolved `known_at`: the last sequence that counts, and whether it can still move."""

    sequence: int
    pinned: bool


async def resolve_known_at(conn: Conn, text: str | None) -> KnownAt:
    """Turn `known_at` (a sequence number, a timestamp or a date) into a sequence.

    recorded_at never decreases along the sequence (the writer makes it so), so "recorded
    by T" is always a prefix of the log. An answer is pinned when nothing can still be
    recorded inside it: a sequence already written, or a time before the newest event's.
    """
    head = await read_head(conn)
    if text is None:
        return KnownAt(head.sequence, False)
    if _DIGITS.match(text):
        k = int(text)
        return KnownAt(min(k, head.sequence), k <= head.sequence)
    try:
        t = parse_at(text)
    except TimeError as e:
        raise InvalidEvent([FieldError("known_at", f"a sequence number, or {e}")]) from None
    k = await conn.fetchval(
        "SELECT coalesce(max(sequence), 0) FROM events WHERE recorded_at <= $1", t
    )
    return KnownAt(int(k), head.recorded_at is not None and t < head.recorded_at)


async def load_subject(conn: Conn, subject: str, at: datetime | None, known: int) -> list[Recorded]:
    """Every event known by `known` that can count for `subject` at valid time `at`.

    That is: events concerning it up to `at` (one index range scan), every retraction and
    correction concerning it whatever its time, and the targets of those corrections
    (a correction may move an event's time before `at`).
    """
    rows = await conn.fetch(
        f"""
        WITH c AS (
            SELECT sequence FROM event_concerns
            WHERE subject = $1 AND sequence <= $3 AND (valid_from <= $2 OR meta)
        ), t AS (
            SELECT e.sequence FROM events e
            WHERE e.sequence <= $3 AND e.id IN (
                SELECT m.target FROM events m
                WHERE m.sequence IN (SELECT sequence FROM c) AND m.target IS NOT NULL)
        )
        SELECT {COLUMNS} FROM events
        WHERE sequence IN (SELECT sequence FROM c UNION SELECT sequence FROM t)
        ORDER BY sequence
        """,  # noqa: S608 - COLUMNS is a constant
        subject,
        at if at is not None else datetime.max.replace(tzinfo=None),
        known,
    )
    return [row_to_recorded(r) for r in rows]


async def load_all(conn: Conn, at: datetime | None, known: int) -> list[Recorded]:
    """Every event known by `known` that can count for any subject at valid time `at`."""
    rows = await conn.fetch(
        f"""
        SELECT {COLUMNS} FROM events
        WHERE sequence <= $2 AND (
            valid_from <= $1 OR target IS NOT NULL
            OR id IN (SELECT target FROM events WHERE target IS NOT NULL AND sequence <= $2))
        ORDER BY sequence
        """,  # noqa: S608 - COLUMNS is a constant
        at if at is not None else datetime.max.replace(tzinfo=None),
        known,
    )
    return [row_to_recorded(r) for r in rows]


async def read_log(
    conn: Conn, after: int, limit: int, *, subject: str | None = None
) -> list[StoredEvent]:
    """The log in sequence order, after a sequence number (only events concerning
    `subject`, when given)."""
    if subject is None:
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


async def find_by_id(conn: Conn, id_: str) -> list[StoredEvent]:
    """Every event with this id (one per source)."""
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM events WHERE id = $1 ORDER BY sequence",  # noqa: S608
        id_,
    )
    return [row_to_stored(r) for r in rows]


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
    return None


async def verify(conn: Conn, progress: Any = None, batch: int = 5_000) -> Verified:
    """Walk the whole chain in sequence order; name the first broken sequence, if any."""
    prev, expect, checked = GENESIS, 1, 0
    last = 0
    while True:
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM events WHERE sequence >= $1 ORDER BY sequence LIMIT $2",  # noqa: S608
            expect if checked == 0 else last + 1,
            batch,
        )
        if not rows:
            return Verified(True, checked, last, None)
        for row in rows:
            broken = _check_row(row, expect, prev)
            if broken:
                return Verified(False, checked, last, broken)
            prev, expect, last = row["hash"], expect + 1, row["sequence"]
            checked += 1
        if progress:
            progress(checked)


# --- appending -----------------------------------------------------------------------


class _Target(Struct, frozen=True):
    sequence: int | None
    id: str
    type: str
    subject: str | None
    concerns: list[str]


class Pending:
    """What a group transaction has accepted but not yet written.

    Requests in one group are validated one after another against the database *and* this
    overlay (a later request sees an earlier one's ids, targets and sequences), and their
    rows are written together by `flush` with one COPY per table: a group pays a handful of
    round trips, not a handful per request.
    """

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], StoredEvent] = {}
        self.targets: dict[str, list[_Target]] = {}
        self.last: dict[str, int] = {}
        self.rows_e: list[tuple[Any, ...]] = []
        self.rows_c: list[tuple[Any, ...]] = []


async def flush(conn: Conn, pending: Pending) -> None:
    """Write what the group accepted. The unique (source, id) key cannot fire here: the
    caller holds APPEND_LOCK and every key was looked up, in the log and in the overlay."""
    if pending.rows_e:
        await conn.copy_records_to_table("events", records=pending.rows_e, columns=_EVENT_COLUMNS)
    if pending.rows_c:
        await conn.copy_records_to_table(
            "event_concerns",
            records=pending.rows_c,
            columns=["subject", "valid_from", "sequence", "meta"],
        )


def _same_content(d: Draft, row: StoredEvent) -> bool:
    # A retraction or correction posted without a subject was stored with its target's:
    # posting it again the same way is the same content (its target is named in data).
    return (
        d.type == row.type
        and (d.subject == row.subject or (d.subject is None and d.type in META_TYPES))
        and d.time == row.timegiven
        and d.confidence == row.confidence
        and d.data == row.data
    )


async def _resolve_target(
    conn: Conn, d: Draft, earlier: list[tuple[Draft, list[str]]], pending: Pending
) -> tuple[Draft, list[str]]:
    """Check a retraction or correction against the event it names; return its concerns.

    Errors name fields by the event's place in the request body (`$.data.event` for a
    single event, `$[i].data.event` or `$.events[i].data.event` in a batch).
    """
    path = f"{d.path}.data"
    target_id = d.payload.event
    found = [_Target(None, e.id, e.type, e.subject, c) for e, c in earlier if e.id == target_id]
    found += pending.targets.get(target_id, [])
    rows = await conn.fetch(
        "SELECT sequence, id, type, subject, concerns FROM events WHERE id = $1", target_id
    )
    found += [_Target(r["sequence"], r["id"], r["type"], r["subject"], r["concerns"]) for r in rows]
    if not found:
        raise InvalidEvent([FieldError(f"{path}.event", f"no event with id {target_id!r}")])
    if len(found) > 1:
        raise InvalidEvent(
            [FieldError(f"{path}.event", f"id {target_id!r} is ambiguous: several sources use it")]
        )
    target = found[0]
    if target.type in META_TYPES:
        raise InvalidEvent(
            [FieldError(f"{path}.event", "a retraction or correction cannot itself be the target")]
        )
    if d.subject is not None and d.subject != target.subject:
        raise InvalidEvent(
            [FieldError(f"{d.path}.subject", f"must be the target's subject {target.subject!r}")]
        )
    concerns = set(target.concerns)
    if isinstance(d.payload, EventCorrected):
        if target.type in VOCABULARY:
            try:
                decode_payload(target.type, d.payload.data)
            except msgspec.ValidationError as e:
                raise InvalidEvent([split_msgspec_error(e, f"{path}.data")]) from None
        if d.payload.time is not None:
            try:
                parse_time(d.payload.time)
            except TimeError as e:
                raise InvalidEvent([FieldError(f"{path}.time", str(e))]) from None
        concerns |= references(d.payload.data)
    return msgspec.structs.replace(d, subject=target.subject), sorted(concerns)


def _check_place(d: Draft, seq: int, prev: str) -> None:
    """A restored event must extend the chain exactly where it stood in its own log."""
    assert d.restore is not None
    if d.restore.sequence != seq or d.restore.predecessorhash != prev:
        raise Conflict(
            f"{d.path}: exported as sequence {d.restore.sequence}, but this log's next is "
            f"{seq}{'' if d.restore.predecessorhash == prev else ' with another predecessor'};"
            " restore into an empty database, or import with --as-new",
            [FieldError(f"{d.path}.sequence", "does not extend this log's chain")],
        )


def _concerns(d: Draft) -> list[str]:
    found = references(d.data)
    if d.subject is not None:
        found.add(d.subject)
    return sorted(found)


async def append_in_transaction(
    conn: Conn,
    head: Head,
    recorded_at: datetime,
    drafts: Sequence[Draft],
    preconditions: Sequence[Precondition],
    pending: Pending,
) -> tuple[Appended, Head]:
    """Accept one request's events into the group's `pending` overlay (the caller holds
    APPEND_LOCK, and writes the overlay with `flush` before it commits).

    All or nothing: raises InvalidEvent or Conflict having changed nothing. Returns what
    will be stored and the new head.
    """
    existing: dict[tuple[str, str], StoredEvent] = {}
    given = [(d.source, d.id) for d in drafts if d.id_given]
    if given:
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM events WHERE (source, id) IN "  # noqa: S608
            "(SELECT * FROM unnest($1::text[], $2::text[]))",
            [s for s, _ in given],
            [i for _, i in given],
        )
        existing = {(r["source"], r["id"]): row_to_stored(r) for r in rows}
        existing.update((k, pending.by_key[k]) for k in given if k in pending.by_key)

    out: list[StoredEvent | None] = []
    fresh: list[tuple[int, Draft, list[str]]] = []
    seen: dict[tuple[str, str], Draft] = {}
    for i, d in enumerate(drafts):
        key = (d.source, d.id)
        if key in existing:
            if not _same_content(d, existing[key]):
                raise Conflict(
                    f"event {i} reuses source+id {d.source} {d.id} with different content",
                    [FieldError(f"$[{i}].id", "already stored with different content")],
                )
            out.append(existing[key])
            continue
        if key in seen:
            # the same event twice in one request: compare content, not place in the body
            if msgspec.structs.replace(seen[key], path=d.path) != d:
                raise Conflict(
                    f"event {i} repeats source+id {d.source} {d.id} with different content",
                    [FieldError(f"$[{i}].id", "repeated in this request with different content")],
                )
            out.append(None)  # filled from its first occurrence below
            continue
        seen[key] = d
        if d.type in META_TYPES:
            earlier = [(e, c) for _, e, c in fresh]
            d, concerns = await _resolve_target(conn, d, earlier, pending)
        else:
            concerns = _concerns(d)
        fresh.append((len(out), d, concerns))
        out.append(None)

    if not fresh:
        return Appended([e for e in out if e is not None], created=False), head

    for j, p in enumerate(preconditions):
        last = pending.last.get(p.subject) or await conn.fetchval(
            "SELECT max(sequence) FROM event_concerns WHERE subject = $1", p.subject
        )
        if last != p.last_sequence:
            raise Conflict(
                f"precondition failed: the newest event concerning {p.subject} is "
                f"{last if last is not None else 'none'}, not {p.last_sequence}",
                [
                    FieldError(
                        f"$.preconditions[{j}].last_sequence",
                        f"{p.subject}: the newest event concerning it is "
                        f"{last if last is not None else 'none'}",
                    )
                ],
            )

    seq, prev = head.sequence, head.hash
    rows_e: list[tuple[Any, ...]] = []
    rows_c: list[tuple[Any, ...]] = []
    by_key: dict[tuple[str, str], StoredEvent] = {}
    for pos, d, concerns in fresh:
        seq += 1
        recorded = recorded_at
        if d.restore is not None:
            _check_place(d, seq, prev)
            recorded = d.restore.recordedtime
        body = canonical(
            id=d.id,
            source=d.source,
            type=d.type,
            subject=d.subject,
            time=d.time,
            confidence=d.confidence,
            data=d.data,
            sequence=seq,
            recordedtime=recorded,
        )
        h = link(prev, body)
        if d.restore is not None and h != d.restore.hash:
            raise Conflict(
                f"{d.path}: the recomputed hash differs from the exported one: the line was "
                "changed after export",
                [FieldError(f"{d.path}.hash", "does not match the event's content")],
            )
        target = d.payload.event if d.type in META_TYPES else None
        data_text = None if d.data is None else msgspec.json.encode(d.data).decode()
        rows_e.append(
            (seq, d.id, d.source, d.type, d.subject, d.time, d.valid.start, d.valid.precision,
             d.valid.qualifier, d.confidence, data_text, recorded, h, prev, target, concerns)
        )  # fmt: skip
        meta = d.type in META_TYPES
        rows_c.extend((s, d.valid.start, seq, meta) for s in concerns)
        ev = StoredEvent(
            specversion="1.0",
            id=d.id,
            source=d.source,
            type=d.type,
            subject=d.subject,
            time=format_time(d.valid.start),
            timeprecision=d.valid.precision,
            timequalifier=d.valid.qualifier,
            timegiven=d.time,
            confidence=d.confidence,
            data=d.data,
            sequence=seq,
            recordedtime=format_time(recorded),
            hash=h,
            predecessorhash=prev,
        )
        out[pos] = ev
        by_key[(d.source, d.id)] = ev
        prev = h

    pending.rows_e.extend(rows_e)
    pending.rows_c.extend(rows_c)
    pending.by_key.update(by_key)
    for _pos, d, concerns in fresh:
        pending.targets.setdefault(d.id, []).append(
            _Target(None, d.id, d.type, d.subject, concerns)
        )
    for row in rows_c:
        pending.last[row[0]] = row[2]
    final = [
        e if e is not None else by_key[(d.source, d.id)] for e, d in zip(out, drafts, strict=True)
    ]
    return Appended(final, created=True, new=len(fresh)), Head(seq, prev, recorded)


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
