"""The answers over HTTP: /v1/state, one subject, /v1/diff (SPEC §4, §5)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from events.vocabulary import DEFAULT_MIN_CONFIDENCE, Kind
from queries import answers
from queries.question import DEFAULT_PAGE, KIND_OF_COLLECTION, MAX_PAGE, Collection
from service import metrics
from service.api.openapi import read_responses
from service.api.params import AtParam, KnownAtParam, MinConfidence, path_subject
from service.caching import cached, encoded, question_etag, unless_matched, validators
from service.problems import Problem
from service.wiring import Services

KindParam = Annotated[
    Kind | None,
    QueryParameter(description="only subjects of this kind"),
]
PrefixParam = Annotated[
    str | None, QueryParameter(description="only subject ids starting with this, e.g. plan/us-")
]
LimitParam = Annotated[
    int | None,
    QueryParameter(
        description=f"subjects per page at most (default {DEFAULT_PAGE:,}, at most {MAX_PAGE:,});"
        " a page also ends early when its answer grows large (follow `next`)",
        ge=1,
    ),
]
CursorParam = Annotated[
    str | None, QueryParameter(description="the `next` of the previous page (same sequence)")
]


class AnswersController(Controller):
    """State of everything, of one subject, and what changed between two dates."""

    tags = ["answers"]

    @get(
        "/v1/state",
        summary="Every party, plan, meeting and issue as of then, a page at a time",
        responses=read_responses(cached=True),
    )
    async def state(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        at: AtParam = None,
        known_at: KnownAtParam = None,
        min_confidence: MinConfidence = DEFAULT_MIN_CONFIDENCE,
        kind: KindParam = None,
        prefix: PrefixParam = None,
        limit: LimitParam = None,
        cursor: CursorParam = None,
    ) -> Response[Any]:
        """`{at, known_at, min_confidence, sequence, parties, plans, meetings, issues, next}`,
        in subject-id order."""
        ask = functools.partial(
            answers.state_question, at=at, known_at=known_at, min_confidence=min_confidence,
            kind=kind, prefix=prefix, limit=limit, cursor=cursor, budget=svc.settings.page_facts,
        )  # fmt: skip
        return await _page(request, svc, "state", answers.read_pin(known_at, cursor), ask)

    @get(
        "/v1/diff",
        summary="What changed between two valid times, a page of subjects at a time",
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
        min_confidence: MinConfidence = DEFAULT_MIN_CONFIDENCE,
        kind: KindParam = None,
        prefix: PrefixParam = None,
        limit: LimitParam = None,
        cursor: CursorParam = None,
    ) -> Response[Any]:
        """`{from, to, known_at, min_confidence, sequence, changes: [{subject, field, before,
        after, event, ...}], next}`."""
        ask = functools.partial(
            answers.diff_question, from_=from_, to=to, known_at=known_at,
            min_confidence=min_confidence, kind=kind, prefix=prefix, limit=limit,
            cursor=cursor, budget=svc.settings.page_facts,
        )  # fmt: skip
        return await _page(request, svc, "diff", answers.read_pin(known_at, cursor), ask)

    @get(
        "/v1/{collection:str}/{slug:str}",
        summary="One subject's state: /v1/parties|plans|meetings|issues/{slug}",
        responses=read_responses(404, cached=True),
    )
    async def subject(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        collection: FromPath[Collection],
        slug: FromPath[str],
        at: AtParam = None,
        known_at: KnownAtParam = None,
        min_confidence: MinConfidence = DEFAULT_MIN_CONFIDENCE,
    ) -> Response[Any]:
        """404 where nothing concerning it counts yet."""
        subject = path_subject(KIND_OF_COLLECTION[collection], slug)
        with metrics.QUERY_SECONDS.labels("subject").time():
            async with svc.acquire_read(known_at) as conn:
                answer = await answers.subject_answer(conn, subject, at, known_at, min_confidence)
        if answer.body is None:
            raise Problem(404, answers.not_counted(subject, answer.at), kind="not-found")
        return cached(request, answer.body, answer.pinned)


async def _page(
    request: Request[Any, Any, Any],
    svc: Services,
    what: str,
    pin: str | int | None,
    ask: Callable[..., Awaitable[answers.PageQuestion]],
) -> Response[Any]:
    """A state or diff page (`what`), named by its question's strong ETag
    (`question_etag`): 304, no page read, when `If-None-Match` names it. A page can be
    large: it takes a place in the heavy-read budget until encoded."""
    async with svc.heavy.slot():
        with metrics.QUERY_SECONDS.labels(what).time():
            async with svc.acquire_read(pin) as conn:
                page = await ask(conn)
                headers = validators(question_etag(*page.key), page.q.pinned)
                if (matched := unless_matched(request, headers)) is not None:
                    return matched
                async with svc.spare_read() as spare:
                    body = await page.document(conn, spare)
        return encoded(msgspec.json.encode(body), headers, body)
