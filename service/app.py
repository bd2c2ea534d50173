"""The Litestar application: one create_app() factory, wiring in one place."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware.base import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin, YamlRenderPlugin

from service import runtime
from service.api import append_route
from service.api.answers import AnswersController
from service.api.events import EventsController
from service.api.exports import ExportsController
from service.api.family import FamilyController
from service.api.imports import ImportController
from service.api.metrics import MetricsController, http_metrics
from service.api.ops import OpsController
from service.api.stream import StreamController
from service.api.subscriptions import SubscriptionsController
from service.api.timeline import TimelineController
from service.auth import Access
from service.cors import CorsMiddleware, Policy
from service.problems import EXCEPTION_HANDLERS
from service.settings import Settings
from service.signing import KeyConfigError
from service.supervised import die_with_supervisor
from service.web import security_headers, viewer
from service.wiring import Services, services


def _services(state: State) -> Services:
    svc: Services = state.services
    return svc


def signing_keys(svc: Services) -> None:
    """Load the head-signing keys now, so a bad key file stops the start, saying why."""
    try:
        svc.keys  # noqa: B018 - a cached property: loading it is the point
    except KeyConfigError as e:
        raise SystemExit(f"annals: {e}") from e


def create_app(settings: Settings | None = None, svc: Services | None = None) -> Litestar:
    """Build the app. With `svc`, use those services (tests); otherwise open them at start."""
    settings = settings or (svc.settings if svc else Settings.from_env())
    access = Access.from_settings(settings)  # the token table, built once

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if svc is not None:  # opened by the caller, who also closes them
            yield
            return
        async with services(settings, serve=True) as opened:
            await asyncio.to_thread(signing_keys, opened)  # a bad key stops the start
            app.state.services = opened
            runtime.settle()
            yield

    middleware = app_middleware(settings, access)
    app = Litestar(
        route_handlers=[
            EventsController,
            AnswersController,
            FamilyController,
            OpsController,
            StreamController,
            TimelineController,
            ExportsController,
            ImportController,
            SubscriptionsController,
            MetricsController,
            viewer(),
        ],
        dependencies={"svc": Provide(_services, sync_to_thread=False)},
        lifespan=[lifespan],
        state=State({"services": svc} if svc is not None else {}),
        exception_handlers=cast(Any, EXCEPTION_HANDLERS),
        before_send=[security_headers],
        # An open service (no tokens) lets everything through: no guard at all then, since
        # Litestar copies the route handler for every guard call on every request.
        guards=[] if access.open else [access.guard],
        middleware=middleware,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Annals",
            version="0.1.0",
            description="An append-only, bitemporal log of diplomatic events.",
            path="/schema",
            # The document only, no HTML renderer: each loads its scripts from a CDN, which
            # would run on this origin (docs/SECURITY.md). Any OpenAPI viewer reads these.
            render_plugins=[JsonRenderPlugin(), YamlRenderPlugin()],
        ),
        debug=False,
    )
    append_route.install(app, access, middleware)
    return app


def app_middleware(settings: Settings, access: Access) -> list[DefineMiddleware]:
    """Around every route, outermost first: CORS, the HTTP metrics, the write rate limit."""
    return [
        DefineMiddleware(CorsMiddleware, policy=Policy(frozenset(settings.cors_origins))),
        http_metrics().middleware,
        *access.middleware(),
    ]


def app_from_env() -> Any:
    """ASGI factory for `uvicorn --factory service.app:app_from_env` (and granian's)."""
    die_with_supervisor()
    return create_app(Settings.from_env())
