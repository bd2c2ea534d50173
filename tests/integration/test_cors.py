"""CORS through the real app (SPEC §7): preflights, reads from anywhere, writes refused
from pages on origins that are not configured, and nothing stored when refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import msgspec
import pytest

from service.app import create_app
from service.wiring import Services

DESK = "https://desk.example"
EVIL = "https://evil.example"
EVENT = {"type": "x-note", "time": "2025-11-27", "data": {"text": "cross-origin"}}


@pytest.fixture
async def api(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    settings = msgspec.structs.replace(services.settings, cors_origins=(DESK,))
    app = create_app(settings, svc=services)
    transport = httpx.ASGITransport(app=cast(Any, app))
    async with httpx.AsyncClient(transport=transport, base_url="http://annals.test") as c:
        yield c


async def test_preflight_is_answered_by_origin(api: httpx.AsyncClient) -> None:
    ask = {"access-control-request-method": "POST",
           "access-control-request-headers": "authorization,content-type"}  # fmt: skip
    r = await api.options("/v1/events", headers={"origin": DESK, **ask})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == DESK
    assert "POST" in r.headers["access-control-allow-methods"]
    assert r.headers["access-control-allow-headers"] == "authorization, content-type"
    r = await api.options("/v1/events", headers={"origin": EVIL, **ask})
    assert r.status_code == 204 and r.headers["access-control-allow-methods"] == "GET"
    assert "authorization" not in r.headers["access-control-allow-headers"].lower()
    r = await api.options("/v1/verify", headers={"origin": EVIL,
                          "access-control-request-method": "GET"})  # fmt: skip
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "*"


async def test_reads_answer_star_and_writes_from_other_origins_are_refused(
    api: httpx.AsyncClient,
) -> None:
    r = await api.get("/v1/state", headers={"origin": EVIL})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "*"
    assert "ETag" in r.headers["access-control-expose-headers"]
    assert "Origin" in r.headers["vary"]
    r = await api.get("/healthz")
    assert r.headers["access-control-allow-origin"] == "*"

    r = await api.post("/v1/events", json=EVENT, headers={"origin": EVIL})
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    simple = {"origin": EVIL, "content-type": "text/plain"}  # a browser sends it unasked
    r = await api.post("/v1/events", content=b"{}", headers=simple)
    assert r.status_code == 403
    assert (await api.get("/v1/events")).json()["events"] == []

    r = await api.post("/v1/events", json=EVENT, headers={"origin": DESK})
    assert r.status_code == 201
    assert r.headers["access-control-allow-origin"] == DESK
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "Location" in r.headers["access-control-expose-headers"]
    r = await api.post("/v1/events", json=EVENT, headers={"origin": "http://annals.test"})
    assert r.status_code == 201  # the service's own pages write as before
    r = await api.post("/v1/events", json={"type": "x-"}, headers={"origin": DESK})
    assert r.status_code == 422 and r.headers["access-control-allow-origin"] == DESK


async def test_a_preflight_offers_only_the_methods_the_service_answers(
    services: Services,
) -> None:
    """A method a preflight offers is one some route of the API answers (the others are 405):
    GET for any origin, and for a trusted one the writes as well."""
    settings = msgspec.structs.replace(services.settings, cors_origins=(DESK,))
    app = create_app(settings, svc=services)
    api_routes = [r for r in app.routes if r.path.startswith("/v1/")]
    answered = {m for route in api_routes for m in getattr(route, "methods", ())} - {"OPTIONS"}
    transport = httpx.ASGITransport(app=cast(Any, app))
    async with httpx.AsyncClient(transport=transport, base_url="http://annals.test") as api:
        for origin, expected in ((EVIL, {"GET"}), (DESK, answered)):
            r = await api.options("/v1/events", headers={"origin": origin,
                                  "access-control-request-method": "GET"})  # fmt: skip
            offered = {m.strip() for m in r.headers["access-control-allow-methods"].split(",")}
            assert offered == expected, origin
        for method in {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"} - answered:
            assert (await api.request(method, "/v1/state")).status_code == 405, method
