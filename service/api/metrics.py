"""GET /metrics, by Litestar's own Prometheus support, and the HTTP series.

HTTP requests are counted and timed per route (the matched path template, so
`/v1/events/{event_id}` is one series, not one per id) as `annals_http_*`; the Annals
figures are in `service/metrics.py`.

Every figure is per process. With `annals serve --workers N`, set `PROMETHEUS_MULTIPROC_DIR`
to an empty directory shared by the workers so that /metrics adds them up (prometheus_client
multiprocess mode; the controller below reads it when that variable is set).
"""

from __future__ import annotations

import time
from typing import Any

from litestar import Response, get
from litestar.enums import ScopeType
from litestar.plugins.prometheus import (
    PrometheusConfig,
    PrometheusController,
    PrometheusMiddleware,
)
from litestar.types import Message, Receive, Scope, Send


class LeanPrometheusMiddleware(PrometheusMiddleware):
    """Litestar's Prometheus middleware with the same series, names and labels (method,
    path template, status code, app name), at a fraction of its cost per request.

    Litestar's builds a Request, two label dicts, a functools-wrapped send and four
    `labels(...)` look-ups (each hashing and validating the label values) on every request
    (docs/SCALING.md). This one reads the scope directly and keeps the labelled children in
    dicts keyed by the label tuple. Configurations it does not cover (extra labels,
    exemplars, excluded methods, ungrouped paths) go to Litestar's own code path unchanged.
    """

    def __init__(self, app: Any, config: PrometheusConfig) -> None:
        super().__init__(app, config)
        self._lean = (
            config.group_path
            and not config.labels
            and config.exemplars is None
            and not config.excluded_http_methods
        )
        self._live: dict[tuple[str, str], Any] = {}
        self._done: dict[tuple[str, str, int], tuple[Any, Any, Any | None]] = {}

    def _labels(self, method: str, path: str, status: int) -> dict[str, str | int | float]:
        """The label values Litestar's middleware gives, in its order."""
        return {
            "method": method,
            "path": path,
            "status_code": status,
            "app_name": self._config.app_name,
        }

    def _children(self, method: str, path: str, status: int) -> tuple[Any, Any, Any | None]:
        """(request count, request time, error count or None) for these label values."""
        key = (method, path, status)
        found = self._done.get(key)
        if found is None:
            labels = self._labels(method, path, status)
            values = list(labels.values())
            errors = self.requests_error_count(labels).labels(*values) if status >= 500 else None
            found = (
                self.request_count(labels).labels(*values),
                self.request_time(labels).labels(*values),
                errors,
            )
            self._done[key] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count and time one request, as Litestar's middleware does."""
        if not self._lean:
            await super().__call__(scope, receive, send)
            return
        kind = scope["type"]
        method: str = scope["method"] if kind == ScopeType.HTTP else kind  # type: ignore[typeddict-item]
        path: str = scope["path_template"]
        live = self._live.get((method, path))
        if live is None:
            labels = self._labels(method, path, 200)
            live = self.requests_in_progress(labels).labels(*labels.values())
            self._live[(method, path)] = live
        start = time.perf_counter()
        status = 200
        duration = 0.0

        async def timed_send(message: Message) -> None:
            nonlocal status, duration
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                duration = time.perf_counter() - start
            await send(message)

        live.inc()
        try:
            await self.app(scope, receive, timed_send)
        finally:
            live.dec()
            count, seconds, errors = self._children(method, path, status)
            if errors is not None:
                errors.inc()
            count.inc()
            seconds.observe(duration)


def http_metrics() -> PrometheusConfig:
    """Litestar's request counts and latency (`annals_http_requests_total`,
    `annals_http_request_duration_seconds`, …), labelled by route template."""
    return PrometheusConfig(
        app_name="annals",
        prefix="annals_http",
        group_path=True,
        middleware_class=LeanPrometheusMiddleware,
    )


class MetricsController(PrometheusController):
    """GET /metrics, Prometheus text exposition; needs scope `admin` when tokens are set."""

    path = "/metrics"
    tags = ["operations"]
    opt = {"scope": "admin"}  # read by service.auth.Access.required_scope

    @get(summary="Prometheus metrics", media_type="text/plain")
    async def get(self) -> Response[bytes]:
        """The Prometheus text exposition format; needs scope `admin` when tokens are set.

        Litestar's own handler, declared again only so that the API document gives the
        right media type and a summary."""
        response: Response[bytes] = await PrometheusController.get.fn(self)
        return response
