"""`annals readmodel status|rebuild|verify`: how far the read model holds the log; a
rebuild; its answers checked against the full replay."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from events import store
from projections.facts import RULES
from queries import check, model, model_writes, projector
from service import runtime
from service.database import connect
from service.settings import Settings
from service.wiring import database_url

err = Console(stderr=True)


def add_readmodel_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `readmodel status|rebuild|verify` to the `annals` command line."""
    p = subparsers.add_parser(
        "readmodel", help="the read model: its status, a rebuild, or a check of its answers"
    )
    sub = p.add_subparsers(dest="readmodel_command", required=True)
    sub.add_parser("status", help="checkpoint, head and rules").set_defaults(fn=cmd_status)
    sub.add_parser(
        "rebuild", help="empty the read model and build it again from the whole log"
    ).set_defaults(fn=cmd_rebuild)
    v = sub.add_parser(
        "verify",
        help="ask the read model and the full replay of the log the same questions",
        description=(
            "Ask questions of subjects drawn at random (everything as known now, and at "
            "their own valid times and sequences) of the read model and of the full replay "
            "of the log, and list where they differ (exit 1). The replay of a subject costs "
            "its whole history: a busy one takes seconds."
        ),
    )
    v.add_argument(
        "--subjects", type=int, default=100, help="how many subjects to draw (0: every one)"
    )
    v.add_argument("--questions", type=int, default=4, help="questions per subject")
    v.add_argument("--seed", type=int, default=0, help="the draw (the same seed, the same draw)")
    v.set_defaults(fn=cmd_verify)


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

    return runtime.run(go())


@contextlib.contextmanager
def progress(label: str, quiet: bool = False) -> Iterator[Callable[[int, int | None], None]]:
    """A progress bar on stderr, and the callback that moves it (done, total: None while the
    total is not known)."""
    with Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=quiet,
    ) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


async def catch_up(conn: Any, *, quiet: bool = False, bulk: bool = False) -> int:
    """Bring the read model up to the log's head with a progress bar; return its checkpoint.
    After a `bulk` build (a rebuild, a large import) the new rows are settled."""
    with progress("read model", quiet) as advance:
        held = await projector.catch_up(conn, progress=advance)
    if bulk:
        await model_writes.settle(conn)
    return held


def cmd_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    """Rebuild the read model from the log."""

    async def go() -> int:
        conn = await _connect(settings)
        try:
            with progress("read model") as advance:
                held = await projector.rebuild(conn, progress=advance)
        finally:
            await conn.close()
        err.print(f"read model rebuilt: {held} events under rules {RULES}")
        return 0

    return runtime.run(go())


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Check the read model's answers against the full replay; 1 when any differ."""
    if args.subjects < 0 or args.questions < 1:
        err.print("--subjects must be 0 or more, --questions 1 or more")
        return 2

    async def go() -> int:
        conn = await _connect(settings)
        try:
            held = await catch_up(conn)
            with progress("verifying") as advance:
                checked, found = await check.verify(
                    conn, held, args.subjects, args.questions, args.seed, advance
                )
        finally:
            await conn.close()
        for m in found:
            what = (
                "the read model and the replay disagree"
                if m.failure is None
                else f"the read model fails: {m.failure}"
            )
            said = (
                f"{m.subject} at {m.at.isoformat()} as known at {m.known}"
                f" (min_confidence {m.min_confidence}): {what}"
            )
            err.print(f"[red]differs[/red] {escape(said)}", highlight=False)
        if found:
            err.print(
                f"{len(found)} answers differ from the replay of the log: run "
                "`annals readmodel rebuild`, and report it if they still differ"
            )
            return 1
        err.print(
            f"verified {checked} subjects, up to {args.questions} questions each, at sequence"
            f" {held}: the read model equals the replay of the log"
        )
        return 0

    return runtime.run(go())
