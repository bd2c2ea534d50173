"""SQL for as-of snapshots (table `snapshots`, a cache beside the log, never part of it).

Rows hold encoded states as bytes: this module does not know what a state is (the pure
part is `projections/snapshots.py`, the wiring `service/snapshots.py`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from msgspec import Struct

from events.store import COLUMNS, Conn, row_to_recorded
from events.vocabulary import Recorded

# How many snapshots one subject keeps (per fold code and confidence); older are dropped.
KEEP: Final = 32
_NO_LIMIT: Final = datetime.max.replace(tzinfo=None)
_SAVE_LOCK: Final = 0x414E4E41  # the first key of the per-subject save lock


class Stored(Struct, frozen=True, kw_only=True):
    """One row of `snapshots`."""

    subject: str
    min_confidence: str
    valid_to: datetime
    known_seq: int
    state: bytes
    events: int


async def best(
    conn: Conn, subject: str, fold: str, min_confidence: str, at: datetime, known: int
) -> Stored | None:
    """The snapshot with the latest valid time that may answer (at, known): taken at or
    before both, and no retraction or correction concerning the subject, nor any event
    concerning it at or before the snapshot's valid time, recorded since. (The pure
    `refusal` checks this again, and the reused-id rule, on the tail it loads.)"""
    row = await conn.fetchrow(
        """
        SELECT subject, min_confidence, valid_to, known_seq, state, events FROM snapshots s
        WHERE s.subject = $1 AND s.fold = $2 AND s.min_confidence = $3
          AND s.valid_to <= $4 AND s.known_seq <= $5
          AND NOT EXISTS (
              SELECT 1 FROM event_concerns c
              WHERE c.subject = $1 AND c.sequence > s.known_seq AND c.sequence <= $5
                AND (c.meta OR c.valid_from <= s.valid_to))
        ORDER BY s.valid_to DESC, s.known_seq DESC
        LIMIT 1
        """,
        subject,
        fold,
        min_confidence,
        at,
        known,
    )
    if row is None:
        return None
    return Stored(
        subject=row["subject"],
        min_confidence=row["min_confidence"],
        valid_to=row["valid_to"],
        known_seq=row["known_seq"],
        state=bytes(row["state"]),
        events=row["events"],
    )


async def load_tail(
    conn: Conn, subject: str, valid_to: datetime, known_seq: int, at: datetime | None, known: int
) -> list[Recorded]:
    """What a snapshot at (valid_to, known_seq) still needs for (at, known): the events
    concerning `subject` known by `known` with valid_to < valid_from <= at; those recorded
    after known_seq at or before valid_to (none, when the snapshot is valid: loaded so
    that the pure check can see them); every retraction and correction concerning it, and
    the events they name, whatever their time (as `store.load_subject`)."""
    rows = await conn.fetch(
        f"""
        WITH c AS (
            SELECT sequence FROM event_concerns
            WHERE subject = $1 AND meta AND sequence <= $5
            UNION
            SELECT sequence FROM event_concerns
            WHERE subject = $1 AND valid_from > $2 AND valid_from <= $4 AND sequence <= $5
            UNION
            SELECT sequence FROM event_concerns
            WHERE subject = $1 AND sequence > $3 AND sequence <= $5 AND valid_from <= $2
        ), t AS (
            SELECT e.sequence FROM events e
            WHERE e.sequence <= $5 AND e.id IN (
                SELECT m.target FROM events m
                WHERE m.sequence IN (SELECT sequence FROM c) AND m.target IS NOT NULL)
        )
        SELECT {COLUMNS} FROM events
        WHERE sequence IN (SELECT sequence FROM c UNION SELECT sequence FROM t)
        ORDER BY sequence
        """,  # noqa: S608 - COLUMNS is a constant
        subject,
        valid_to,
        known_seq,
        at if at is not None else _NO_LIMIT,
        known,
    )
    return [row_to_recorded(r) for r in rows]


async def save(conn: Conn, fold: str, snapshots: list[Stored]) -> bool:
    """Store snapshots of one subject (an existing key is kept: same key, same state), then
    keep only its newest KEEP, dropping its rows written by other fold code. Skipped (False)
    when another session is saving snapshots of the subject at this moment."""
    if not snapshots:
        return False
    subject = snapshots[0].subject
    if any(s.subject != subject for s in snapshots):
        raise ValueError("save() takes snapshots of one subject")
    async with conn.transaction():
        # One saver per subject at a time (two-key advisory locks do not overlap the log's
        # one-key locks); a busy subject is simply not cached this time.
        if not await conn.fetchval(
            "SELECT pg_try_advisory_xact_lock($1, hashtext($2))", _SAVE_LOCK, subject
        ):
            return False
        await conn.executemany(
            """
            INSERT INTO snapshots
                (subject, fold, min_confidence, valid_to, known_seq, state, events)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT DO NOTHING
            """,
            [
                (s.subject, fold, s.min_confidence, s.valid_to, s.known_seq, s.state, s.events)
                for s in snapshots
            ],
        )
        await conn.execute(
            """
            DELETE FROM snapshots WHERE subject = $1 AND (fold <> $2 OR
                (min_confidence, valid_to, known_seq) NOT IN (
                    SELECT min_confidence, valid_to, known_seq FROM snapshots
                    WHERE subject = $1 AND fold = $2
                    ORDER BY known_seq DESC, valid_to DESC LIMIT $3))
            """,
            subject,
            fold,
            KEEP,
        )
    return True


async def clear(conn: Conn, subject: str | None = None) -> int:
    """Delete every snapshot (of one subject, when given); returns how many."""
    if subject is None:
        n = await conn.fetchval("SELECT count(*) FROM snapshots")
        await conn.execute("TRUNCATE snapshots")
        return int(n)
    status = await conn.execute("DELETE FROM snapshots WHERE subject = $1", subject)
    return int(status.split()[-1])


async def count(conn: Conn) -> int:
    """How many snapshots are stored."""
    return int(await conn.fetchval("SELECT count(*) FROM snapshots"))


async def subjects(conn: Conn) -> list[str]:
    """Every subject any event concerns, in order."""
    rows = await conn.fetch("SELECT DISTINCT subject FROM event_concerns ORDER BY subject")
    return [r["subject"] for r in rows]
