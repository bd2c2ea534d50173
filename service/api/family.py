"""GET /v1/plans/{slug}/family: a plan and every version derived from it (SPEC §5)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, PathParameter

from events.vocabulary import DEFAULT_MIN_CONFIDENCE
from queries import answers
from queries.family import FamilyDocument, family_answer
from service import metrics
from service.api.openapi import answer_responses
from service.api.params import AtParam, KnownAtParam, MinConfidence, path_subject
from service.caching import cached
from service.problems import Problem
from service.wiring import Services


class FamilyController(Controller):
    """Plans side by side: the versions, their sponsors, classification and stances."""

    tags = ["answers"]

    # `{collection}`, not `plans`: a static `plans` segment would shadow the answers'
    # /v1/{collection}/{slug} for every plan (the router tries static segments first).
    @get(
        "/v1/{collection:str}/{slug:str}/family",
        summary="A plan and every version derived from it (based_on, transitively)",
        responses=answer_responses(FamilyDocument, 404),
    )
    async def family(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        collection: Annotated[str, PathParameter(description="`plans`: only plans have families")],
        slug: FromPath[str],
        at: AtParam = None,
        known_at: KnownAtParam = None,
        min_confidence: MinConfidence = DEFAULT_MIN_CONFIDENCE,
    ) -> Response[Any]:
        """404 where nothing concerning the plan counts yet."""
        if collection != "plans":
            raise Problem(404, f"only plans have families, not {collection}", kind="not-found")
        plan = path_subject("plan", slug)
        # A family holds up to MAX_VERSIONS plans' states: a heavy read, in the budget.
        async with svc.heavy.slot():
            with metrics.QUERY_SECONDS.labels("family").time():
                async with svc.acquire_read(known_at) as conn:
                    answer = await family_answer(conn, plan, at, known_at, min_confidence)
            if answer.body is None:
                raise Problem(404, answers.not_counted(plan, answer.at), kind="not-found")
            return cached(request, answer.body, answer.pinned)
