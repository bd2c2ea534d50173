"""The Litestar application: one create_app() factory, wiring in one place."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from service.api import append_route
from service.api.answers import AnswersController
from service.api.events import EventsController
from service.api.exports import ExportsController
from service.api.imports import ImportController
from service.api.ops import OpsController
from service.api.stream import StreamController
from service.api.timeline import TimelineController
from service.auth import Access
from service.metrics import MetricsController, http_metrics
from service.problems import EXCEPTION_HANDLERS
from service.settings import Settings
from service.supervised import die_with_supervisor
from service.wiring import Services, services

STATIC = Path(__file__).parent / "static"  # the viewer at / (index.html, app.js, app.css)


def _services(state: State) -> Services:
    svc: Services = state.services
    return svc


def create_app(settings: Settings | None = None, svc: Services | None = None) -> Litestar:
    """Build the app. With `svc`, use those services (tests); otherwise open them at start."""
    settings = settings or (svc.settings if svc else Settings.from_env())
    access = Access.from_settings(settings)  # the token table, built once

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if svc is not None:  # opened by the caller, who also closes them
            yield
            return
        async with services(settings) as opened:
            app.state.services = opened
            yield

    app = Litestar(
        route_handlers=[
            EventsController,
            AnswersController,
            OpsController,
            StreamController,
            TimelineController,
            ExportsController,
            ImportController,
            MetricsController,
            create_static_files_router(
                path="/",
                directories=[STATIC],
                html_mode=True,
                name="viewer",
                opt={"scope": "public"},
            ),
        ],
        dependencies={"svc": Provide(_services, sync_to_thread=False)},
        lifespan=[lifespan],
        state=State({"services": svc} if svc is not None else {}),
        exception_handlers=cast(Any, EXCEPTION_HANDLERS),
        # An open service (no tokens) lets everything through: no guard at all then, since
        # Litestar copies the route handler for every guard call on every request.
        guards=[] if access.open else [access.guard],
        middleware=[http_metrics().middleware, *access.middleware()],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Annals",
            version="0.1.0",
            description="An append-only, bitemporal log of diplomatic events.",
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        debug=False,
    )
    append_route.install(app, access)  # POST /v1/events without the framework's toll
    return app


def app_from_env() -> Any:
    """ASGI factory for `uvicorn --factory service.app:app_from_env` (and granian's)."""
    die_with_supervisor()
    return create_app(Settings.from_env())
