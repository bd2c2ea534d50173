"""SQL of webhook subscriptions: the rows, their delivery cursor, and the events they match."""

from __future__ import annotations

from datetime import datetime
from typing import Final

import asyncpg
from msgspec import Struct

from events.envelope import StoredEvent
from events.store import COLUMNS, Conn, row_to_stored
from events.vocabulary import type_matches_sql


class Subscription(Struct, frozen=True, kw_only=True):
    """A subscription as stored, secret included."""

    id: str
    url: str
    types: list[str] | None
    subject: str | None
    secret: str
    after: int
    delivered: int  # every matching event up to here is acknowledged
    failures: int  # failed attempts since the last acknowledgement
    next_attempt_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    created_at: datetime


_FIELDS: Final = (
    "id, url, types, subject, secret, after, delivered, failures, next_attempt_at,"
    " last_error, last_error_at, created_at"
)

# Which events a subscription matches: its types (each exact, or a prefix ending in "."),
# or every type when it names none. $1 the cursor, $2 the types, $3 the last sequence.
# The subject, when given, is matched through event_concerns (every subject an event
# concerns, SPEC §1), whose (subject, sequence) index the query walks.
_BY_TYPE: Final = (
    "($2::text[] IS NULL OR EXISTS (SELECT 1 FROM unnest($2::text[]) AS p(t)"  # noqa: S608
    f" WHERE {type_matches_sql('e.type', 'p.t')}))"
)
_ANY_SUBJECT: Final = f"FROM events e WHERE e.sequence > $1 AND e.sequence <= $3 AND {_BY_TYPE}"
_ONE_SUBJECT: Final = (
    "FROM events e WHERE e.sequence IN (SELECT c.sequence FROM event_concerns c"  # noqa: S608
    " WHERE c.subject = $4 AND c.sequence > $1 AND c.sequence <= $3)"
    f" AND {_BY_TYPE}"
)
_HEAD: Final = "SELECT coalesce(max(sequence), 0) FROM events"


def _row(r: asyncpg.Record) -> Subscription:
    return Subscription(**{k: r[k] for k in r.keys()})  # noqa: SIM118 (a Record is no dict)


async def create(
    conn: Conn,
    *,
    id_: str,
    url: str,
    types: list[str] | None,
    subject: str | None,
    secret: str,
    after: int | None,
    most: int,
) -> Subscription | None:
    """Store a new subscription starting after `after` (None: the head of the log).

    None when `most` subscriptions exist already (the count and the insert are one
    statement, under a lock, so concurrent requests cannot pass the limit together)."""
    async with conn.transaction():
        await conn.execute("LOCK TABLE subscriptions IN SHARE ROW EXCLUSIVE MODE")
        row = await conn.fetchrow(
            "INSERT INTO subscriptions (id, url, types, subject, secret, after, delivered)"  # noqa: S608
            " SELECT $1, $2, $3, $4, $5, h.after, h.after"
            f" FROM (SELECT coalesce($6::bigint, ({_HEAD})) AS after) h"
            " WHERE (SELECT count(*) FROM subscriptions) < $7"
            f" RETURNING {_FIELDS}",
            id_,
            url,
            types,
            subject,
            secret,
            after,
            most,
        )
    return None if row is None else _row(row)


async def list_all(conn: Conn) -> list[Subscription]:
    """Every subscription, oldest first."""
    rows = await conn.fetch(f"SELECT {_FIELDS} FROM subscriptions ORDER BY created_at, id")  # noqa: S608
    return [_row(r) for r in rows]


async def get(conn: Conn, id_: str) -> Subscription | None:
    """One subscription, or None."""
    row = await conn.fetchrow(f"SELECT {_FIELDS} FROM subscriptions WHERE id = $1", id_)  # noqa: S608
    return None if row is None else _row(row)


async def delete(conn: Conn, id_: str) -> bool:
    """End a subscription; False when there was none."""
    return str(await conn.execute("DELETE FROM subscriptions WHERE id = $1", id_)) != "DELETE 0"


async def pending(conn: Conn, sub: Subscription) -> int:
    """How many events the subscription matches after its cursor, up to the head."""
    head = await conn.fetchval(_HEAD)
    if sub.subject is None:
        sql = f"SELECT count(*) {_ANY_SUBJECT}"
        n = await conn.fetchval(sql, sub.delivered, sub.types, head)
    else:
        sql = f"SELECT count(*) {_ONE_SUBJECT}"
        n = await conn.fetchval(sql, sub.delivered, sub.types, head, sub.subject)
    return int(n)


async def read_matching(
    conn: Conn, sub: Subscription, after: int, limit: int
) -> tuple[list[StoredEvent], int]:
    """The next `limit` events the subscription matches after `after`, and how far that
    read reaches: the last of them when the page is full, else the head of the log.

    The head is read first, in a statement of its own: every event up to it has committed
    (sequences are handed out in commit order, docs/ARCHITECTURE.md), so the second
    statement sees all of them, and a short page means nothing else up to the head
    matches. The cursor may then move to the head past events the subscription skips."""
    head = int(await conn.fetchval(_HEAD))
    if sub.subject is None:
        sql = f"SELECT {COLUMNS} {_ANY_SUBJECT} ORDER BY e.sequence LIMIT $4"
        rows = await conn.fetch(sql, after, sub.types, head, limit)
    else:
        sql = f"SELECT {COLUMNS} {_ONE_SUBJECT} ORDER BY e.sequence LIMIT $5"
        rows = await conn.fetch(sql, after, sub.types, head, sub.subject, limit)
    events = [row_to_stored(r) for r in rows]
    reach = events[-1].sequence if len(events) == limit else max(head, after)
    return events, reach


async def advance(conn: Conn, id_: str, sequence: int) -> bool:
    """Everything the subscription matches up to `sequence` is acknowledged; False when
    the subscription is gone."""
    status = await conn.execute(
        "UPDATE subscriptions SET delivered = greatest(delivered, $2), failures = 0,"
        " next_attempt_at = NULL WHERE id = $1",
        id_,
        sequence,
    )
    return str(status) != "UPDATE 0"


async def record_failure(
    conn: Conn, id_: str, failures: int, error: str, next_attempt_at: datetime
) -> bool:
    """A failed attempt and when to try again; False when the subscription is gone."""
    status = await conn.execute(
        "UPDATE subscriptions SET failures = $2, last_error = $3, last_error_at = now(),"
        " next_attempt_at = $4 WHERE id = $1",
        id_,
        failures,
        error,
        next_attempt_at,
    )
    return str(status) != "UPDATE 0"
