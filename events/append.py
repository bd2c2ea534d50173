"""The SQL of the append transaction: the lock, the head, what a group is checked against
(`prefetch`), and writing what it accepted (`flush`, `commit_statement`). The decisions
between them are pure, in events/accept.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from events.accept import Head, Precondition, Ready
from events.chain import GENESIS
from events.locks import APPEND_LOCK
from events.overlay import Known, Member, Pending, Target
from events.store import COLUMNS, Conn, row_to_stored

CHANNEL: Final = "annals_log"  # NOTIFY channel: "the log grew", payload = newest sequence
# APPEND_LOCK is a constant integer, so it can sit in the text of the simple-protocol
# message that opens the transaction (parameters would need a round trip of their own).
BEGIN: Final = f"BEGIN; SELECT pg_advisory_xact_lock({int(APPEND_LOCK)})"
_EVENT_COLUMNS: Final = [
    "sequence", "id", "source", "type", "subject", "time_given", "valid_from", "time_precision",
    "time_qualifier", "confidence", "data", "recorded_at", "hash", "predecessor_hash", "target",
    "concerns",
]  # fmt: skip

# The head and the recording time of a new group in one round trip. It must be its own
# statement, after the one that took APPEND_LOCK: under READ COMMITTED a statement reads
# the snapshot taken when it started, so a head read in the statement that waited for the
# lock could miss the commit of the writer it waited for. greatest(): the transaction time
# never runs backwards along the log, whatever the clocks do.
_HEAD_AND_CLOCK: Final = """
SELECT h.sequence, h.hash, h.recorded_at,
       greatest(clock_timestamp(), h.recorded_at) AS now
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
    SELECT sequence, hash, recorded_at FROM events ORDER BY sequence DESC LIMIT 1
) AS h ON true
"""


async def read_head_and_clock(conn: Conn) -> tuple[Head, datetime]:
    """The head (as `store.read_head`) and the recording time for a group appended after
    it. The caller holds APPEND_LOCK, taken in an earlier statement of its transaction."""
    row = await conn.fetchrow(_HEAD_AND_CLOCK)
    assert row is not None  # `one` always yields one row
    if row["sequence"] is None:
        return Head(0, GENESIS, None), row["now"]
    return Head(row["sequence"], row["hash"], row["recorded_at"]), row["now"]


async def prefetch(
    conn: Conn, requests: Sequence[tuple[Sequence[Ready], Sequence[Precondition]]]
) -> Known:
    """Read what `accept` needs for every request of a group, one query per kind."""
    known = Known()
    sources: list[str] = []
    ids: list[str] = []
    targets: set[str] = set()
    subjects: set[str] = set()
    for readies, preconditions in requests:
        for ready in readies:
            d = ready.draft
            if d.id_given:
                sources.append(d.source)
                ids.append(d.id)
            if ready.concerns is None:
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
                    Target(r["sequence"], r["id"], r["type"], r["subject"], r["concerns"])
                )
            if r["target"] in targets:
                known.family.setdefault(r["target"], []).append(
                    Member(r["sequence"], r["valid_from"], set(r["concerns"]))
                )
    if subjects:
        rows = await conn.fetch(
            "SELECT s AS subject, (SELECT max(sequence) FROM event_concerns WHERE subject = s)"
            " AS last FROM unnest($1::text[]) AS s",
            list(subjects),
        )
        known.last = {r["subject"]: r["last"] for r in rows}
    return known


async def flush(conn: Conn, pending: Pending) -> None:
    """COPY the group's events rows (and the rows a correction adds to its target's
    family). The unique (source, id) key cannot fire here: the caller holds APPEND_LOCK
    and every key was looked up, in the log and in the overlay."""
    if pending.rows_e:
        await conn.copy_records_to_table("events", records=pending.rows_e, columns=_EVENT_COLUMNS)
    if pending.rows_c:
        await conn.copy_records_to_table(
            "event_concerns",
            records=pending.rows_c,
            columns=["subject", "valid_from", "sequence", "meta"],
        )


def concerns_rows(first: int, last: int) -> str:
    """The statement that derives the event_concerns rows of the events `first` to `last`
    from the events themselves (one row per subject each concerns). Both numbers are ints,
    so they sit in the text unquoted. A range with both ends: during a bulk load the
    statistics lag, and an open-ended `>=` is then planned as a scan of the whole log
    (quadratic over an import)."""
    return (
        "INSERT INTO event_concerns (subject, valid_from, sequence, meta)"  # noqa: S608 (ints)
        " SELECT unnest(concerns), valid_from, sequence, target IS NOT NULL FROM events"
        f" WHERE sequence BETWEEN {int(first)} AND {int(last)}"
    )


def commit_statement(pending: Pending, newest: int) -> str:
    """The message that ends a group: its events' event_concerns rows (`concerns_rows`),
    the NOTIFY that wakes live streams (delivered only if this commits; the payload is a
    hint), and COMMIT, in one round trip."""
    if pending.first is None:
        return "COMMIT"
    return (
        f"{concerns_rows(pending.first, newest)};"
        f" SELECT pg_notify('{CHANNEL}', '{int(newest)}'); COMMIT"
    )
