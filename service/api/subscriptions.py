"""SPEC §8 over HTTP: /v1/subscriptions (scope admin)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from service.api.intake import decode_json, media_type
from service.api.openapi import SubscribeOperation, problems
from service.problems import Problem
from service.webhooks import subscriptions as subs
from service.wiring import Services


def _not_found(sub_id: str) -> Problem:
    return Problem(404, f"no subscription {sub_id!r}", kind="not-found")


class SubscriptionsController(Controller):
    """Webhook subscriptions: create, list, show, end."""

    path = "/v1/subscriptions"
    tags = ["webhooks"]
    opt = {"scope": "admin"}  # read by service.auth.Access.required_scope

    @post(
        "/",
        status_code=201,
        summary="Subscribe a URL to the log's events (webhooks)",
        operation_class=SubscribeOperation,
        responses=problems(400, 401, 403, 409, 413, 415, 422, 503),
    )
    async def subscribe(self, request: Request[Any, Any, Any]) -> subs.Created:
        """Body {url, types?, subject?, after?}; the answer holds the signing secret, shown
        only here."""
        svc: Services = request.app.state.services
        if media_type(request.headers.get("content-type", "")) != "application/json":
            raise Problem(415, "send the subscription as application/json", kind="media-type")
        body = decode_json(await request.body(), "a JSON subscription")
        async with await svc.acquire() as conn:
            return await subs.subscribe(conn, svc.settings, body)

    @get("/", summary="Every subscription and its deliveries", responses=problems(401, 403, 503))
    async def listing(self, svc: NamedDependency[Services]) -> subs.Subscriptions:
        """`delivered`, `pending`, `failures`, `last_error` of each subscription."""
        async with await svc.acquire() as conn:
            return await subs.listing(conn)

    @get(
        "/{sub_id:str}",
        summary="One subscription and its deliveries",
        responses=problems(401, 403, 404, 503),
    )
    async def one(self, svc: NamedDependency[Services], sub_id: FromPath[str]) -> subs.Shown:
        """`delivered`, `pending`, `failures`, `last_error` of one subscription."""
        async with await svc.acquire() as conn:
            found = await subs.one(conn, sub_id)
        if found is None:
            raise _not_found(sub_id)
        return found

    @delete(
        "/{sub_id:str}",
        status_code=204,
        summary="End a subscription",
        responses=problems(401, 403, 404, 503),
    )
    async def remove(self, svc: NamedDependency[Services], sub_id: FromPath[str]) -> None:
        """No more deliveries to it; deliveries in flight may still arrive."""
        async with await svc.acquire() as conn:
            if not await subs.remove(conn, sub_id):
                raise _not_found(sub_id)
