"""The answers over HTTP: /v1/state, one subject, /v1/diff (SPEC §4, §5)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from events.timeparse import format_time
from service import answers, metrics
from service.answers import KIND_OF_COLLECTION
from service.api.openapi import read_responses
from service.caching import cached
from service.problems import Problem
from service.wiring import Services

Confidence = Literal["confirmed", "reported", "unconfirmed", "disputed"]
AtParam = Annotated[
    str | None,
    QueryParameter(description="valid time: RFC 3339 timestamp or date (end of that day, UTC)"),
]
KnownAtParam = Annotated[
    str | None,
    QueryParameter(description="transaction time: a sequence number or an RFC 3339 timestamp"),
]
MinConfidence = Annotated[Confidence, QueryParameter(description="leave out events below this")]


class AnswersController(Controller):
    """State of everything, of one subject, and what changed between two dates."""

    tags = ["answers"]

    @get(
        "/v1/state",
        summary="Every party, plan, meeting and issue as of then",
        responses=read_responses(cached=True),
    )
    async def state(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        at: AtParam = None,
        known_at: KnownAtParam = None,
        min_confidence: MinConfidence = "disputed",
    ) -> Response[Any]:
        """`{at, sequence, parties, plans, meetings, issues}`."""
        with metrics.QUERY_SECONDS.labels("state").time():
            async with svc.acquire_read(known_at) as conn:
                q = await answers.ask(conn, at, known_at, min_confidence)
                states = await answers.all_states(conn, q)
        return cached(request, answers.state_document(states, q), q.pinned)

    @get(
        "/v1/diff",
        summary="What changed between two valid times",
        responses=read_responses(cached=True),
    )
    async def diff(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        from_: Annotated[
            str, QueryParameter(name="from", description="valid time (date or RFC 3339)")
        ],
        to: Annotated[str, QueryParameter(description="valid time (date or RFC 3339)")],
        known_at: KnownAtParam = None,
        min_confidence: MinConfidence = "disputed",
    ) -> Response[Any]:
        """`{from, to, sequence, changes: [{subject, field, before, after, event, ...}]}`."""
        with metrics.QUERY_SECONDS.labels("diff").time():
            async with svc.acquire_read(known_at) as conn:
                q_from = await answers.ask(conn, from_, known_at, min_confidence)
                q_to = await answers.ask(conn, to, known_at, min_confidence)
                # Both ends on one prefix of the log: without known_at, an append between
                # the two head reads would make the diff compare different prefixes.
                q_from = msgspec.structs.replace(q_from, known=q_to.known)
                doc = await answers.diff_document(conn, q_from, q_to)
        return cached(request, doc, q_to.pinned)

    @get(
        "/v1/{collection:str}/{slug:str}",
        summary="One subject's state: /v1/parties|plans|meetings|issues/{slug}",
        responses=read_responses(404, cached=True),
    )
    async def subject(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        collection: FromPath[Literal["parties", "plans", "meetings", "issues"]],
        slug: FromPath[str],
        at: AtParam = None,
        known_at: KnownAtParam = None,
        min_confidence: MinConfidence = "disputed",
    ) -> Response[Any]:
        """404 where nothing concerning it counts yet."""
        subject = f"{KIND_OF_COLLECTION[collection]}/{slug}"
        if not answers.valid_subject(subject):
            raise Problem(404, f"{subject!r} is not a subject id", kind="not-found")
        with metrics.QUERY_SECONDS.labels("subject").time():
            async with svc.acquire_read(known_at) as conn:
                q = await answers.ask(conn, at, known_at, min_confidence)
                state = await answers.subject_state(conn, subject, q)
        if state is None:
            raise Problem(
                404,
                f"nothing concerning {subject} counts at {format_time(q.at)}",
                kind="not-found",
            )
        return cached(request, answers.shape(state, q.known), q.pinned)
