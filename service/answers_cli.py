"""`annals state` and `annals diff`: the answers at a date, a page of subjects at a time."""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from rich.console import Console
from rich.table import Table

import projections
from events.store import Conn
from events.vocabulary import CONFIDENCE_RANK, DEFAULT_MIN_CONFIDENCE, KINDS
from queries import answers, question
from service.settings import Settings
from service.wiring import Services, run

out = Console()
err = Console(stderr=True)


def add_answers_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `state` and `diff` to the `annals` command line."""
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
            default=DEFAULT_MIN_CONFIDENCE,
            choices=list(CONFIDENCE_RANK),
        )
        s.add_argument("--kind", choices=list(KINDS), help="only subjects of this kind")
        s.add_argument("--prefix", help="only subject ids starting with this, e.g. plan/us-")
        s.add_argument("--limit", type=int, default=question.DEFAULT_PAGE, help="subjects per page")
        s.add_argument("--json", action="store_true", help="one JSON document per page")
        s.set_defaults(fn=fn)


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
    """Print the state at a date: one subject, or every subject a page at a time
    (a table per page, or one JSON document per page with --json)."""

    async def go(svc: Services) -> int:
        async with svc.pool.acquire() as conn:
            if args.subject:
                one = await answers.subject_answer(
                    conn, args.subject, args.at, args.known_at, args.min_confidence
                )
                return _print_subject(args, one)
            return await _each_page(
                args,
                conn,
                functools.partial(
                    answers.state_question,
                    at=args.at,
                    known_at=args.known_at,
                    min_confidence=args.min_confidence,
                    budget=svc.settings.page_facts,
                ),
                lambda doc: _print_state_page(args, doc),
            )

    return run(go, settings)


async def _each_page(
    args: argparse.Namespace,
    conn: Conn,
    page_at: Callable[..., Awaitable[answers.PageQuestion]],
    show: Callable[[dict[str, Any]], None],
) -> int:
    """Show every page of a walk (`--kind`, `--prefix`, `--limit`), each asked (`page_at`)
    and read on `conn`, following `next` from the first page."""
    cursor: str | None = None
    while True:
        walk = {"kind": args.kind, "prefix": args.prefix, "limit": args.limit, "cursor": cursor}
        page = await page_at(conn, **walk)
        body = await page.document(conn)
        show(body)
        cursor = body["next"]
        if cursor is None:
            return 0


def _print_subject(args: argparse.Namespace, one: answers.Answer) -> int:
    doc = one.body
    if args.json:
        sys.stdout.buffer.write(msgspec.json.encode(doc or {}) + b"\n")
        return 0 if doc else 1
    doc = projections.plain(doc)  # the tables read plain values
    if not doc:
        err.print(answers.not_counted(args.subject, one.at))
        return 1
    out.print(
        _table(
            args.subject,
            [{"field": k, "value": v} for k, v in doc.items() if k != "facts"],
            ["field", "value"],
        )
    )
    return 0


def _print_state_page(args: argparse.Namespace, doc: dict[str, Any]) -> None:
    if args.json:
        sys.stdout.buffer.write(msgspec.json.encode(doc) + b"\n")
        return
    doc = projections.plain(doc)  # the tables read plain values
    out.print(f"state at {doc['at']}, as known at sequence {doc['sequence']}")
    out.print(_table("Parties", doc["parties"], ["id", "name", "kind", "positions"]))
    out.print(
        _table(
            "Plans",
            doc["plans"],
            ["id", "title", "status", "points", "revision", "classified", "withheld_from"],
        )
    )
    out.print(_table("Meetings", doc["meetings"], ["id", "title", "starts", "location", "status"]))
    out.print(_table("Issues", doc["issues"], ["id", "stances"]))


def cmd_diff(args: argparse.Namespace, settings: Settings) -> int:
    """Print what changed between two dates, a page of subjects at a time."""

    async def go(svc: Services) -> int:
        async with svc.pool.acquire() as conn:
            return await _each_page(
                args,
                conn,
                functools.partial(
                    answers.diff_question,
                    from_=args.from_,
                    to=args.to,
                    known_at=args.known_at,
                    min_confidence=args.min_confidence,
                    budget=svc.settings.page_facts,
                ),
                lambda doc: _print_diff_page(args, doc),
            )

    return run(go, settings)


def _print_diff_page(args: argparse.Namespace, doc: dict[str, Any]) -> None:
    if args.json:
        sys.stdout.buffer.write(msgspec.json.encode(doc) + b"\n")
        return
    doc = projections.plain(doc)  # the tables read plain values
    rows = [
        {**c, "before": _short(c["before"]), "after": _short(c["after"])} for c in doc["changes"]
    ]
    out.print(
        _table(
            f"changes {doc['from']} → {doc['to']}",
            rows,
            ["subject", "field", "before", "after", "event"],
        )
    )


def _short(v: Any) -> str:
    if isinstance(v, dict) and "stance" in v:
        return str(v["stance"])
    s = _cell(v)
    return s if len(s) < 60 else s[:57] + "…"
