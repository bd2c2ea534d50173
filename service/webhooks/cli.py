"""`annals subscriptions list|add|remove`: webhook subscriptions from the command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from events.store import Conflict
from service import runtime
from service.database import connect
from service.settings import Settings
from service.webhooks import subscriptions as subs
from service.webhooks.rules import InvalidSubscription
from service.wiring import database_url


def add_subscriptions_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add `subscriptions list|add|remove` to the `annals` command line."""
    p = subparsers.add_parser("subscriptions", help="webhook subscriptions (SPEC §8)")
    sub = p.add_subparsers(dest="subscriptions_command", required=True)
    s = sub.add_parser("list", help="every subscription and how its deliveries stand")
    s.set_defaults(fn=cmd_list)
    s = sub.add_parser("add", help="subscribe a URL; prints its id and signing secret")
    s.add_argument("url")
    s.add_argument(
        "--type", dest="types", action="append", help="a type or a prefix like plan. (repeat)"
    )
    s.add_argument("--subject", help="only events concerning it, e.g. party/ukraine")
    s.add_argument("--after", type=int, help="start after this sequence (default: the head)")
    s.set_defaults(fn=cmd_add)
    s = sub.add_parser("remove", help="end a subscription")
    s.add_argument("id")
    s.set_defaults(fn=cmd_remove)


def _with_conn(settings: Settings, go: Callable[[Any], Awaitable[int]]) -> int:
    async def main() -> int:
        url = await asyncio.to_thread(database_url, settings)
        conn = await connect(url, connect_timeout=settings.db_timeout)
        try:
            return await go(conn)
        finally:
            await conn.close()

    return runtime.run(main())


def _json(value: object) -> str:
    return msgspec.json.format(msgspec.json.encode(value), indent=2).decode()


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    """Print every subscription as JSON (the body of GET /v1/subscriptions)."""

    async def go(conn: Any) -> int:
        print(_json(await subs.listing(conn)))
        return 0

    return _with_conn(settings, go)


def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    """Subscribe; print the new subscription with its secret (shown only now)."""
    body = {"url": args.url, "types": args.types, "subject": args.subject, "after": args.after}

    async def go(conn: Any) -> int:
        try:
            created = await subs.subscribe(conn, settings, body)
        except InvalidSubscription as e:
            print(f"annals subscriptions add: {e}", file=sys.stderr)
            return 2
        except Conflict as e:
            print(f"annals subscriptions add: {e.detail}", file=sys.stderr)
            return 1
        print(_json(created))
        return 0

    return _with_conn(settings, go)


def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    """End a subscription; exit 1 when there is none with that id."""

    async def go(conn: Any) -> int:
        if await subs.remove(conn, args.id):
            print(f"removed {args.id}", file=sys.stderr)
            return 0
        print(f"annals subscriptions remove: no subscription {args.id!r}", file=sys.stderr)
        return 1

    return _with_conn(settings, go)
