"""Bootstrap: the one place where settings, the pool and the writer are put together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from events.writer import Writer
from service.database import create_pool, embedded_url
from service.settings import Settings
from service.stream import Listener

log = logging.getLogger("annals")
EXAMPLE = Path(__file__).resolve().parent.parent / "data" / "examples" / "peace-talks-2025.ndjson"


@dataclass
class Services:
    """What request handlers need, built once per process."""

    settings: Settings
    pool: Any  # asyncpg.Pool
    writer: Writer
    listener: Listener | None = None  # wakes live streams; None where nothing streams

    async def acquire(self) -> Any:
        """A pooled connection, or a clear failure within the configured timeout."""
        return self.pool.acquire(timeout=self.settings.db_timeout)


def database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started if needed)."""
    return settings.database_url or embedded_url(settings.data_dir)


@contextlib.asynccontextmanager
async def services(settings: Settings) -> AsyncIterator[Services]:
    """Open the pool and start the writer; close both on exit."""
    url = await asyncio.to_thread(database_url, settings)
    try:
        pool = await create_pool(
            url, min_size=1, max_size=settings.pool_max, connect_timeout=settings.db_timeout
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as e:
        raise SystemExit(
            f"annals: cannot reach the database ({e}). Start PostgreSQL, fix "
            "ANNALS_DATABASE_URL, or unset it to use the embedded server."
        ) from e
    writer = Writer(pool, acquire_timeout=settings.db_timeout)
    writer.start()
    listener = Listener(url)
    listener.start()
    try:
        yield Services(settings, pool, writer, listener)
    finally:
        await listener.stop()
        await writer.stop()
        await pool.close()
