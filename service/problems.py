"""RFC 9457 problem details, built in one place for every error the service answers."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, Final

import asyncpg
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.types import ASGIApp, Receive, Scope, Send

from events.envelope import BadParameter, EventTooLarge, FieldError, InvalidBody
from events.store import Conflict
from events.writer import Unavailable
from queries.model import Damaged
from queries.question import CursorError
from service.budget import Busy

log = logging.getLogger("annals.problems")
RETRY_AFTER_SECONDS = "2"
# A problem quotes what was sent back to its sender, shortened: a 20 KB bad parameter must
# not become a 40 KB error (nor a log line of that size).
MAX_QUOTE = 300
MAX_DETAIL = 1_000


def shorten(text: str, limit: int = MAX_QUOTE) -> str:
    """text, cut to `limit` characters with a note of how much was left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"


_TITLES = {
    400: "Malformed request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid request body",
    429: "Too many requests",
    500: "Internal error",
    503: "Database unavailable",
}
BUSY_TITLE = "Too busy"  # a 503 of the service's own read budget, not of the database


class Problem(ProblemDetailsException):
    """Raise anywhere in the service to answer with a problem; `errors` names bad fields.

    A Litestar ProblemDetailsException, so Litestar's own RFC 9457 rendering is used.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        title: str | None = None,
    ) -> None:
        body = dict(extra or {})
        if errors:
            body["errors"] = [
                {"path": shorten(e.path), "message": shorten(e.message)} for e in errors
            ]
        super().__init__(
            detail=shorten(detail, MAX_DETAIL),
            status_code=status,
            headers=headers,
            extra=body,
            type_=f"urn:annals:problem:{kind}" if kind else "about:blank",
            title=title or _TITLES.get(status, "Error"),
        )
        self.errors = errors or []
        self.kind = kind


def invalid(errors: list[FieldError], detail: str | None = None) -> Problem:
    """422 naming each bad field."""
    names = ", ".join(e.path for e in errors[:5])
    return Problem(422, detail or f"invalid: {names}", errors=errors, kind="invalid")


def unavailable(detail: str) -> Problem:
    """503 with Retry-After: nothing was stored, try again shortly."""
    return Problem(
        503,
        f"the database is unreachable ({detail}); nothing was stored — retry after "
        f"{RETRY_AFTER_SECONDS}s with the same event ids",
        kind="unavailable",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def busy(detail: str) -> Problem:
    """503 with Retry-After: too many heavy reads at once (service/budget.py)."""
    return Problem(
        503,
        f"{detail}; retry after {RETRY_AFTER_SECONDS}s",
        kind="busy",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
        title=BUSY_TITLE,
    )


# SQLSTATEs that mean "the database cannot serve us now", not "this request is wrong":
# connection exceptions (08), insufficient resources (53), operator intervention such as
# shutdowns and cancelled statements (57), system errors (58), and the database itself
# gone (3D000) or refusing our credentials (28).
_UNREACHABLE_SQLSTATE = ("08", "53", "57", "58", "3D000", "28")


def _unreachable(exc: asyncpg.PostgresError) -> bool:
    return str(getattr(exc, "sqlstate", "") or "").startswith(_UNREACHABLE_SQLSTATE)


def to_problem(exc: Exception, sent_as: Callable[[str], str] = str) -> Problem:
    """The problem answering `exc`; `sent_as` names a parameter Litestar refuses by the name
    it is sent as (the handler's argument `from_` is sent as `from`)."""
    match exc:
        case Problem():
            return exc
        case EventTooLarge():
            return Problem(413, str(exc), errors=exc.errors, kind="too-large")
        case InvalidBody():
            return invalid(exc.errors)
        case Damaged():
            # The service's own derived data, not the request: said plainly, with the remedy.
            log.error("the read model is damaged: %s", exc)
            return Problem(
                500,
                f"the read model cannot answer this: {exc}. An operator runs `annals readmodel"
                " verify`, then `annals readmodel rebuild` (docs/OPERATIONS.md)",
                kind="read-model-damaged",
                title="Read model damaged",
            )
        case CursorError():
            return Problem(
                400,
                f"bad cursor: {exc}",
                errors=[FieldError("cursor", str(exc))],
                kind="bad-parameter",
            )
        case BadParameter():
            names = ", ".join(e.path for e in exc.errors)
            return Problem(
                422,
                f"bad parameter: {names}",
                errors=exc.errors,
                kind="bad-parameter",
                title="Invalid parameter",
            )
        case Conflict():
            return Problem(409, exc.detail, errors=exc.errors, kind="conflict")
        case Unavailable():
            return unavailable(str(exc))
        case Busy():
            return busy(str(exc))
        case ValidationException():
            return _refused(exc, sent_as)
        case HTTPException():
            return Problem(exc.status_code, exc.detail, headers=dict(exc.headers or {}))
        case asyncpg.DataError() | asyncpg.InterfaceError() if isinstance(
            exc, asyncpg.DataError | ValueError
        ):
            # SQLSTATE class 22, or asyncpg refusing to encode an argument: a value taken
            # from the request (a NUL in a path, a sequence past bigint) that the database
            # cannot hold or compare. Bodies are validated before they get here; this is
            # the net under every query parameter, so no input ends as a 500.
            # The driver's own words ("invalid input for query argument $1 … int64") say
            # nothing a client can act on and describe our queries: logged, not answered.
            log.warning("a request value the database refused: %s", shorten(str(exc)))
            return Problem(
                400,
                "a value in this request is out of range or cannot be stored "
                "(a number past 2^63-1, a NUL character)",
                kind="bad-parameter",
            )
        case OSError() | asyncpg.InterfaceError() | asyncpg.InternalClientError() | TimeoutError():
            # InternalClientError: a pooled connection the database broke off (see
            # events.writer.DATABASE_ERRORS); the pool replaces it, a retry succeeds.
            return unavailable(type(exc).__name__)
        case asyncpg.PostgresError() if _unreachable(exc):
            return unavailable(type(exc).__name__)
    log.exception("unhandled error", exc_info=exc)
    return Problem(500, "an internal error; it has been logged", kind="internal")


# Litestar's words for a required parameter that is missing: it names it as sent.
_MISSING: Final = re.compile(r"^Missing required \w+ parameter '([^']*)'")


def _refused(exc: ValidationException, sent_as: Callable[[str], str]) -> Problem:
    """A request Litestar's own checks refuse: 400 naming each parameter as it is sent."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    errs = [
        FieldError(sent_as(str(e.get("key", "$"))), str(e.get("message", "invalid")))
        for e in extra
        if isinstance(e, dict)
    ]
    if not errs and (missing := _MISSING.match(exc.detail)):
        errs = [FieldError(missing[1], "required")]
    return Problem(400, exc.detail, errors=errs, kind="bad-parameter")


def _sent_as(request: Request[Any, Any, Any], key: str) -> str:
    """The name the parameter that the handler takes as `key` is sent by."""
    try:
        field = request.route_handler.parsed_fn_signature.parameters.get(key)
    except (AttributeError, KeyError):  # no route: nothing was renamed
        return key
    kwarg = getattr(field, "kwarg_definition", None)
    return getattr(kwarg, "name", None) or key


def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """The one exception handler: every error becomes a problem+json response."""
    return to_problem(exc, lambda key: _sent_as(request, key)).to_response(request)


EXCEPTION_HANDLERS: dict[type[Exception], Any] = {Exception: handle, HTTPException: handle}


def answering_problems(app: ASGIApp) -> ASGIApp:
    """Any exception out of `app` answered as every route answers it: problem+json."""

    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def sending(message: Any) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await app(scope, receive, sending)
        except Exception as e:
            if started:  # too late for another answer
                raise
            request: Request[Any, Any, Any] = Request(scope, receive)
            response = handle(request, e)
            await response.to_asgi_response(app=None, request=request)(scope, receive, send)

    return answer
