"""POST /v1/events on a lean path: plain ASGI in front of Litestar's router, running the
app's middleware, guard, body limit and handler body without the router (docs/SCALING.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec
from litestar import Litestar, Request
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send

from service.api.events import EventsController, append_request
from service.auth import Access
from service.problems import answering_problems

PATHS: Final = frozenset({EventsController.path, EventsController.path + "/"})
_encoder: Final = msgspec.json.Encoder()
_JSON: Final = (b"content-type", b"application/json")


def install(app: Litestar, access: Access, middleware: Sequence[DefineMiddleware]) -> None:
    """Put the lean route in front of `app`'s router, inside Litestar's own entry point."""
    app.asgi_handler = LeanAppend(app, app.asgi_handler, access, middleware)


class LeanAppend:
    """ASGI: POST /v1/events here, anything else to Litestar."""

    def __init__(
        self,
        app: Litestar,
        litestar: ASGIApp,
        access: Access,
        middleware: Sequence[DefineMiddleware],
    ) -> None:
        self.litestar = litestar  # Litestar's own handler, for every other request
        self._access = access
        self._handler = _handler_of(app)
        # As Litestar stacks a route: the app's middleware around a problem answer around
        # the handler, and a problem answer outside for what the middleware refuses.
        chain: ASGIApp = answering_problems(self._append)
        for define in reversed(middleware):
            chain = define(chain)
        self._chain = answering_problems(chain)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route: the lean path for POST /v1/events, Litestar for the rest."""
        if scope["type"] == ScopeType.HTTP and scope["method"] == "POST" and scope["path"] in PATHS:
            scope["path_template"] = EventsController.path
            scope["route_handler"] = self._handler
            await self._chain(scope, receive, send)
            return
        await self.litestar(scope, receive, send)

    async def _append(self, scope: Scope, receive: Receive, send: Send) -> None:
        request: Request[Any, Any, Any] = Request(scope, receive)
        if not self._access.open:
            await self._access.guard(request, self._handler)
        answer = await append_request(request)
        content = _encoder.encode(answer.events)
        headers = [_JSON, (b"content-length", str(len(content)).encode())]
        if answer.location is not None:
            headers.append((b"location", answer.location.encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": content, "more_body": False})


def _handler_of(app: Litestar) -> Any:
    """EventsController.append as registered on `app` (the guard, the rate limit and the
    body limit read its options; the API document describes it)."""
    for route in app.routes:
        if route.path == EventsController.path:
            found = getattr(route, "route_handler_map", {}).get("POST")
            if found is not None:
                return found[0]
    raise LookupError(f"POST {EventsController.path} is not registered")
