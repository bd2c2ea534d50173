"""Exports over HTTP: CloudEvents NDJSON of the log, CSV and TimelineJS3 JSON of the
timeline, iCalendar of meetings (their filters: docs/ARCHITECTURE.md, "Decisions")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any, Final

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Stream

from events.envelope import StoredEvent
from events.vocabulary import DEFAULT_MIN_CONFIDENCE
from queries import export_questions
from queries import timeline as tl
from queries.timeline import parse_filters
from service import exports
from service.api.openapi import read_responses
from service.api.params import (
    AtParam,
    FromParam,
    KnownAtParam,
    MinConfidence,
    SubjectParam,
    ToParam,
    TypeParam,
)
from service.caching import question_etag, unless_matched, validators
from service.wiring import Services

BATCH: Final = 1_000  # events per database round trip (and per chunk) of the NDJSON stream
BatchParam = Annotated[int, QueryParameter(ge=1, le=10_000, description="events per chunk")]
RowsParam = Annotated[int, QueryParameter(ge=1, le=tl.MAX_LIMIT, description="rows per chunk")]


async def ndjson_chunks(pages: AsyncIterator[list[StoredEvent]]) -> AsyncIterator[bytes]:
    """The log's pages as NDJSON chunks (each page read on a pooled connection held only
    while it is read, never while a slow client takes it)."""
    async for page in pages:
        yield exports.ndjson(page)


async def streamed(
    request: Request[Any, Any, Any],
    svc: Services,
    chunks: AsyncIterator[bytes],
    *,
    media_type: str,
    etag: str,
    pinned: bool,
    headers: dict[str, str],
) -> Response[Any]:
    """An export streamed in the heavy-read budget, with its question's strong ETag
    (`question_etag`): 304, nothing read, when `If-None-Match` names it."""
    headers = validators(etag, pinned, headers)
    if (matched := unless_matched(request, headers)) is not None:
        return matched
    return Stream(await svc.heavy.streamed(chunks), media_type=media_type, headers=headers)


async def csv_chunks(pages: AsyncIterator[tl.Page]) -> AsyncIterator[bytes]:
    """The timeline's pages as CSV chunks, the header first."""
    first = True
    async for page in pages:
        yield exports.csv_text(page.entries, header=first).encode()
        first = False


class ExportsController(Controller):
    """SPEC §5: /v1/export/{events.ndjson,events.csv,timelinejs,meetings.ics}."""

    path = "/v1/export"
    tags = ["exports"]

    @get(
        "/events.ndjson",
        summary="The log as CloudEvents NDJSON (imports back losslessly)",
        media_type="application/x-ndjson",
        responses=read_responses(),
    )
    async def events_ndjson(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        known_at: KnownAtParam = None,
        batch: BatchParam = BATCH,
    ) -> Response[Any]:
        """Every event recorded by `known_at`, in sequence order, streamed in batches."""
        known, pinned, pages = await export_questions.log(
            svc.acquire_read, known_at, batch, svc.settings.page_bytes
        )
        return await streamed(
            request,
            svc,
            ndjson_chunks(pages),
            media_type="application/x-ndjson",
            etag=question_etag("events.ndjson", known),
            pinned=pinned,
            headers={
                "Content-Disposition": 'attachment; filename="annals-events.ndjson"',
                "Annals-Known-At": str(known),
            },
        )

    @get(
        "/events.csv",
        summary="The timeline as CSV, a row an event (for spreadsheets and pandas)",
        media_type="text/csv",
        responses=read_responses(),
    )
    async def events_csv(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        from_: FromParam = None,
        to: ToParam = None,
        subject: SubjectParam = None,
        type_: TypeParam = None,
        known_at: KnownAtParam = None,
        min_confidence: MinConfidence = DEFAULT_MIN_CONFIDENCE,
        rows: RowsParam = tl.MAX_LIMIT,
    ) -> Response[Any]:
        """Columns: sequence, id, source, type, subject, time, timeprecision, timequalifier,
        confidence, recordedtime, concerns, headline, summary (see docs/CLIENTS.md)."""
        filters = parse_filters(from_, to, subject, type_, min_confidence)
        w, pages = await export_questions.timeline_entries(
            svc.acquire_read, filters, known_at, svc.settings.page_bytes, rows
        )
        return await streamed(
            request,
            svc,
            csv_chunks(pages),
            media_type="text/csv; charset=utf-8; header=present",
            etag=question_etag("events.csv", w.filters, w.known),
            pinned=w.pinned,
            headers={
                "Content-Disposition": 'attachment; filename="annals-events.csv"',
                "Annals-Known-At": str(w.known),
            },
        )

    @get(
        "/timelinejs",
        summary="The timeline as a TimelineJS3 document",
        media_type="application/json",
        responses=read_responses(),
    )
    async def timelinejs(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        from_: FromParam = None,
        to: ToParam = None,
        subject: SubjectParam = None,
        type_: TypeParam = None,
        known_at: KnownAtParam = None,
        min_confidence: MinConfidence = DEFAULT_MIN_CONFIDENCE,
    ) -> Response[Any]:
        """`{events: [{start_date, display_date, text, unique_id, group}], title}`, streamed a
        page of the timeline at a time."""
        filters = parse_filters(from_, to, subject, type_, min_confidence)
        w, pages = await export_questions.timeline(
            svc.acquire_read, filters, known_at, svc.settings.page_bytes
        )
        return await streamed(
            request,
            svc,
            exports.timelinejs(pages, w.filters, w.known),
            media_type="application/json",
            etag=question_etag("timelinejs", w.filters, w.known),
            pinned=w.pinned,
            headers={"Annals-Known-At": str(w.known)},
        )

    @get(
        "/meetings.ics",
        summary="Meetings as an iCalendar (one VEVENT per meeting)",
        media_type="text/calendar",
        responses=read_responses(),
    )
    async def meetings_ics(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        from_: FromParam = None,
        to: ToParam = None,
        subject: SubjectParam = None,
        at: AtParam = None,
        known_at: KnownAtParam = None,
        min_confidence: MinConfidence = DEFAULT_MIN_CONFIDENCE,
    ) -> Response[Any]:
        """Each meeting's state at `at` (default now), as known at `known_at`, streamed a
        page of meetings at a time."""
        filters = parse_filters(from_, to, subject, None, min_confidence)
        cal = await export_questions.calendar(
            svc.acquire_read, at, known_at, min_confidence, svc.settings.page_facts
        )
        q = cal.q
        return await streamed(
            request,
            svc,
            exports.calendar(cal.meetings, filters, cal.stamp),
            media_type="text/calendar; charset=utf-8",
            etag=question_etag("meetings.ics", filters, q.at, q.known),
            pinned=q.pinned,
            headers={"Annals-Known-At": str(q.known)},
        )
