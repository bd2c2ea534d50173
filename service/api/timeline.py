"""The timeline over HTTP: GET /v1/timeline, cursor-paged and pinned to one known_at."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from events.envelope import StoredEvent
from events.headline import headline
from events.vocabulary import DEFAULT_MIN_CONFIDENCE
from queries import timeline as tl
from queries.timeline import parse_filters
from service.api.openapi import read_responses
from service.api.params import (
    FromParam,
    KnownAtParam,
    MinConfidence,
    SubjectParam,
    ToParam,
    TypeParam,
)
from service.caching import cached
from service.wiring import Services

CursorParam = Annotated[
    str | None, QueryParameter(description="`next` of the previous page; pins its known_at")
]
LimitParam = Annotated[int, QueryParameter(ge=1, le=tl.MAX_LIMIT)]


class TimelineItem(StoredEvent, frozen=True, kw_only=True):
    """A timeline entry: the envelope as believed (a correction applied) plus a headline."""

    headline: str
    corrected_by: str | None = None


class TimelinePage(msgspec.Struct, frozen=True):
    """A page; `next` is the cursor of the following page, `known_at` the sequence used."""

    events: list[TimelineItem]
    next: str | None
    known_at: int


def item(entry: tl.Entry) -> TimelineItem:
    """A timeline entry as the API shows it."""
    e = entry.event
    return TimelineItem(
        **msgspec.structs.asdict(e),
        headline=headline(e.type, e.subject, e.data),
        corrected_by=entry.corrected_by,
    )


class TimelineController(Controller):
    """SPEC §5: GET /v1/timeline."""

    path = "/v1/timeline"
    tags = ["timeline"]

    @get(
        "/",
        summary="Events in valid-time order, cursor-paged, stable under appends",
        responses=read_responses(cached=True),
    )
    async def timeline(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        from_: FromParam = None,
        to: ToParam = None,
        subject: SubjectParam = None,
        type_: TypeParam = None,
        known_at: KnownAtParam = None,
        min_confidence: MinConfidence = DEFAULT_MIN_CONFIDENCE,
        cursor: CursorParam = None,
        limit: LimitParam = 100,
    ) -> Response[Any]:
        """`{events, next, known_at}`; page on with `cursor=next`, repeating the filters."""
        filters = parse_filters(from_, to, subject, type_, min_confidence)
        async with svc.acquire_read(tl.read_pin(known_at, cursor)) as conn:
            page, pinned = await tl.page(
                conn, filters, known_at, cursor, limit, svc.settings.page_bytes
            )
        body = TimelinePage([item(e) for e in page.entries], page.next, page.known)
        return cached(request, body, pinned)
