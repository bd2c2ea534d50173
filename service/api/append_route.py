"""POST /v1/events on a lean path: plain ASGI in front of Litestar's router, for the
hottest request there is. Everything else (and this route's entry in the API document,
which stays EventsController.append) goes through Litestar.

The same rules as every route, from the same places: the token check is `Access.guard`,
the write rate limit is the app's own middleware, the request figures are the app's
metrics middleware, the body limit is `Settings.max_body_bytes`, and any error is answered
by `service.problems.handle` (problem+json). What it skips is what a single append paid
Litestar for nothing: the signature model, the dependency machinery, the Response object
and its headers (measured in docs/PERFORMANCE.md).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
from litestar import Litestar, Request
from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)

from service.api.events import EventsController, append_body
from service.auth import Access
from service.metrics import http_metrics
from service.problems import Problem, handle
from service.wiring import Services

PATHS: Final = frozenset({EventsController.path, EventsController.path + "/"})
_encoder: Final = msgspec.json.Encoder()
_JSON: Final = (b"content-type", b"application/json")


def install(app: Litestar, access: Access) -> None:
    """Put the lean route in front of `app`'s router (inside Litestar's own entry point,
    so the lifespan, `scope["app"]` and the before-send hooks are unchanged)."""
    app.asgi_handler = LeanAppend(app, app.asgi_handler, access)


class LeanAppend:
    """ASGI: POST /v1/events here, anything else to Litestar."""

    def __init__(self, app: Litestar, litestar: ASGIApp, access: Access) -> None:
        self._app = app
        self._litestar = litestar
        self._access = access
        self._handler = _handler_of(app)
        chain: ASGIApp = self._append
        # The app's own middleware as Litestar stacks them on a route (the rate limit
        # inside the metrics), with the problem answer between, as Litestar has it.
        for define in reversed(access.middleware()):
            chain = define(chain)
        self._chain = http_metrics().middleware(_answering_problems(chain))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route: the lean path for POST /v1/events, Litestar for the rest."""
        if scope["type"] == ScopeType.HTTP and scope["method"] == "POST" and scope["path"] in PATHS:
            scope["path_template"] = EventsController.path
            scope["route_handler"] = self._handler
            await self._chain(scope, receive, send)
            return
        await self._litestar(scope, receive, send)

    async def _append(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            if not self._access.open:
                await self._access.guard(Request(scope, receive), self._handler)
            svc: Services = self._app.state.services
            body = await _body(scope, receive, svc.settings.max_body_bytes)
            answer = await append_body(svc, _header(scope, b"content-type"), body)
        except Exception as e:
            await _problem(scope, receive, send, e)
            return
        content = _encoder.encode(answer.events)
        headers = [_JSON, (b"content-length", str(len(content)).encode())]
        if answer.location is not None:
            headers.append((b"location", answer.location.encode()))
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": answer.status,
            "headers": headers,
        }
        await send(start)
        end: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": content,
            "more_body": False,
        }
        await send(end)


def _answering_problems(app: ASGIApp) -> ASGIApp:
    async def answer(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        except Exception as e:  # refused before the handler: the rate limit
            await _problem(scope, receive, send, e)

    return answer


def _handler_of(app: Litestar) -> Any:
    """EventsController.append as registered on `app` (the rate limit and the guard read
    its options; the API document describes it)."""
    for route in app.routes:
        if route.path == EventsController.path:
            found = getattr(route, "route_handler_map", {}).get("POST")
            if found is not None:
                return found[0]
    raise LookupError(f"POST {EventsController.path} is not registered")


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return ""


async def _body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body, refused with 413 past `limit` bytes (declared or received)."""
    declared = _header(scope, b"content-length")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Problem(400, "the client went away before the body was complete")
        chunk: bytes = message.get("body", b"")  # type: ignore[assignment]
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(limit: int) -> Problem:
    return Problem(413, f"the body is larger than {limit} bytes", kind="too-large")


async def _problem(scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
    """Answer as every route does: the one exception handler, problem+json."""
    request: Request[Any, Any, Any] = Request(scope, receive)
    response = handle(request, exc)
    await response.to_asgi_response(app=None, request=request)(scope, receive, send)
