"""Apply the versioned SQL migrations under an advisory lock: safe when processes race."""

from __future__ import annotations

import re
from importlib import resources

import asyncpg

from events import locks

_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every migration shipped, in order."""
    found = []
    for entry in resources.files("events.migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append((int(m.group(1)), entry.name, entry.read_text("utf-8")))
    return sorted(found)


async def newest(conn: asyncpg.Connection) -> int:
    """The newest migration applied (0 before any); UndefinedTableError before migrate."""
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM annals_migrations"))


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply what is missing, all in one transaction; return the names applied.

    The transaction-scoped advisory lock makes a second process wait, then find the work
    done: two services starting at once on an empty database both come up.
    """
    applied: list[str] = []
    async with conn.transaction():
        await locks.hold_in_transaction(conn, locks.MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS annals_migrations ("
            " version int PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM annals_migrations")}
        for version, name, sql in migrations():
            if version in done:
                continue
            await conn.execute(sql)
            await conn.execute(
                "INSERT INTO annals_migrations (version, name) VALUES ($1, $2)", version, name
            )
            applied.append(name)
    return applied
