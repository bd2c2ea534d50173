"""The log's integrity check: the hash chain walked, the derived columns and the
event_concerns index checked against what is hashed."""

from __future__ import annotations

from typing import Any, Final

import asyncpg
import msgspec
from msgspec import Struct

from events.chain import GENESIS, canonical, link
from events.store import COLUMNS, Conn
from events.timeparse import TimeError, parse_time
from events.vocabulary import META_TYPES, concerns_of

_any_json: Final = msgspec.json.Decoder()


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
