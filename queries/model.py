"""The read model's SQL for questions: its status, and the lookups an answer makes.

What the projector writes is `queries.model_writes`."""

from __future__ import annotations

from datetime import datetime
from typing import Final, NamedTuple

from asyncpg import Record

from events.accept import Head
from events.chain import GENESIS
from events.store import Conn


async def checkpoint(conn: Conn) -> int:
    """The last sequence of the log the read model holds."""
    return (await status(conn))[1]


async def status(conn: Conn) -> tuple[str, int]:
    """The rules the read model was built under ('' before any build) and its checkpoint."""
    row = await conn.fetchrow("SELECT rules, checkpoint FROM read_model")
    assert row is not None  # migration 006 inserts the one row
    return row["rules"], row["checkpoint"]


_HEAD_AND_STATUS: Final = """
SELECT m.rules, m.checkpoint, h.sequence, h.hash, h.recorded_at
FROM read_model m
LEFT JOIN LATERAL (
    SELECT sequence, hash, recorded_at FROM events ORDER BY sequence DESC LIMIT 1
) AS h ON true
"""


async def head_and_status(conn: Conn) -> tuple[Head, str, int]:
    """The log's head, and the read model's rules and checkpoint, in one round trip."""
    row = await conn.fetchrow(_HEAD_AND_STATUS)
    assert row is not None  # migration 006 inserts the one row
    head = (
        Head(0, GENESIS, None)
        if row["sequence"] is None
        else Head(row["sequence"], row["hash"], row["recorded_at"])
    )
    return head, row["rules"], row["checkpoint"]


# Registers are read two ways, chosen per subject by its read_subjects counts ($5 rows per
# key, `SCAN_ROWS_PER_KEY`): a subject with many rows per key (probed) by descents into
# its keys (a state's first from its recent rows, `_RECENT`), the others by one range scan
# of the subject's rows, cheaper than a descent per key when few rows lie between the
# answers (docs/READ_MODEL.md, "Pages").
def probed(per_key: str) -> str:
    """Whether the read_subjects row `s` has more than `per_key` rows per register key."""
    return f"s.rows > {per_key} * greatest(s.registers, 1)"


_PROBED: Final = probed("$5")


def believed_at(row: str, known: str) -> str:
    """The SQL condition that `row` of a table of belief intervals (read_facts, read_hidden,
    read_restated) is believed at sequence `known`: recorded by then, and not yet closed by
    a retraction or a correction."""
    return f"{row}.known_from <= {known} AND ({row}.known_to IS NULL OR {row}.known_to > {known})"


def counts(row: str, at: str, known: str = "$2", floor: str = "$4") -> str:
    """The SQL condition that `row` of read_facts counts in a question at valid time `at`:
    at or before it, believed at sequence `known`, with confidence at least `floor`."""
    return f"{row}.valid_from <= {at} AND {believed_at(row, known)} AND {row}.confidence >= {floor}"


# A fact's value from the row `{f}` found in the index: its value there, or for a value too
# long for an index entry (NULL there) the same row's long_value from the table.
_VALUE: Final = """coalesce({f}.value, (
    SELECT l.long_value FROM read_facts l
    WHERE l.subject = {subject} AND l.key = {f}.key AND l.valid_from = {f}.valid_from
      AND l.sequence = {f}.sequence AND l.version = {f}.version
      AND l.known_from = {f}.known_from))"""

# The subjects asked, each with its path for registers and, when probed, its bound as
# known at $2 (no row known by then lies later in valid time). The fence (OFFSET 0) keeps
# the bound one descent a subject, not one a key joined to it.
_ASKED: Final = f"""
SELECT s.subject, s.registers, {_PROBED} AS probed, CASE WHEN {_PROBED} THEN (
    SELECT b.bound FROM read_bounds b WHERE b.subject = s.subject AND b.known_from <= $2
    ORDER BY b.known_from DESC LIMIT 1) END AS bound
FROM read_subjects s
WHERE s.subject = ANY($1::text[])
OFFSET 0
"""  # noqa: S608 - constants only

# The register of each key of the subject `s`, when probed: the row latest in valid time
# among those believed at $2, at or before `{at}`, confident enough. A key with rows
# recorded after $2 is read from the subject's bound (rows recorded after $2 are rarely
# seen). `{gate}`: a condition on the outer row, for a lookup made only where it holds.
_KEY_LOOKUP: Final = f"""
    SELECT f.key, f.valid_from, f.sequence, f.version, f.known_from, f.value FROM read_facts f
    WHERE f.subject = k.subject AND f.key = k.key {{gate}}
      AND {counts("f", "CASE WHEN k.last_known <= $2 THEN {at} ELSE least({at}, s.bound) END")}
    ORDER BY f.valid_from DESC, f.sequence DESC LIMIT 1"""  # noqa: S608 - constants only

_PROBED_KEYS: Final = """
FROM read_keys k
CROSS JOIN LATERAL ({lookup}) t
{more}
WHERE s.probed AND k.subject = s.subject AND k.key <> '' AND k.first_known <= $2"""

# The registers of the subject `s` at $3, when probed: among its last $6 register rows a
# key at or before $3 and known by $2 (read_facts_recent, in valid-time order), the first
# believed and confident enough of each key; a key with none among them, by a descent of
# its own. The rows a key's register lies among are read once for all its keys, where a
# descent per key costs each of a busy subject's keys a walk down the index. The index
# holds the rows of the subjects flagged busy, all of them (`model_writes.flag_busy`): a
# subject not flagged (yet) finds none there, and every key of it is a descent.
_RECENT: Final = f"""
    SELECT DISTINCT ON (w.key) w.key, w.valid_from, w.sequence, w.version, w.known_from, w.value
    FROM (
        SELECT f.key, f.valid_from, f.sequence, f.version, f.known_from, f.known_to,
               f.confidence, f.value
        FROM read_facts f
        WHERE f.subject = s.subject AND f.busy AND f.key <> ''
          AND f.valid_from <= least($3, s.bound) AND f.known_from <= $2
        ORDER BY f.valid_from DESC, f.sequence DESC
        LIMIT $6 * greatest(s.registers, 1)
    ) w
    WHERE {counts("w", "$3")}
    ORDER BY w.key, w.valid_from DESC, w.sequence DESC"""  # noqa: S608 - constants only

_REGISTERS: Final = f"""
SELECT k.key, CASE WHEN w.key IS NOT NULL THEN {_VALUE.format(f="w", subject="k.subject")}
                   ELSE {_VALUE.format(f="t", subject="k.subject")} END AS value
FROM read_keys k
LEFT JOIN ({_RECENT}) w ON w.key = k.key
LEFT JOIN LATERAL ({_KEY_LOOKUP.format(at="$3", gate="AND w.key IS NULL")}) t ON true
WHERE s.probed AND k.subject = s.subject AND k.key <> '' AND k.first_known <= $2
  AND (w.key IS NOT NULL OR t.key IS NOT NULL)
"""  # noqa: S608 - constants only

# The same registers, when not probed, by one range scan of the subject's rows in index
# order, the first believed row of each key at or before `{at}` kept. The scan is fenced
# (OFFSET 0) so that the belief filter stays off the index condition: PostgreSQL 18 costs
# a condition on valid_from behind the range on key as a skip scan, a descent per distinct
# key of the whole table, and on a small read model reads the whole table instead (40 ms
# for a subject of ten rows).
_SUBJECT_ROWS: Final = """
        SELECT f.key, f.valid_from, f.sequence, f.version, f.known_from, f.known_to,
               f.confidence, f.value
        FROM read_facts f
        WHERE f.subject = s.subject AND f.key > ''
        ORDER BY f.key, f.valid_from DESC, f.sequence DESC
        OFFSET 0"""


_SCANNED_KEYS: Final = f"""
    SELECT DISTINCT ON (f.key) f.key, f.valid_from, f.sequence, f.version, f.known_from, f.value
    FROM ({_SUBJECT_ROWS}) f
    WHERE {counts("f", "{at}")}
    ORDER BY f.key, f.valid_from DESC, f.sequence DESC"""  # noqa: S608 - constants only

_REGISTERS_SCANNED: Final = f"""
SELECT t.key, {_VALUE.format(f="t", subject="s.subject")} AS value
FROM ({_SCANNED_KEYS.format(at="$3")}) t
WHERE NOT s.probed
"""  # noqa: S608 - constants only

# A diff's registers: each key's register at the later end, $3, and where that row lies
# after the earlier end, $6, the key's register there (`w`, none where the key held none
# yet): a register whose row lies at or before $6 is the same at both ends, and is neither
# looked up again nor sent. `was_held`: the key holds a register at $6.
_PAIR: Final = """
SELECT t.key, t.valid_from > $6 AS changed, w.key IS NOT NULL AS had,
       CASE WHEN t.valid_from > $6 THEN {now} END AS now,
       CASE WHEN w.key IS NOT NULL THEN {was} END AS was,
       t.valid_from <= $6 OR w.key IS NOT NULL AS was_held"""

_PAIRS_PROBED: Final = _PAIR.format(
    now=_VALUE.format(f="t", subject="k.subject"), was=_VALUE.format(f="w", subject="k.subject")
) + _PROBED_KEYS.format(
    lookup=_KEY_LOOKUP.format(at="$3", gate=""),
    more=f"LEFT JOIN LATERAL ({_KEY_LOOKUP.format(at='$6', gate='AND t.valid_from > $6')})"
    " w ON true",
)

# When scanned, both ends' registers come from one pass over the subject's rows in index
# order, those that count at the later end alone: a key's first is its register there, and
# its first at or before the earlier end (where `lag` sees its rows cross that end) is its
# register there, every row counting at the earlier end counting at the later one. Each
# row kept is one end's register, in `_PAIR`'s columns: the later end's (`changed` where
# it lies after the earlier end), or, where the key's register differs, the earlier end's
# (`had`); the subject's aggregates pair them. A descent per key for the earlier end costs
# an issue whose stances nearly all changed a walk down the index for each.
_PAIRS_SCANNED: Final = f"""
SELECT c.key, NOT c.earlier AND c.after IS NULL AS changed, c.after IS NOT NULL AS had,
       CASE WHEN NOT c.earlier THEN {_VALUE.format(f="c", subject="s.subject")} END AS now,
       CASE WHEN c.after IS NOT NULL THEN {_VALUE.format(f="c", subject="s.subject")} END AS was,
       c.earlier AS was_held
FROM (
    SELECT f.key, f.valid_from, f.sequence, f.version, f.known_from, f.value,
           f.valid_from <= $6 AS earlier, lag(f.valid_from <= $6) OVER r AS after
    FROM ({_SUBJECT_ROWS}) f
    WHERE {counts("f", "$3")}
    WINDOW r AS (PARTITION BY f.key ORDER BY f.valid_from DESC, f.sequence DESC)
) c
WHERE NOT s.probed AND (c.after IS NULL OR (c.earlier AND NOT c.after))"""  # noqa: S608

# The events to fold of the subject `s`, each as believed (its value): every believed ''
# row at or before $3 (put in valid-time order by the caller).
_CORE: Final = f"""
SELECT array_agg({_VALUE.format(f="f", subject="f.subject")}) AS core
FROM read_facts f
WHERE f.subject = s.subject AND f.key = '' AND {counts("f", "$3")}
"""  # noqa: S608 - constants only

# A row a subject, its facts as arrays, each aggregated inside the subject's own lateral
# (nothing is grouped or sorted across the page: a GROUP BY over the page's rows costs a
# page of 100 plans or issues a third of its statement). `keys` and `registers` pair up:
# two aggregates over one input see its rows in one order.
_FACTS: Final = f"""
SELECT s.subject, r.keys, r.registers, c.core
FROM ({_ASKED}) AS s
CROSS JOIN LATERAL (
    SELECT array_agg(x.key) AS keys, array_agg(x.value) AS registers
    FROM ({_REGISTERS} UNION ALL {_REGISTERS_SCANNED}) AS x
) AS r
CROSS JOIN LATERAL ({_CORE}) AS c
WHERE r.keys IS NOT NULL OR c.core IS NOT NULL
"""  # noqa: S608 - constants only

# A diff's row a subject: the keys whose registers differ between its ends with their
# values at the later end, those of them that held one at the earlier end with their
# values there, whether it holds a register at each end, and its events to fold up to
# the later end. The aggregates pair up as `_FACTS`'s do.
_CHANGED: Final = f"""
SELECT s.subject, r.keys, r.now, r.had, r.was, r.was_held, r.held > 0 AS now_held, c.core
FROM ({_ASKED}) AS s
CROSS JOIN LATERAL (
    SELECT array_agg(x.key) FILTER (WHERE x.changed) AS keys,
           array_agg(x.now) FILTER (WHERE x.changed) AS now,
           array_agg(x.key) FILTER (WHERE x.had) AS had,
           array_agg(x.was) FILTER (WHERE x.had) AS was,
           coalesce(bool_or(x.was_held), false) AS was_held, count(*) AS held
    FROM ({_PAIRS_PROBED} UNION ALL {_PAIRS_SCANNED}) AS x
) AS r
CROSS JOIN LATERAL ({_CORE}) AS c
WHERE r.held > 0 OR c.core IS NOT NULL
"""  # noqa: S608 - constants only

# One subject's question compares with `= $1`: PostgreSQL guesses an array parameter holds
# ten values, so for `= ANY($1)` with one it finds a fresh plan cheaper every time and
# plans each call again (a millisecond); with `= $1` it keeps one plan per connection.
_FACTS_ONE: Final = _FACTS.replace("= ANY($1::text[])", "= $1::text")
assert _FACTS_ONE.count("= $1::text") == 1, "the subjects are named once"

# A subject with at most this many read_facts rows per register key (as the read_subjects
# counts stand) has its registers read by one range scan, busier ones as probed.
SCAN_ROWS_PER_KEY: Final = 8
# A probed subject's registers are first looked for among its last this many register rows
# a key at or before the question's time.
RECENT_ROWS_PER_KEY: Final = 3


class Damaged(Exception):
    """A read-model row that is not what the projector writes (a register without a stance,
    a CORE fact without its event): the remedy is `annals readmodel rebuild`."""

    def __init__(self, subject: str, what: str) -> None:
        super().__init__(f"{subject}: {what}")
        self.subject = subject


class Facts(NamedTuple):
    """What a question selects of one subject: its registers' keys and values (in no
    order), and the events to fold (each CORE fact's value,
    `projections.facts.folded_event`, in no order)."""

    keys: list[str]
    registers: list[bytes | None]
    core: list[bytes | None]


def facts_statement(
    subjects: list[str], known: int, at: datetime, floor: int
) -> tuple[str, tuple[object, ...]]:
    """The statement `facts` runs for these subjects, and its arguments."""
    if len(subjects) == 1:
        return _FACTS_ONE, (subjects[0], known, at, floor, SCAN_ROWS_PER_KEY, RECENT_ROWS_PER_KEY)
    return _FACTS, (subjects, known, at, floor, SCAN_ROWS_PER_KEY, RECENT_ROWS_PER_KEY)


async def facts(
    conn: Conn, subjects: list[str], known: int, at: datetime, floor: int
) -> dict[str, Facts]:
    """The registers and the events to fold of each of these subjects that has any, in one
    round trip."""
    sql, args = facts_statement(subjects, known, at, floor)
    return _by_subject(await conn.fetch(sql, *args))


class Changed(NamedTuple):
    """What a diff selects of one subject: its registers at each end, only those whose values
    differ (`Facts` without events), whether it holds any register at each end, and its
    events to fold up to the later end."""

    earlier: Facts
    later: Facts
    held: tuple[bool, bool]
    core: list[bytes | None]


async def changed(
    conn: Conn, subjects: list[str], known: int, earlier: datetime, later: datetime, floor: int
) -> dict[str, Changed]:
    """A diff's facts of these subjects, from valid time `earlier` to `later`, in one round
    trip: the registers that differ and the events to fold."""
    rows = await conn.fetch(_CHANGED, subjects, known, later, floor, SCAN_ROWS_PER_KEY, earlier)
    return {
        r[0]: Changed(
            Facts(r[3] or [], r[4] or [], []),
            Facts(r[1] or [], r[2] or [], []),
            (r[5], r[6]),
            r[7] or [],
        )
        for r in rows
    }


def _by_subject(rows: list[Record]) -> dict[str, Facts]:
    return {r[0]: Facts(r[1] or [], r[2] or [], r[3] or []) for r in rows}


class Listed(NamedTuple):
    """A subject of a walk, with its read_subjects counts: its register keys and its folded
    events, at any sequence (never fewer than a question of it selects: a register at each
    end asked, the events to fold once); and whether a fact it selects lies between the
    valid times a walk compares (True when it compares none)."""

    subject: str
    registers: int
    folded: int
    moved: bool


# The subjects of a walk, in id order, and whether a fact believed at $4 with confidence
# at least $7 lies in valid time after $6 and at or before $8 (NULL: none asked). The
# probe stops at the first such row, found as a question reads registers ($9 rows per
# key): by one scan of the subject's rows in index order, or for a busier subject by a
# descent into each key known by $4. Each keeps the range on valid_from off the index
# condition of a scan by subject alone, for the reason `_SCANNED_KEYS` is fenced: on a
# small read model PostgreSQL would read the whole table a subject.
_LISTED: Final = f"""
SELECT s.subject, s.registers, s.folded, $6::timestamptz IS NULL OR m.moved IS NOT NULL
FROM (
    SELECT subject, registers, folded, {probed("$9")} AS probed FROM read_subjects s
    WHERE subject > $1 AND subject >= $2 AND subject < $3 AND first_known <= $4
    ORDER BY subject LIMIT $5
) AS s
LEFT JOIN LATERAL (
    SELECT true AS moved FROM (
        SELECT f.valid_from, f.known_from, f.known_to, f.confidence FROM read_facts f
        WHERE $6::timestamptz IS NOT NULL AND NOT s.probed AND f.subject = s.subject
        ORDER BY f.key, f.valid_from DESC, f.sequence DESC
        OFFSET 0
    ) AS f
    WHERE f.valid_from > $6 AND {counts("f", "$8::timestamptz", known="$4", floor="$7")}
    UNION ALL
    SELECT true FROM read_keys k
    CROSS JOIN LATERAL (
        SELECT FROM read_facts f
        WHERE f.subject = k.subject AND f.key = k.key
          AND f.valid_from > $6 AND {counts("f", "$8::timestamptz", known="$4", floor="$7")}
        LIMIT 1
    ) AS f
    WHERE $6::timestamptz IS NOT NULL AND s.probed AND k.subject = s.subject
      AND k.first_known <= $4
    LIMIT 1
) AS m ON true
ORDER BY s.subject
"""  # noqa: S608 - constants only


async def subjects(
    conn: Conn,
    known: int,
    prefix: str,
    after: str,
    limit: int,
    between: tuple[datetime, datetime] | None = None,
    floor: int = 0,
) -> list[Listed]:
    """Up to `limit` subjects after `after` that start with `prefix` and have a fact known
    by `known`, in id order; with `between` (two valid times), each says whether a fact
    believed at `known` with confidence at least `floor` lies after the first and at or
    before the second: where none does, the subject's state is the same at both. Ids are
    ASCII below `~`, so `prefix~` bounds the range."""
    since, until = between if between is not None else (None, None)
    rows = await conn.fetch(
        _LISTED, after, prefix, prefix + "~", known, limit, since, floor, until, SCAN_ROWS_PER_KEY
    )
    return [Listed(*r) for r in rows]


async def sample_subjects(conn: Conn, n: int, seed: int) -> list[str]:
    """Up to `n` subjects with a fact, drawn by `seed` (a hash of the id: one pass over
    read_subjects, the same draw for the same seed); every subject when `n` is 0."""
    rows = await conn.fetch(
        "SELECT subject FROM read_subjects ORDER BY md5(subject || $1::text), subject"
        " LIMIT CASE WHEN $2 > 0 THEN $2 END",
        str(seed),
        n,
    )
    return [r["subject"] for r in rows]
