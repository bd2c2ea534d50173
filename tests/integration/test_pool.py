"""The service's pool: giving a connection back costs no round trip, and loses nothing."""

from __future__ import annotations

from typing import Any

from service.database import create_pool


async def test_a_released_connection_is_given_back_without_a_query(db_url: str) -> None:
    """Pooled connections hold no session state (no SET, LISTEN, cursor or session lock:
    those live on connections of their own), so the reset asyncpg runs on every release
    (RESET ALL, UNLISTEN *, …: one more round trip a request) is left out."""
    pool = await create_pool(db_url, min_size=1, max_size=1)
    sent: list[str] = []

    def record(query: Any) -> None:
        sent.append(query.query)

    try:
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
            conn.add_query_logger(record)
        assert sent == []
    finally:
        await pool.close()


async def test_a_connection_given_back_inside_a_transaction_is_rolled_back(db_url: str) -> None:
    pool = await create_pool(db_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("BEGIN")
            await conn.execute("CREATE TABLE left_open (n int)")
        async with pool.acquire() as conn:  # the same connection (max_size=1)
            assert not conn.is_in_transaction()
            assert await conn.fetchval("SELECT to_regclass('left_open')") is None
    finally:
        await pool.close()
