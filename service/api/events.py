"""The log over HTTP: append (POST /v1/events), read in order, fetch one event."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any
from urllib.parse import quote, unquote

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, QueryParameter

from events import store
from events.envelope import InvalidEvent, StoredEvent, could_be_id
from service import metrics
from service.api import binary
from service.api.intake import parse_body
from service.api.openapi import AppendOperation, problems
from service.api.params import After
from service.auth import written
from service.problems import Problem
from service.wiring import Services


class AppendAnswer(msgspec.Struct, frozen=True):
    """What POST /v1/events answers: 201 or 200, the event or the batch, and where a
    single event can be read back."""

    status: int
    events: StoredEvent | list[StoredEvent]
    location: str | None


async def append_request(request: Request[Any, Any, Any]) -> AppendAnswer:
    """POST /v1/events, whichever route took it (`EventsController.append`, or the lean
    one in service/api/append_route.py): read and validate the body, append it through
    the writer, count it."""
    # The services straight from the app state (what the `svc` dependency returns):
    # resolving a dependency and validating a handler's signature for it cost about a
    # tenth of the CPU of a single-event append, the hottest request there is.
    svc: Services = request.app.state.services
    batch = parse_body(
        request.headers.get("content-type", ""),
        await request.body(),
        svc.settings.max_batch,
        request.scope["headers"],
    )
    written(request, len(batch.drafts))
    try:
        result = await svc.writer.append(batch.drafts, batch.preconditions)
    except (InvalidEvent, store.Conflict) as e:
        if not batch.binary:
            raise
        raise binary.renamed(e) from None
    metrics.EVENTS_APPENDED.inc(result.new)
    metrics.APPEND_REQUEST_EVENTS.observe(len(batch.drafts))
    status = 201 if result.created else 200
    if batch.is_batch:
        return AppendAnswer(status, result.events, None)
    ev = result.events[0]
    # A header is Latin-1 and a URI is ASCII: the id (any text) goes percent-encoded.
    return AppendAnswer(status, ev, f"/v1/events/{quote(ev.id, safe='')}")


def _id_in(request: Request[Any, Any, Any], fallback: str) -> str:
    """The event id as sent: the rest of the raw (still percent-encoded) path after the
    route's prefix, decoded once."""
    raw: bytes | None = request.scope.get("raw_path")
    if not raw:
        return fallback.lstrip("/")
    text = unquote(raw.decode("ascii", "replace"))
    prefix = EventsController.path + "/"
    at = text.find(prefix)
    return text[at + len(prefix) :] if at >= 0 else fallback.lstrip("/")


class EventsController(Controller):
    """SPEC §2 and §5: /v1/events."""

    path = "/v1/events"
    tags = ["log"]

    @post(
        "/",
        status_code=201,
        summary="Append one event or a batch (all or nothing)",
        operation_class=AppendOperation,
        responses={
            200: ResponseSpec(
                StoredEvent | list[StoredEvent],
                description="Every event was already stored with the same content",
                generate_examples=False,
            ),
            **problems(400, 401, 403, 409, 413, 415, 422, 429, 503),
        },
    )
    async def append(
        self, request: Request[Any, Any, Any]
    ) -> Response[StoredEvent | list[StoredEvent]]:
        """Body: one CloudEvent, an array, or {events, preconditions}; or one event in
        CloudEvents binary mode (attributes in `ce-*` headers, the data as the body). 201
        when anything was appended, 200 when every event was already stored the same."""
        answer = await append_request(request)
        headers = {"Location": answer.location} if answer.location else None
        return Response(answer.events, status_code=answer.status, headers=headers)

    @get(
        "/",
        summary="The log in sequence order, for subscribers and replication",
        responses=problems(400, 401, 403, 503),
    )
    async def log(
        self,
        svc: NamedDependency[Services],
        after: After = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> store.LogPage:
        """Events with sequence > after, oldest first: `limit` of them, or fewer when they
        would pass ANNALS_PAGE_BYTES (at least one); `next` is null once caught up."""
        # A reader asking for what follows `after` knows `after` exists: a replica must hold it.
        async with svc.heavy.slot(), svc.acquire_read(after or None) as conn:
            return await store.log_page(conn, after, limit, svc.settings.page_bytes)

    @get(
        "/{event_id:path}",
        summary="One event by id",
        responses=problems(400, 401, 403, 404, 409, 503),
    )
    async def one(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        event_id: FromPath[PurePosixPath],
        source: Annotated[str | None, QueryParameter(description="needed when ids collide")] = None,
    ) -> StoredEvent:
        """The stored event with this id (and source, when several sources used the id).

        An id is any text, slashes included, and the server decodes the `%2F` of the
        Location a POST gave before routing: hence a `path` parameter, and the id read
        exactly from the raw path (the parameter's value is normalised: `a//b/` is `a/b`).
        """
        event_id_text = _id_in(request, str(event_id))
        if not could_be_id(event_id_text):  # (a NUL would reach the database otherwise)
            raise Problem(404, "no event can have this id", kind="not-found")
        async with await svc.acquire() as conn:
            found = await store.find_by_id(conn, event_id_text)
        if source is not None:
            found = [e for e in found if e.source == source]
        if not found:
            raise Problem(404, f"no event with id {event_id_text!r}", kind="not-found")
        if len(found) > 1:
            sources = ", ".join(e.source for e in found)
            raise Problem(
                409, f"several sources use this id ({sources}); add ?source=", kind="conflict"
            )
        return found[0]
