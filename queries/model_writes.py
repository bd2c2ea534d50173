"""What the projector writes to the read model, and what it reads of the log to do so."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Final, NamedTuple

from events.store import Conn
from queries import model


class Row(NamedTuple):
    """One read_facts row, in the table's column order."""

    subject: str
    key: str
    valid_from: datetime
    sequence: int
    version: int
    known_from: int
    known_to: int | None
    confidence: int
    value: bytes | None  # the fact's value (facts.facts_of) when it fits an index entry ...
    long_value: bytes | None  # ... else here, beside the index
    busy: bool = False  # its subject is busy: the row is in read_facts_recent


class Close(NamedTuple):
    """A belief that ends: the open row of one fact of (sequence, version) stops at `at`."""

    subject: str
    key: str
    valid_from: datetime
    sequence: int
    version: int
    at: int


class Key(NamedTuple):
    """A read_keys row as the projector leaves it."""

    subject: str
    key: str
    first_known: int
    last_known: int


class Subject(NamedTuple):
    """What a batch adds to a read_subjects row: first known, new register keys, new
    register rows, new folded-event rows."""

    subject: str
    first_known: int
    registers: int
    rows: int
    folded: int


class Bound(NamedTuple):
    """A read_bounds row: the greatest valid_from of the subject's register rows known by
    `known_from`."""

    subject: str
    known_from: int
    bound: datetime


class Hidden(NamedTuple):
    """A read_hidden row: stored event `sequence` is not shown as stored from `known_from`."""

    sequence: int
    known_from: int
    known_to: int | None


class Restated(NamedTuple):
    """A read_restated row: event `sequence` as correction `version` restates it."""

    subject: str
    valid_from: datetime
    sequence: int
    version: int
    known_from: int
    known_to: int | None
    confidence: int


_ROW_COLUMNS: Final = list(Row._fields)

# A btree entry holds at most 2,704 bytes, of which a subject and a key take at most ~170:
# a longer value is kept out of read_facts_valid, in read_facts.long_value.
INDEXED_VALUE_BYTES: Final = 2_000


def split_value(value: bytes | None) -> tuple[bytes | None, bytes | None]:
    """A fact's value split as (value, long_value): in the index entry if it fits there, else
    in the table's row alone."""
    if value is None or len(value) <= INDEXED_VALUE_BYTES:
        return value, None
    return None, value


async def lock(conn: Conn) -> tuple[str, int]:
    """The rules and checkpoint of the read model, locked until the transaction ends: one
    projector at a time, whichever process runs it."""
    row = await conn.fetchrow("SELECT rules, checkpoint FROM read_model FOR UPDATE")
    assert row is not None  # migration 006 inserts the one row
    return row["rules"], row["checkpoint"]


async def reset(conn: Conn, rules: str) -> None:
    """Empty the read model, to be built again from the log under `rules`."""
    await conn.execute(
        "TRUNCATE read_facts, read_keys, read_subjects, read_bounds, read_hidden, read_restated"
    )
    await conn.execute("UPDATE read_model SET rules = $1, checkpoint = 0", rules)


async def settle(conn: Conn, *, ordered: bool = False) -> None:
    """After a bulk build: mark the new rows all-visible, so that the register and bound
    lookups stay index-only scans, and refresh the planner's statistics (autovacuum would,
    later).

    `ordered` first rewrites read_facts in subject and key order, so that the rows a lookup
    still reads from the table (those not all-visible: appended or closed since the last
    VACUUM) lie on a few pages per subject, not one page per row, and its index is built
    afresh, compact and in key order (docs/READ_MODEL.md). It locks the
    table against questions while it runs (seconds per million events), so only a rebuild,
    which the questions wait for anyway, asks for it.
    """
    if ordered:
        await conn.execute("CLUSTER read_facts USING read_facts_valid")
    await conn.execute(
        "VACUUM (ANALYZE)"
        " read_facts, read_keys, read_subjects, read_bounds, read_hidden, read_restated"
    )


async def advance(conn: Conn, to: int) -> None:
    """Record that the read model holds the log up to `to`."""
    await conn.execute("UPDATE read_model SET checkpoint = $1", to)


async def keys(conn: Conn, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (subject, key) pairs read_keys already holds."""
    pairs = list(pairs)
    subjects, names = zip(*pairs, strict=True) if pairs else ((), ())
    rows = await conn.fetch(
        "SELECT k.subject, k.key FROM read_keys k"
        " JOIN unnest($1::text[], $2::text[]) AS p(subject, key)"
        " ON k.subject = p.subject AND k.key = p.key",
        list(subjects),
        list(names),
    )
    return {(r["subject"], r["key"]) for r in rows}


# What the read model holds of each subject a batch touches, in one round trip: its latest
# read_bounds row, by one backward descent of its key (a busy subject has thousands of
# rows, one each time its bound grew, and reading them all for every batch that concerns
# it makes a rebuild quadratic in its history), and whether it is flagged busy.
STANDING: Final = """
SELECT s.subject, b.bound, coalesce(r.busy, false) AS busy FROM unnest($1::text[]) AS s(subject)
LEFT JOIN LATERAL (
    SELECT bound FROM read_bounds r WHERE r.subject = s.subject
    ORDER BY r.known_from DESC LIMIT 1
) AS b ON true
LEFT JOIN read_subjects r ON r.subject = s.subject
"""


class Standing(NamedTuple):
    """Of the subjects a batch touches: the bound so far of each that has one (its latest
    read_bounds row: a bound only grows), and those flagged busy."""

    bounds: dict[str, datetime]
    busy: set[str]


async def standing(conn: Conn, subjects: Iterable[str]) -> Standing:
    """The bounds so far and the busy flags of these subjects."""
    rows = await conn.fetch(STANDING, list(subjects))
    return Standing(
        {r["subject"]: r["bound"] for r in rows if r["bound"] is not None},
        {r["subject"] for r in rows if r["busy"]},
    )


# A subject is flagged busy once its counts make it probed (queries.model), and stays so:
# its register rows, those in the table and all it gets later, are then in
# read_facts_recent. A question reads a busy subject's recent rows there, and must find
# every one of them, so the rows are flagged in the transaction that flags the subject.
_FLAG_BUSY: Final = f"""
WITH flagged AS (
    UPDATE read_subjects s SET busy = true
    WHERE s.subject = ANY($1::text[]) AND NOT s.busy AND {model.probed("$2")}
    RETURNING s.subject
)
UPDATE read_facts f SET busy = true FROM flagged
WHERE f.subject = flagged.subject AND f.key > '' AND NOT f.busy
"""  # noqa: S608 - constants only


async def flag_busy(conn: Conn, subjects: Iterable[str]) -> None:
    """Flag busy those of these subjects that its counts now make so, and their rows."""
    await conn.execute(_FLAG_BUSY, list(subjects), model.SCAN_ROWS_PER_KEY)


async def write(
    conn: Conn,
    rows: list[Row],
    closes: list[Close],
    keys_: list[Key],
    subjects: list[Subject],
    bounds_: list[Bound],
    busy: AbstractSet[str],
) -> None:
    """Close the beliefs that ended, then add the new rows (those of the `busy` subjects
    flagged), keys, subjects and bounds, and flag the subjects that became busy."""
    if closes:
        await conn.execute(
            "UPDATE read_facts f SET known_to = c.at FROM unnest("
            " $1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::bigint[], $6::bigint[]"
            ") AS c(subject, key, valid_from, sequence, version, at)"
            " WHERE f.subject = c.subject AND f.key = c.key AND f.valid_from = c.valid_from"
            " AND f.sequence = c.sequence AND f.version = c.version AND f.known_to IS NULL",
            *(list(column) for column in zip(*closes, strict=True)),
        )
    if rows:
        records = (r._replace(busy=True) if r.key and r.subject in busy else r for r in rows)
        await conn.copy_records_to_table("read_facts", records=records, columns=_ROW_COLUMNS)
    if keys_:
        await conn.execute(
            "INSERT INTO read_keys SELECT * FROM unnest("
            " $1::text[], $2::text[], $3::bigint[], $4::bigint[])"
            " ON CONFLICT (subject, key) DO UPDATE SET last_known = excluded.last_known",
            *(list(column) for column in zip(*keys_, strict=True)),
        )
    if subjects:
        await conn.execute(
            "INSERT INTO read_subjects AS s SELECT * FROM unnest("
            " $1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])"
            " ON CONFLICT (subject) DO UPDATE SET registers = s.registers + excluded.registers,"
            " rows = s.rows + excluded.rows, folded = s.folded + excluded.folded",
            *(list(column) for column in zip(*subjects, strict=True)),
        )
    if bounds_:
        await conn.copy_records_to_table("read_bounds", records=bounds_)
    becoming = [s.subject for s in subjects if s.subject not in busy]
    if becoming:
        await flag_busy(conn, becoming)


async def write_timeline(
    conn: Conn,
    hidden: list[Hidden],
    unhidden: list[tuple[int, int]],
    restated: list[Restated],
    unrestated: list[tuple[int, int, int]],
) -> None:
    """End the timeline's intervals that ended ((sequence, at) and (sequence, version, at)
    of intervals already in the tables), then add the new ones."""
    if unhidden:
        await conn.execute(
            "UPDATE read_hidden h SET known_to = c.at"
            " FROM unnest($1::bigint[], $2::bigint[]) AS c(sequence, at)"
            " WHERE h.sequence = c.sequence AND h.known_to IS NULL",
            *(list(column) for column in zip(*unhidden, strict=True)),
        )
    if unrestated:
        await conn.execute(
            "UPDATE read_restated r SET known_to = c.at"
            " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS c(sequence, version, at)"
            " WHERE r.sequence = c.sequence AND r.version = c.version AND r.known_to IS NULL",
            *(list(column) for column in zip(*unrestated, strict=True)),
        )
    if hidden:
        await conn.copy_records_to_table("read_hidden", records=hidden)
    if restated:
        await conn.copy_records_to_table("read_restated", records=restated)
