"""`annals snapshots rebuild [--subject S]` and `annals snapshots clear`: the as-of cache.

Snapshots are a cache beside the log (table `snapshots`): rebuilding or clearing them
never changes an answer, only how long answers take. See service/snapshots.py.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

import asyncpg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from events import snapshots as table
from events import store
from events.vocabulary import CONFIDENCE_RANK
from service import answers, snapshots
from service.database import connect
from service.settings import Settings
from service.wiring import database_url

err = Console(stderr=True)


def add_snapshot_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `snapshots rebuild` and `snapshots clear` to the `annals` command line."""
    p = subparsers.add_parser(
        "snapshots", help="as-of snapshots: a cache of folded states (never changes an answer)"
    )
    sub = p.add_subparsers(dest="snapshots_command", required=True)
    s = sub.add_parser(
        "rebuild",
        help="replace the snapshots of every subject (or one) by fresh ones from a full replay",
    )
    s.add_argument("--subject", help="one subject, e.g. party/russia")
    s.add_argument("--at", help="valid time the replay runs to (default now)")
    s.add_argument("--known-at", help="a sequence number or timestamp (default everything)")
    s.add_argument("--min-confidence", default="disputed", choices=sorted(CONFIDENCE_RANK, key=str))
    s.add_argument(
        "--every",
        type=int,
        default=snapshots.EVERY,
        help=f"a snapshot about every N folded events (default {snapshots.EVERY})",
    )
    s.add_argument(
        "--most",
        type=int,
        default=snapshots.MOST,
        help=f"at most about N snapshots a subject (default {snapshots.MOST})",
    )
    s.set_defaults(fn=cmd_rebuild)
    s = sub.add_parser("clear", help="delete every snapshot (or one subject's)")
    s.add_argument("--subject", help="one subject, e.g. party/russia")
    s.set_defaults(fn=cmd_clear)


async def _connect(settings: Settings) -> asyncpg.Connection:
    url = await asyncio.to_thread(database_url, settings)
    return await connect(url, connect_timeout=settings.db_timeout)


# Subjects rebuilt per load (one query) and per transaction.
BATCH = 256


async def rebuild(
    conn: asyncpg.Connection,
    *,
    subject: str | None = None,
    at: str | None = None,
    known_at: str | None = None,
    min_confidence: str = "disputed",
    every: int = snapshots.EVERY,
    most: int = snapshots.MOST,
    quiet: bool = False,
) -> tuple[int, int]:
    """Replace every subject's (or one's) snapshots by a fresh grid; returns (subjects
    replayed, snapshots stored)."""
    q = await answers.ask(conn, at, known_at, min_confidence, now=datetime.now(UTC))
    subjects = [subject] if subject is not None else await table.subjects(conn)
    stored = 0
    with Progress(
        TextColumn("snapshots {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
    ) as bar:
        task = bar.add_task("", total=len(subjects))
        for i in range(0, len(subjects), BATCH):
            batch = subjects[i : i + BATCH]
            bar.update(task, description=batch[0])
            stored += await snapshots.rebuild(
                conn,
                batch,
                q.at,
                q.known,
                every=every,
                most=most,
                min_confidence=q.min_confidence,
            )
            bar.advance(task, len(batch))
        bar.update(task, description="done")
    return len(subjects), stored


def cmd_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Replay each subject in full and store snapshots along the way."""
    if args.subject is not None and not answers.valid_subject(args.subject):
        err.print(f"[red]not a subject id: {args.subject!r}[/red]")
        return 2

    async def go() -> int:
        conn = await _connect(settings)
        try:
            n, stored = await rebuild(
                conn,
                subject=args.subject,
                at=args.at,
                known_at=args.known_at,
                min_confidence=args.min_confidence,
                every=max(1, args.every),
                most=max(1, args.most),
            )
            head = await store.read_head(conn)
        finally:
            await conn.close()
        err.print(f"{stored} snapshots of {n} subjects, as known at sequence {head.sequence}")
        return 0

    return asyncio.run(go())


def cmd_clear(args: argparse.Namespace, settings: Settings) -> int:
    """Delete snapshots: answers stay the same, the next ones replay in full."""

    async def go() -> int:
        conn = await _connect(settings)
        try:
            n = await table.clear(conn, args.subject)
        finally:
            await conn.close()
        err.print(f"cleared {n} snapshots")
        return 0

    return asyncio.run(go())
