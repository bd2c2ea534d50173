"""`annals readmodel status|rebuild`: how far the read model holds the log; a rebuild."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from events import store
from projections.facts import RULES
from queries import model, projector
from service.database import connect
from service.settings import Settings
from service.wiring import database_url

err = Console(stderr=True)


def add_readmodel_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `readmodel status` and `readmodel rebuild` to the `annals` command line."""
    p = subparsers.add_parser("readmodel", help="the read model: its status, or a rebuild")
    sub = p.add_subparsers(dest="readmodel_command", required=True)
    sub.add_parser("status", help="checkpoint, head and rules").set_defaults(fn=cmd_status)
    sub.add_parser(
        "rebuild", help="empty the read model and build it again from the whole log"
    ).set_defaults(fn=cmd_rebuild)


async def _connect(settings: Settings) -> asyncpg.Connection:
    url = await asyncio.to_thread(database_url, settings)
    return await connect(url, connect_timeout=settings.db_timeout)


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Print how far the read model holds the log, and under which rules."""

    async def go() -> int:
        conn = await _connect(settings)
        try:
            rules, held = await model.status(conn)
            head = (await store.read_head(conn)).sequence
        finally:
            await conn.close()
        state = "current" if rules == RULES else f"stale: this code's rules are {RULES}"
        print(f"read model at sequence {held} of {head}; rules {rules or '-'} ({state})")
        return 0

    return asyncio.run(go())


async def rebuild(conn: asyncpg.Connection, *, quiet: bool = False) -> int:
    """Rebuild the read model from the log with a progress bar, then settle it in subject
    order; return its checkpoint."""
    async with conn.transaction():
        await model.lock(conn)
        await model.reset(conn, RULES)
    held = await catch_up(conn, quiet=quiet)
    await model.settle(conn, ordered=True)
    return held


async def catch_up(conn: Any, *, quiet: bool = False, bulk: bool = False) -> int:
    """Bring the read model up to the log's head with a progress bar; return its checkpoint.
    After a `bulk` build (a rebuild, a large import) the new rows are settled."""
    with Progress(
        TextColumn("read model"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
    ) as bar:
        task = bar.add_task("rebuild", total=None)
        held = await projector.catch_up(
            conn, progress=lambda done, total: bar.update(task, completed=done, total=total)
        )
    if bulk:
        await model.settle(conn)
    return held


def cmd_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Rebuild the read model from the log."""

    async def go() -> int:
        conn = await _connect(settings)
        try:
            held = await rebuild(conn)
        finally:
            await conn.close()
        err.print(f"read model rebuilt: {held} events under rules {RULES}")
        return 0

    return asyncio.run(go())
