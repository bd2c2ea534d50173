"""POST /v1/import: NDJSON events streamed in the request body, imported as `annals import`
does (same checks, same idempotency, restore of exported lines at their place).

The body is read as it arrives, a line at a time, never held whole: this route alone is
exempt from the app's request_max_body_size (an export of a large log is gigabytes). Batches
commit as they go, exactly as in `annals import`: a bad line answers 422 (or 409) naming
it, and everything before it stays committed and is reported in the problem (`committed`).
POSTing the same body again resumes: what is stored is recognised and skipped.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import QueryParameter

from service import metrics
from service.api.intake import media_type
from service.api.openapi import problems
from service.auth import written
from service.importer import ImportStats, Stopped, import_stream, numbered
from service.problems import Problem, to_problem
from service.wiring import Services

NDJSON: Final = "application/x-ndjson"


class ImportSummary(msgspec.Struct, frozen=True):
    """What an import did: input lines read, events appended, events already stored
    (skipped), and the log's head afterwards."""

    lines: int
    appended: int
    already: int
    sequence: int


def summary(stats: ImportStats) -> ImportSummary:
    """The answer's shape of an import's statistics."""
    return ImportSummary(stats.lines, stats.appended, stats.already, stats.sequence)


class ImportController(Controller):
    """Bulk import over HTTP."""

    path = "/v1/import"
    tags = ["log"]

    @post(
        "/",
        status_code=200,
        summary="Import NDJSON events streamed in the body (idempotent, resumable)",
        request_max_body_size=None,  # streamed a line at a time: no size to cap
        responses={
            200: ResponseSpec(ImportSummary, description="Every line imported (or already there)"),
            **problems(400, 401, 403, 409, 413, 415, 422, 429, 503),
        },
    )
    async def import_ndjson(
        self,
        request: Request[Any, Any, Any],
        svc: NamedDependency[Services],
        as_new: Annotated[
            bool, QueryParameter(description="append an export's lines as new events")
        ] = False,
    ) -> ImportSummary:
        """Body: CloudEvents NDJSON, one event a line, each with an `id` (an Annals export
        restores at its place unless `as_new`). A bad line stops the import: 422 or 409
        naming `line N`, with `committed` = what was stored before it."""
        mt = media_type(request.headers.get("content-type", ""))
        if mt != NDJSON:
            raise Problem(
                415,
                f"unsupported Content-Type {mt or '(none)'!r}; use {NDJSON}",
                kind="media-type",
            )
        try:
            stats = await import_stream(svc.writer, numbered(request.stream()), None, not as_new)
        except Stopped as e:
            written(request, e.stats.appended + e.stats.already)
            metrics.EVENTS_APPENDED.inc(e.stats.appended)
            done = e.stats
            refused = to_problem(e.error)
            raise Problem(
                refused.status_code,
                f"{e.error}; stored before it: {done.appended} appended, {done.already} "
                "already there (POST the same body again, fixed, to resume)",
                errors=refused.errors,
                kind=refused.kind,
                extra={"committed": msgspec.to_builtins(summary(done))},
            ) from None
        written(request, stats.appended + stats.already)
        metrics.EVENTS_APPENDED.inc(stats.appended)
        return summary(stats)
