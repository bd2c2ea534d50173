"""GET /v1/stream: live Server-Sent Events, resumable with Last-Event-ID."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.response import ServerSentEvent

from events import store
from events.vocabulary import DEFAULT_MIN_CONFIDENCE
from queries.timeline import parse_filters
from service.api.openapi import problems
from service.api.params import AfterOrHead, SubjectParam, TypeParam, last_event_id
from service.metrics import counted_stream_client
from service.problems import Problem
from service.stream import follow
from service.wiring import Services

KEEPALIVE_SECONDS = 15.0


class StreamController(Controller):
    """Each event as it commits; SSE `id` is its sequence."""

    tags = ["log"]

    @get(
        "/v1/stream",
        summary="Live events (SSE); resumes after Last-Event-ID",
        media_type="text/event-stream",
        responses=problems(400, 401, 403, 422, 503),
    )
    async def stream(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        after: AfterOrHead = None,
        subject: SubjectParam = None,
        type_: TypeParam = None,
    ) -> ServerSentEvent:
        """Starts after `Last-Event-ID` (or `after`, or the current head), then follows."""
        # The timeline's own checks of `subject` and `type` (422 naming the parameter), and
        # one rule for a sequence in `after` and Last-Event-ID: a bad value is refused here,
        # before the stream starts, never retried inside it.
        parse_filters(None, None, subject, type_, DEFAULT_MIN_CONFIDENCE)
        resume = last_event_id(request.headers.get("last-event-id"))
        if resume is not None:
            after = resume
        if after is None:
            async with svc.acquire_read() as conn:
                after = (await store.read_head(conn)).sequence
        if svc.listener is None:
            raise Problem(503, "live streaming is not running in this process", kind="unavailable")
        return ServerSentEvent(
            counted_stream_client(
                follow(
                    svc.acquire_read,
                    svc.listener,
                    after,
                    subject=subject,
                    type_=type_,
                    keepalive=KEEPALIVE_SECONDS,
                    max_bytes=svc.settings.page_bytes,
                )
            ),
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
