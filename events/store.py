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
_any_encoder: Final = msgspec.json.Encoder()
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


async def hash_at(conn: Conn, sequence: int) -> str | None:
    """The stored hash of the event at `sequence` (None: there is none)."""
    found: str | None = await conn.fetchval("SELECT hash FROM events WHERE sequence = $1", sequence)
    return found


# The head and the recording time of a new group in one round trip (they were two). It
# must be its own statement, after the one that took APPEND_LOCK: under READ COMMITTED a
# statement reads the snapshot taken when it started, so a head read in the statement that
# waited for the lock could miss the commit of the writer it waited for. greatest(): the
# transaction time never runs backwards along the log, whatever the clocks do.
_HEAD_AND_CLOCK: Final = """
SELECT h.sequence, h.hash, h.recorded_at,
       greatest(clock_timestamp(), h.recorded_at) AS now
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
    SELECT sequence, hash, recorded_at FROM events ORDER BY sequence DESC LIMIT 1
) AS h ON true
"""


async def read_head_and_clock(conn: Conn) -> tuple[Head, datetime]:
    """The head (as `read_head`) and the recording time for a group appended after it.
    The caller holds APPEND_LOCK, taken in an earlier statement of its transaction."""
    row = await conn.fetchrow(_HEAD_AND_CLOCK)
    assert row is not None  # `one` always yields one row
    if row["sequence"] is None:
        return Head(0, GENESIS, None), row["now"]
    return Head(row["sequence"], row["hash"], row["recorded_at"]), row["now"]


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
        raise InvalidEvent([FieldError("known_at", f"a sequence number, or {e}")]) from None
    k = await conn.fetchval(
        "SELECT coalesce(max(sequence), 0) FROM events WHERE recorded_at <= $1", t
    )
    return KnownAt(int(k), head.recorded_at is not None and t < head.recorded_at)


# What one event weighs in a page, in bytes, as the database already knows it (the length
# of a toasted value is read without fetching it): its text fields, and a fixed allowance
# for the envelope's keys, hashes and times.
_EVENT_BYTES: Final = (
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
    would take it past about that many bytes (see _EVENT_BYTES); its first event is always
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
                    SELECT sequence, {_EVENT_BYTES} AS size FROM events
                    WHERE sequence IN ({picked})
                ) AS e
            )
            SELECT {COLUMNS} FROM events
            WHERE sequence IN (SELECT sequence FROM page WHERE upto <= $3 OR n = 1)
            ORDER BY sequence
            """,  # noqa: S608 - COLUMNS, _EVENT_BYTES and both choices of `picked` are constants
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
        ok = concerns == _concerns_of(row["subject"], data)
    if not ok:
        return Broken(seq, "concerns do not match the event's subject and data")
    return None


def _concerns_of(subject: str | None, data: Any) -> set[str]:
    found = references(data)
    if subject is not None:
        found.add(subject)
    return found


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


# --- appending -----------------------------------------------------------------------


class _Target(Struct, frozen=True):
    sequence: int | None
    id: str
    type: str
    subject: str | None
    concerns: list[str]


class _Member:
    """A retraction or correction already accepted (in the log or the group's overlay),
    as one of the family of meta events naming the same target: its place, and the
    subjects its event_concerns rows name (grown when a later correction adds one)."""

    __slots__ = ("sequence", "subjects", "valid_from")

    def __init__(self, sequence: int, valid_from: datetime, subjects: set[str]) -> None:
        self.sequence = sequence
        self.valid_from = valid_from
        self.subjects = subjects


class Known:
    """What the log holds that one group's requests are checked against, read set-based
    before the first of them (one query per kind of question, not one per event): the
    events stored under the (source, id) keys the group gives, the events and the meta
    families under the ids its retractions and corrections name, and the newest sequence
    concerning each subject its preconditions name. The caller holds APPEND_LOCK, so the
    log cannot change meanwhile except through the group's own `Pending` overlay, which is
    consulted first as before."""

    def __init__(self) -> None:
        self.existing: dict[tuple[str, str], StoredEvent] = {}
        self.by_id: dict[str, list[_Target]] = {}
        self.family: dict[str, list[_Member]] = {}
        self.last: dict[str, int | None] = {}


async def prefetch(
    conn: Conn, requests: Sequence[tuple[Sequence[Draft], Sequence[Precondition]]]
) -> Known:
    """Read what `append_in_transaction` needs for every request of a group."""
    known = Known()
    sources: list[str] = []
    ids: list[str] = []
    targets: set[str] = set()
    subjects: set[str] = set()
    for drafts, preconditions in requests:
        for d in drafts:
            if d.id_given:
                sources.append(d.source)
                ids.append(d.id)
            if d.type in META_TYPES:
                targets.add(d.payload.event)
        subjects.update(p.subject for p in preconditions)
    if ids:
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM events WHERE (source, id) IN "  # noqa: S608
            "(SELECT * FROM unnest($1::text[], $2::text[]))",
            sources,
            ids,
        )
        known.existing = {(r["source"], r["id"]): row_to_stored(r) for r in rows}
    if targets:
        rows = await conn.fetch(
            "SELECT sequence, id, type, subject, concerns, target, valid_from FROM events"
            " WHERE id = ANY($1::text[]) OR target = ANY($1::text[]) ORDER BY sequence",
            list(targets),
        )
        for r in rows:
            if r["id"] in targets:
                known.by_id.setdefault(r["id"], []).append(
                    _Target(r["sequence"], r["id"], r["type"], r["subject"], r["concerns"])
                )
            if r["target"] in targets:
                known.family.setdefault(r["target"], []).append(
                    _Member(r["sequence"], r["valid_from"], set(r["concerns"]))
                )
    if subjects:
        rows = await conn.fetch(
            "SELECT s AS subject, (SELECT max(sequence) FROM event_concerns WHERE subject = s)"
            " AS last FROM unnest($1::text[]) AS s",
            list(subjects),
        )
        known.last = {r["subject"]: r["last"] for r in rows}
    return known


class Pending:
    """What a group transaction has accepted but not yet written.

    Requests in one group are validated one after another against what the log held
    (`Known`, read once) *and* this overlay (a later request sees an earlier one's ids,
    targets, meta families and sequences), and their rows are written together by `flush`
    with one COPY per table: a group pays a handful of round trips, not a handful per
    request.
    """

    def __init__(self) -> None:
        self.by_key: dict[tuple[str, str], StoredEvent] = {}
        self.targets: dict[str, list[_Target]] = {}
        self.family: dict[str, list[_Member]] = {}
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


# Subjects a correction adds to the meta events already accepted for the same target.
_Backfill: TypeAlias = list[tuple[_Member, set[str]]]


def _resolve_target(
    d: Draft,
    earlier: dict[str, list[tuple[Draft, set[str]]]],
    siblings_of: dict[str, list[set[str]]],
    pending: Pending,
    known: Known,
) -> tuple[Draft, set[str], _Backfill]:
    """Check a retraction or correction against the event it names; return what it
    concerns, and the rows the earlier meta events of that target need (a correction
    naming a new subject in its replacement data).

    Every retraction and correction of one target concerns every subject the target or
    any of them concerns: each of them can change what that target says to each of those
    subjects (a retraction recorded after a correction that named party/b must reach
    party/b's answer; so must one recorded before it).

    Errors name fields by the event's place in the request body (`$.data.event` for a
    single event, `$[i].data.event` or `$.events[i].data.event` in a batch).
    """
    path = f"{d.path}.data"
    target_id = d.payload.event
    # `earlier`: this request's accepted events by id; `siblings_of`: the concerns of its
    # retractions and corrections by target (maps, not scans: a batch may hold thousands).
    found = [
        _Target(None, e.id, e.type, e.subject, sorted(c)) for e, c in earlier.get(target_id, [])
    ]
    found += pending.targets.get(target_id, [])
    found += known.by_id.get(target_id, [])
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
    members = known.family.get(target_id, []) + pending.family.get(target_id, [])
    # earlier in this request: not numbered yet, their rows are still to be made
    siblings = siblings_of.get(target_id, [])
    family = set(target.concerns)
    for m in members:
        family |= m.subjects
    for c in siblings:
        family |= c
    concerns = set(family)
    backfill: _Backfill = []
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
        new = concerns - family
        if new:
            for c in siblings:
                c |= new  # this request's own: dropped with it should it fail
            backfill = [(m, new - m.subjects) for m in members]
    return msgspec.structs.replace(d, subject=target.subject), concerns, backfill


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


async def append_in_transaction(
    conn: Conn,
    head: Head,
    recorded_at: datetime,
    drafts: Sequence[Draft],
    preconditions: Sequence[Precondition],
    pending: Pending,
    known: Known | None = None,
) -> tuple[Appended, Head]:
    """Accept one request's events into the group's `pending` overlay (the caller holds
    APPEND_LOCK, and writes the overlay with `flush` before it commits). `known` is what
    `prefetch` read for the whole group (read here for this request alone when None).

    All or nothing: raises InvalidEvent or Conflict having changed nothing. Returns what
    will be stored and the new head.
    """
    if known is None:
        known = await prefetch(conn, [(drafts, preconditions)])
    existing = known.existing
    by_key = pending.by_key

    out: list[StoredEvent | None] = []
    fresh: list[tuple[int, Draft, set[str]]] = []
    backfill: _Backfill = []
    seen: dict[tuple[str, str], Draft] = {}
    earlier: dict[str, list[tuple[Draft, set[str]]]] = {}
    siblings_of: dict[str, list[set[str]]] = {}
    for i, d in enumerate(drafts):
        key = (d.source, d.id)
        stored = (by_key.get(key) or existing.get(key)) if d.id_given else None
        if stored is not None:
            if not _same_content(d, stored):
                raise Conflict(
                    f"event {i} reuses source+id {d.source} {d.id} with different content",
                    [FieldError(f"$[{i}].id", "already stored with different content")],
                )
            out.append(stored)
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
            d, concerns, more = _resolve_target(d, earlier, siblings_of, pending, known)
            backfill += more
            siblings_of.setdefault(d.payload.event, []).append(concerns)
        else:
            concerns = _concerns_of(d.subject, d.data)
        earlier.setdefault(d.id, []).append((d, concerns))
        fresh.append((len(out), d, concerns))
        out.append(None)

    if not fresh:
        return Appended([e for e in out if e is not None], created=False), head

    for j, p in enumerate(preconditions):
        last = pending.last.get(p.subject) or known.last.get(p.subject)
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
    made: dict[tuple[str, str], StoredEvent] = {}
    ordered_concerns: list[list[str]] = []  # per fresh event, for the overlay below
    recorded_text = format_time(recorded_at)
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
        meta = d.type in META_TYPES
        target = d.payload.event if meta else None
        ordered = sorted(concerns)
        ordered_concerns.append(ordered)
        data_text = None if d.data is None else _any_encoder.encode(d.data).decode()
        rows_e.append(
            (seq, d.id, d.source, d.type, d.subject, d.time, d.valid.start, d.valid.precision,
             d.valid.qualifier, d.confidence, data_text, recorded, h, prev, target, ordered)
        )  # fmt: skip
        rows_c.extend((s, d.valid.start, seq, meta) for s in ordered)
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
            recordedtime=recorded_text if d.restore is None else format_time(recorded),
            hash=h,
            predecessorhash=prev,
        )
        out[pos] = ev
        made[(d.source, d.id)] = ev
        prev = h

    # Accepted: only now does anything reach the overlay (or the shared `known`).
    for member, subjects in backfill:
        rows_c.extend((s, member.valid_from, member.sequence, True) for s in sorted(subjects))
        member.subjects |= subjects
    pending.rows_e.extend(rows_e)
    pending.rows_c.extend(rows_c)
    by_key.update(made)
    first = head.sequence + 1
    for n, ((_pos, d, concerns), ordered) in enumerate(zip(fresh, ordered_concerns, strict=True)):
        pending.targets.setdefault(d.id, []).append(_Target(None, d.id, d.type, d.subject, ordered))
        if d.type in META_TYPES:
            pending.family.setdefault(d.payload.event, []).append(
                _Member(first + n, d.valid.start, set(concerns))
            )
        for s in ordered:
            # (backfilled rows carry older sequences: they never make a subject's newest)
            pending.last[s] = first + n
    final = [
        e if e is not None else made[(d.source, d.id)] for e, d in zip(out, drafts, strict=True)
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
