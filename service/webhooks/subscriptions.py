"""Subscribing, listing and ending webhook subscriptions: what the API and the CLI call."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from msgspec import Struct

from events import subscriptions as store
from events.envelope import FieldError
from events.store import Conflict, Conn
from service.settings import Settings
from service.webhooks import rules, targets


class Created(Struct, frozen=True):
    """201 of POST /v1/subscriptions: the only answer that shows the secret."""

    id: str
    url: str
    types: list[str] | None
    subject: str | None
    secret: str
    after: int


class Shown(Struct, frozen=True):
    """A subscription and how its deliveries stand (the secret is never shown again).

    `delivered`: every matching event up to this sequence is acknowledged; `pending`:
    matching events after it; `failures`: failed attempts of the event now waiting
    (0 when none is failing), retried at `next_attempt`."""

    id: str
    url: str
    types: list[str] | None
    subject: str | None
    after: int
    delivered: int
    pending: int
    failures: int
    last_error: str | None
    last_error_at: datetime | None
    next_attempt: datetime | None
    created: datetime


class Subscriptions(Struct, frozen=True):
    """GET /v1/subscriptions."""

    subscriptions: list[Shown]


async def subscribe(conn: Conn, settings: Settings, body: Any) -> Created:
    """Validate a decoded body, refuse a forbidden target, store; InvalidSubscription (422)
    names the bad field, Conflict (409) says the limit is reached."""
    new = rules.parse_subscription(body)
    refused = await targets.refusal(new.url, settings)
    if refused is not None:
        raise rules.InvalidSubscription([FieldError("$.url", refused)])
    sub = await store.create(
        conn,
        id_=rules.new_id(),
        url=new.url,
        types=new.types,
        subject=new.subject,
        secret=rules.new_secret(),
        after=new.after,
        most=rules.MAX_SUBSCRIPTIONS,
    )
    if sub is None:
        raise Conflict(f"there are {rules.MAX_SUBSCRIPTIONS} subscriptions; delete one first")
    return Created(sub.id, sub.url, sub.types, sub.subject, sub.secret, sub.after)


async def show(conn: Conn, sub: store.Subscription) -> Shown:
    """A stored subscription with its pending count."""
    return Shown(
        id=sub.id,
        url=sub.url,
        types=sub.types,
        subject=sub.subject,
        after=sub.after,
        delivered=sub.delivered,
        pending=await store.pending(conn, sub),
        failures=sub.failures,
        last_error=sub.last_error,
        last_error_at=sub.last_error_at,
        next_attempt=sub.next_attempt_at,
        created=sub.created_at,
    )


async def listing(conn: Conn) -> Subscriptions:
    """Every subscription (at most rules.MAX_SUBSCRIPTIONS)."""
    return Subscriptions([await show(conn, s) for s in await store.list_all(conn)])


async def one(conn: Conn, id_: str) -> Shown | None:
    """One subscription, or None."""
    sub = await store.get(conn, id_) if rules.is_id(id_) else None
    return None if sub is None else await show(conn, sub)


async def remove(conn: Conn, id_: str) -> bool:
    """End a subscription; False when there was none."""
    return rules.is_id(id_) and await store.delete(conn, id_)
