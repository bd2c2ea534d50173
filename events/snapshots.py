"""SQL for as-of snapshots (table `snapshots`, a cache beside the log, never part of it).

Rows hold encoded states as bytes: this module does not know what a state is (the pure
part is `projections/snapshots.py`, the wiring `service/snapshots.py`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from msgspec import Struct

from events.store import COLUMNS, Conn, row_to_recorded
from events.vocabulary import Recorded

# How many snapshots one subject keeps (per fold code and confidence); older are dropped.
KEEP: Final = 32
_NO_LIMIT: Final = datetime.max.replace(tzinfo=None)
_SAVE_LOCK: Final = 0x414E4E41  # the first key of the per-subject save lock


# Why a snapshot (s.valid_to, s.known_seq) of {subject} may not answer a question known by
# {known}: an event concerning it at or before the snapshot's edge recorded after it (rule
# 2), or a retraction or correction concerning it recorded after it -- whatever `known`
# says: the store gives an older retraction or correction of the same target new
# event_concerns rows (older sequences) when a later correction names a new subject, and
# only that later row, recorded after the snapshot, tells that the snapshot missed one.
# (Two probes, each an index range from the snapshot's sequence: a subject with a long
# history has nothing to scan when nothing was recorded since.)
_VIOLATION: Final = """
    NOT EXISTS (SELECT 1 FROM event_concerns c
        WHERE c.subject = {subject} AND c.meta AND c.sequence > s.known_seq)
    AND coalesce((SELECT min(c.valid_from) FROM event_concerns c
        WHERE c.subject = {subject} AND c.sequence > s.known_seq AND c.sequence <= {known}),
        'infinity') > s.valid_to"""


def _best_sql(subject: str) -> str:
    """The query for the best snapshot of `subject` (an SQL expression: a parameter or a
    column) for a question: $1 fold, $2 min_confidence, $3 at, $4 known. What `best` and
    `best_all` pick."""
    return f"""
    SELECT s.min_confidence, s.valid_to, s.known_seq, s.state, s.events FROM snapshots s
    WHERE s.subject = {subject} AND s.fold = $1 AND s.min_confidence = $2
      AND s.valid_to <= $3 AND s.known_seq <= $4
      AND {_VIOLATION.format(subject=subject, known="$4")}
    ORDER BY s.valid_to DESC, s.known_seq DESC
    LIMIT 1"""  # noqa: S608 - constants and a parameter or column name only


class Stored(Struct, frozen=True, kw_only=True):
    """One row of `snapshots`."""

    subject: str
    min_confidence: str
    valid_to: datetime
    known_seq: int
    state: bytes
    events: int


def _stored_row(subject: str, row: Any) -> Stored:
    return Stored(
        subject=subject,
        min_confidence=row["min_confidence"],
        valid_to=row["valid_to"],
        known_seq=row["known_seq"],
        state=bytes(row["state"]),
        events=row["events"],
    )


async def best(
    conn: Conn, subject: str, fold: str, min_confidence: str, at: datetime, known: int
) -> Stored | None:
    """The snapshot with the latest valid time that may answer (at, known): taken at or
    before both, no event concerning the subject at or before the snapshot's valid time
    recorded since (up to `known`), and no retraction or correction concerning it recorded
    since at all (see _VIOLATION). (The pure `refusal` checks this again, and the reused-id
    rule, on the tail it loads.)"""
    row = await conn.fetchrow(_best_sql("$5"), fold, min_confidence, at, known, subject)
    return None if row is None else _stored_row(subject, row)


async def save(conn: Conn, fold: str, snapshots: list[Stored], *, grid: bool = False) -> bool:
    """Store snapshots of one subject (an existing key is kept: same key, same state), then
    keep its `grid` rows (written by rebuild) and only the newest KEEP others, dropping
    its rows written by other fold code. Skipped (False) when another session is saving
    snapshots of the subject at this moment."""
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
        await _insert(conn, fold, snapshots, grid=grid)
        await conn.execute(
            """
            DELETE FROM snapshots WHERE subject = $1 AND (fold <> $2 OR (NOT grid AND
                (min_confidence, valid_to, known_seq) NOT IN (
                    SELECT min_confidence, valid_to, known_seq FROM snapshots
                    WHERE subject = $1 AND fold = $2 AND NOT grid
                    ORDER BY known_seq DESC, valid_to DESC LIMIT $3)))
            """,
            subject,
            fold,
            KEEP,
        )
    return True


async def _insert(conn: Conn, fold: str, snapshots: list[Stored], *, grid: bool) -> None:
    await conn.executemany(
        """
        INSERT INTO snapshots
            (subject, fold, min_confidence, valid_to, known_seq, state, events, grid)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT DO NOTHING
        """,
        [
            (s.subject, fold, s.min_confidence, s.valid_to, s.known_seq, s.state, s.events, grid)
            for s in snapshots
        ],
    )


async def replace_grid(conn: Conn, fold: str, subjects: list[str], snapshots: list[Stored]) -> None:
    """`annals snapshots rebuild` for a batch of subjects: their rows are replaced by
    `snapshots` (the new grid), in one transaction."""
    async with conn.transaction():
        await conn.execute("DELETE FROM snapshots WHERE subject = ANY($1::text[])", subjects)
        await _insert(conn, fold, snapshots, grid=True)


# --- every subject at once (GET /v1/state, /v1/diff, rebuild) ---------------------------


class Best(Struct, frozen=True, kw_only=True):
    """A subject some event concerns, and its best snapshot for the question (or None)."""

    subject: str
    snapshot: Stored | None


async def best_all(
    conn: Conn, fold: str, min_confidence: str, at: datetime, known: int
) -> list[Best]:
    """Every subject any event concerns, each with the snapshot `best` would pick: one
    query. The subjects come from a skip scan of event_concerns' primary key (one index
    descent a subject, not a read of every row)."""
    rows = await conn.fetch(
        f"""
        WITH RECURSIVE u(subject) AS (
            (SELECT subject FROM event_concerns ORDER BY subject LIMIT 1)
            UNION ALL
            SELECT (SELECT c.subject FROM event_concerns c WHERE c.subject > u.subject
                    ORDER BY c.subject LIMIT 1)
            FROM u WHERE u.subject IS NOT NULL
        )
        SELECT u.subject, b.min_confidence, b.valid_to, b.known_seq, b.state, b.events
        FROM u LEFT JOIN LATERAL ({_best_sql("u.subject")}) b ON true
        WHERE u.subject IS NOT NULL
        """,  # noqa: S608 - constants only
        fold,
        min_confidence,
        at,
        known,
    )
    return [
        Best(
            subject=r["subject"],
            snapshot=None if r["valid_to"] is None else _stored_row(r["subject"], r),
        )
        for r in rows
    ]


class From(Struct, frozen=True):
    """Where one subject's load starts: after a snapshot (valid_to, known_seq), or from
    nothing (valid_to None: what `store.load_subject` loads)."""

    subject: str
    valid_to: datetime | None
    known_seq: int


async def load_tails(
    conn: Conn, starts: list[From], at: datetime | None, known: int
) -> dict[str, list[Recorded]]:
    """The tail load of many subjects in one query (see projections/snapshots.py, where
    it is argued that folding it from the snapshot gives the full replay's answer); for a
    start from nothing, the part of `store.load_subject`'s load that a replay needs. A row
    several subjects need is decoded once and shared.

    Per subject S, with T = valid_to (none: from nothing) and K = known_seq, it is the
    candidates -- events concerning S (not retractions or corrections) known by `known`
    with T < valid_from <= at, or recorded after K with valid_from <= T (so that the pure
    check sees them); and the events the retractions and corrections concerning S name
    (G) that may land in (T, at] -- with valid_from there, named by a correction that moves
    a time, or themselves a retraction or correction (an id reused) -- or were recorded
    after K (an id reused since: the pure check's rule 3 must see them); plus the
    retractions and corrections that act on them: those concerning S (M) or in G that
    name the id of a candidate or of any member of M or G, and every member of M recorded
    after K. Others can only act on events at or before T, which the snapshot holds. (A
    hot subject has hundreds of retractions and corrections: they are looked up here,
    but only the few a tail needs are sent and decoded.)"""
    if not starts:
        return {}
    rows = await conn.fetch(
        f"""
        WITH q AS (
            SELECT q.subject, coalesce(q.t, '-infinity') AS t, q.t IS NOT NULL AS snap, q.k
            FROM unnest($1::text[], $2::timestamptz[], $3::bigint[]) AS q(subject, t, k)
        ), m AS (
            SELECT q.subject, e.sequence, e.id, e.target, (e.data -> 'time') IS NOT NULL AS moves,
                   q.snap AND e.sequence > q.k AS late
            FROM q JOIN event_concerns c ON c.subject = q.subject AND c.meta AND c.sequence <= $5
            JOIN events e ON e.sequence = c.sequence
        ), g AS (
            SELECT DISTINCT m.subject, e.sequence, e.id, e.valid_from, e.target, m.moves
            FROM m JOIN events e ON e.id = m.target AND e.sequence <= $5
        ), cand AS (
            SELECT q.subject, x.sequence FROM q CROSS JOIN LATERAL (
                SELECT sequence FROM event_concerns
                WHERE subject = q.subject AND valid_from > q.t AND valid_from <= $4
                  AND sequence <= $5 AND NOT meta
                UNION ALL
                SELECT sequence FROM event_concerns
                WHERE q.snap AND subject = q.subject AND sequence > q.k AND sequence <= $5
                  AND valid_from <= q.t AND NOT meta
            ) x
            UNION
            SELECT g.subject, g.sequence FROM g JOIN q USING (subject)
            WHERE g.moves OR g.target IS NOT NULL OR (g.valid_from > q.t AND g.valid_from <= $4)
               OR (q.snap AND g.sequence > q.k)
        ), acting AS (
            -- members of M naming a candidate's id (every event with a named id is in g)
            SELECT m.subject, m.sequence FROM m
            JOIN g ON g.subject = m.subject AND g.id = m.target
            JOIN cand ON cand.subject = g.subject AND cand.sequence = g.sequence
            UNION  -- naming a member of M or G (a retraction retracted, through a reused id)
            SELECT m.subject, m.sequence FROM m
            JOIN m n ON n.subject = m.subject AND n.id = m.target
            UNION
            SELECT m.subject, m.sequence FROM m
            JOIN g ON g.subject = m.subject AND g.id = m.target AND g.target IS NOT NULL
            UNION SELECT subject, sequence FROM m WHERE late
            UNION SELECT subject, sequence FROM g WHERE target IS NOT NULL
        ), p AS (
            SELECT sequence, array_agg(DISTINCT subject) AS wanted
            FROM (SELECT subject, sequence FROM cand UNION ALL
                  SELECT subject, sequence FROM acting) a
            GROUP BY sequence
        )
        SELECT {COLUMNS}, p.wanted FROM events JOIN p USING (sequence)
        ORDER BY sequence
        """,  # noqa: S608 - COLUMNS is a constant
        [s.subject for s in starts],
        [s.valid_to for s in starts],
        [s.known_seq for s in starts],
        at if at is not None else _NO_LIMIT,
        known,
    )
    out: dict[str, list[Recorded]] = {s.subject: [] for s in starts}
    for r in rows:
        event = row_to_recorded(r)
        for subject in r["wanted"]:
            out[subject].append(event)
    return out


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
