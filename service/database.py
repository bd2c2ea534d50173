"""Connections to PostgreSQL: the pool, exact timestamps, migrations applied first."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Final

import asyncpg

from events.migrate import migrate
from events.timeparse import FIRST_INSTANT, LAST_INSTANT

log = logging.getLogger("annals.database")

# timestamptz on the wire: microseconds since 2000-01-01 UTC; int64 extremes are ±infinity.
_PG_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_PG_INFINITY: Final = 2**63 - 1


def _encode_timestamptz(dt: datetime) -> tuple[int]:
    aware = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
    return ((aware - _PG_EPOCH) // _MICROSECOND,)


def _decode_timestamptz(wire: tuple[int]) -> datetime:
    us = wire[0]
    if us >= _PG_INFINITY:
        return LAST_INSTANT
    if us <= -_PG_INFINITY - 1:
        return FIRST_INSTANT
    return _PG_EPOCH + timedelta(microseconds=us)


async def exact_timestamps(conn: asyncpg.Connection) -> None:
    """Store and read every timestamptz as the instant it is, always timezone-aware.

    asyncpg writes datetime.min/max as -infinity/infinity and reads those back as *naive*
    datetimes: an event at `0001` (0001-01-01T00:00Z) would be stored as -infinity and break
    every read of the log (naive and aware datetimes do not mix). Infinities already stored
    read back as the first and last instants there are.
    """
    await conn.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=_encode_timestamptz,
        decoder=_decode_timestamptz,
        format="tuple",
    )


async def connect(url: str, *, connect_timeout: float = 5.0) -> asyncpg.Connection:
    """One connection outside the pool (the CLI's maintenance commands), set up as the
    pool's are (exact timestamps), with the migrations applied."""
    conn = await asyncpg.connect(url, timeout=connect_timeout)
    try:
        await exact_timestamps(conn)
        applied = await migrate(conn)
    except BaseException:
        await conn.close()
        raise
    if applied:
        log.info("applied migrations: %s", ", ".join(applied))
    return conn


async def create_pool(
    url: str,
    *,
    min_size: int = 2,
    max_size: int = 10,
    connect_timeout: float = 5.0,
    replica: bool = False,
) -> asyncpg.Pool:
    """One asyncpg pool for the process; migrations applied before it is handed out.

    A replica's pool (`replica=True`) migrates nothing: a hot standby is read-only and
    receives the schema from its primary's WAL.
    """
    if not replica:
        conn = await connect(url, connect_timeout=connect_timeout)
        await conn.close()
    return await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=connect_timeout,
        command_timeout=60,
        init=exact_timestamps,
        reset=_keep_session,
    )


async def _keep_session(conn: asyncpg.Connection) -> None:
    """What a released connection needs beyond asyncpg's own rollback of an open
    transaction: nothing. Pooled connections take no session state (no SET, LISTEN, cursor
    or session-level lock: the listener and the webhook worker hold connections of their
    own), so asyncpg's default reset (RESET ALL, UNLISTEN *, …) would only add a round trip
    to every request."""
