"""The advisory locks that keep a job to one process (or one transaction) at a time."""

from __future__ import annotations

from typing import Final

from events.store import Conn

# Any constants work; each only has to be the same for every Annals process on a database.
MIGRATION_LOCK: Final = 0x414E4E41_4C53_0001  # applying the migrations, a transaction's
APPEND_LOCK: Final = 0x414E4E41_4C53_0002  # numbering events, a transaction's
DELIVERIES_LOCK: Final = 0x414E4E41_4C53_0003  # delivering webhooks, a session's
FOLLOWER_LOCK: Final = 0x414E4E41_4C53_0004  # following the log into the read model, a session's


async def hold(conn: Conn, lock: int) -> None:
    """Wait for `lock`, then hold it until `conn` closes."""
    await conn.execute("SELECT pg_advisory_lock($1)", lock)


async def try_hold(conn: Conn, lock: int) -> bool:
    """Take `lock` for as long as `conn` lives if it is free; whether it was."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock))


async def hold_in_transaction(conn: Conn, lock: int) -> None:
    """Wait for `lock`, then hold it until the transaction `conn` is in ends."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", lock)
