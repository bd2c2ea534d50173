"""`annals import`: NDJSON events into the log, with progress, then the read model's catch-up."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from service import importer, readmodel_cli
from service.importer import ImportStats, Stopped, file_lines, import_lines
from service.settings import Settings
from service.wiring import Services, run

err = Console(stderr=True)


def add_import_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `import FILE [--as-new]` to the `annals` command line."""
    s = subparsers.add_parser("import", help="import NDJSON events (idempotent)")
    s.add_argument("file")
    s.add_argument(
        "--as-new",
        action="store_true",
        help="append an export's events as new ones (new sequence, time, hash) instead of "
        "restoring them at their original place in the chain",
    )
    s.set_defaults(fn=cmd_import)


async def import_file(svc: Services, path: Path, quiet: bool = False, restore: bool = True) -> int:
    """Import the file at `path` into the log, with a bar by bytes read, then bring the read
    model up to the head; an exit code (a stop names its line and what was stored)."""
    if not path.exists():
        err.print(f"[red]no such file: {path}[/red]")
        return 2
    # Progress by bytes read: no counting pass over a file of millions of lines first.
    with Progress(
        TextColumn("importing {task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet,
    ) as bar:
        task = bar.add_task(path.name, total=path.stat().st_size, rate="")
        started = time.monotonic()

        def tick(stats: ImportStats) -> None:
            done = stats.appended + stats.already
            rate = done / max(time.monotonic() - started, 1e-6)
            bar.update(task, completed=stats.bytes, rate=f"{done:,} events, {rate:,.0f}/s")

        try:
            stats = await import_lines(svc.writer, file_lines(path), tick, restore)
        except Stopped as e:
            done = e.stats
            # soft_wrap: a message is one line, whatever the terminal's width (greppable).
            err.print(f"[red]import stopped:[/red] {e.error}", soft_wrap=True)
            err.print(
                f"Stored before it: lines 1-{done.lines} ({done.appended} appended, "
                f"{done.already} already there); nothing after. Fix the line named above "
                "and run the same import again: it resumes, appending nothing twice.",
                soft_wrap=True,
            )
            return 1
    err.print(
        f"{path.name}: {stats.appended} appended, {stats.already} already stored; "
        f"the log's head is {stats.sequence}"
    )
    async with svc.pool.acquire() as conn:
        await readmodel_cli.catch_up(conn, quiet=quiet, bulk=stats.appended >= importer.BULK)
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """Import NDJSON events; idempotent (re-running appends nothing twice)."""
    return run(
        lambda svc: import_file(svc, Path(args.file), restore=not args.as_new),
        settings,
        follow=True,
    )
