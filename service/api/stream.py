"""GET /v1/stream: live Server-Sent Events, resumable with Last-Event-ID."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import ServerSentEvent

from service.api.openapi import problems
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
        responses=problems(400, 401, 403, 503),
    )
    async def stream(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        after: Annotated[int | None, QueryParameter(ge=0, description="start after")] = None,
        subject: Annotated[str | None, QueryParameter(description="events concerning it")] = None,
        type: Annotated[
            str | None, QueryParameter(description="exact, or a prefix like plan.")
        ] = None,
    ) -> ServerSentEvent:
        """Starts after `Last-Event-ID` (or `after`, or the current head), then follows."""
        resume = request.headers.get("last-event-id")
        if resume is not None:
            if not resume.isdigit():
                raise Problem(400, "Last-Event-ID must be a sequence number", kind="bad-parameter")
            after = int(resume)
        if after is None:
            async with svc.acquire_read() as conn:
                after = await conn.fetchval("SELECT coalesce(max(sequence), 0) FROM events")
        if svc.listener is None:
            raise Problem(503, "live streaming is not running in this process", kind="unavailable")
        return ServerSentEvent(
            counted_stream_client(
                follow(
                    svc.acquire_read,
                    svc.listener,
                    after,
                    subject=subject,
                    type_=type,
                    keepalive=KEEPALIVE_SECONDS,
                    max_bytes=svc.settings.page_bytes,
                )
            ),
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
