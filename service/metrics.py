"""The Annals figures for Prometheus, updated in `service/` where the answers come back
(which keeps `events/` and `projections/` free of metrics); served by `service/api/metrics.py`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Final, TypeVar

from prometheus_client import Counter, Gauge, Histogram

T = TypeVar("T")

QUERIES: Final = ("state", "diff", "subject", "family")

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
    "/v1/{collection}/{slug} (subject), /v1/plans/{slug}/family (family); refused questions "
    "included",
    ["query"],
)
STREAM_CLIENTS: Final = Gauge(
    "annals_stream_clients",
    "Live stream (GET /v1/stream) clients connected to this process",
    multiprocess_mode="livesum",
)
# Labelled by subscription id: at most rules.MAX_SUBSCRIPTIONS series each, and a deleted
# subscription's series are removed. Only the process delivering webhooks sets them
# (mostrecent: in multiprocess mode the newest value wins, whichever process delivered).
WEBHOOK_PENDING: Final = Gauge(
    "annals_webhook_pending",
    "Events a webhook subscription matches that are not yet acknowledged",
    ["subscription"],
    multiprocess_mode="mostrecent",
)
WEBHOOK_FAILURES: Final = Counter(
    "annals_webhook_failures",
    "Failed webhook delivery attempts (non-2xx, no answer in time, refused target)",
    ["subscription"],
)
for _query in QUERIES:  # every series exists from the start, at zero
    QUERY_SECONDS.labels(_query)


def forget_subscription(sub_id: str) -> None:
    """Drop a deleted subscription's series."""
    for family in (WEBHOOK_PENDING, WEBHOOK_FAILURES):
        with contextlib.suppress(KeyError):
            family.remove(sub_id)


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
