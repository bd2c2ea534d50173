"""Prometheus figures, served at GET /metrics by Litestar's own Prometheus support.

HTTP requests are counted and timed per route (the matched path template, so
`/v1/events/{event_id}` is one series, not one per id) by Litestar's `PrometheusMiddleware`
as `annals_http_*`. The Annals figures below are updated in `service/` where the answers
come back, which keeps `events/` and `projections/` free of metrics.

Every figure is per process. With `annals serve --workers N`, set `PROMETHEUS_MULTIPROC_DIR`
to an empty directory shared by the workers so that /metrics adds them up (prometheus_client
multiprocess mode; the controller below reads it when that variable is set).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final, TypeVar

from litestar import Response, get
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from prometheus_client import Counter, Gauge, Histogram

T = TypeVar("T")

QUERIES: Final = ("state", "diff", "subject")

EVENTS_APPENDED: Final = Counter(
    "annals_events_appended",
    "Events newly stored by POST /v1/events in this process (events already stored, "
    "resent with the same id and content, are not counted)",
)
APPEND_REQUEST_EVENTS: Final = Histogram(
    "annals_append_request_events",
    "Events per accepted POST /v1/events request (its batch size)",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000),
)
QUERY_SECONDS: Final = Histogram(
    "annals_query_seconds",
    "Time to answer a question: GET /v1/state (state), /v1/diff (diff), "
    "/v1/{collection}/{slug} (subject); refused questions included",
    ["query"],
)
STREAM_CLIENTS: Final = Gauge(
    "annals_stream_clients",
    "Live stream (GET /v1/stream) clients connected to this process",
    multiprocess_mode="livesum",
)
for _query in QUERIES:  # every series exists from the start, at zero
    QUERY_SECONDS.labels(_query)


def http_metrics() -> PrometheusConfig:
    """Litestar's request counts and latency (`annals_http_requests_total`,
    `annals_http_request_duration_seconds`, …), labelled by route template."""
    return PrometheusConfig(app_name="annals", prefix="annals_http", group_path=True)


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


async def counted_stream_client(messages: AsyncIterator[T]) -> AsyncIterator[T]:
    """Pass `messages` through, counting this client in `annals_stream_clients` while it
    is connected (Litestar cancels the stream when the client goes away)."""
    with STREAM_CLIENTS.track_inprogress():
        try:
            async for message in messages:
                yield message
        finally:
            aclose = getattr(messages, "aclose", None)
            if aclose is not None:
                await aclose()
