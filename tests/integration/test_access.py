"""Access over HTTP (SPEC §7): bearer tokens, scopes, public reads, the write rate limit."""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import httpx
import msgspec
import pytest

from service.access_config import Token, hash_token
from service.app import create_app
from service.wiring import Services

Client = httpx.AsyncClient
READ, WRITE, ADMIN = "read-token-9f8e7d", "write-token-6c5b4a", "admin-token-3f2e1d"
TOKENS = (
    Token(name="reader", sha256=hash_token(READ), scopes=frozenset({"read"})),
    Token(name="writer", sha256=hash_token(WRITE), scopes=frozenset({"write"})),
    Token(name="ops", sha256=hash_token(ADMIN), scopes=frozenset({"admin", "read", "write"})),
)
_ids = itertools.count()


def ev() -> dict[str, Any]:
    """A valid event, a new one each call."""
    n = next(_ids)
    return {"type": "x-note", "id": f"access-{n}", "time": "2025-11-27", "data": {"n": n}}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    return body


Opener = Callable[..., contextlib.AbstractAsyncContextManager[Client]]


@pytest.fixture
def app_with(services: Services) -> Opener:
    """A client of an app on the test's database whose settings differ as given."""

    @contextlib.asynccontextmanager
    async def open_client(**changes: Any) -> AsyncIterator[Client]:
        settings = msgspec.structs.replace(services.settings, **changes)
        app = create_app(svc=Services(settings, services.pool, services.writer))
        transport = httpx.ASGITransport(app=cast(Any, app))
        async with httpx.AsyncClient(transport=transport, base_url="http://annals.test") as c:
            yield c

    return open_client


@pytest.fixture
async def guarded(app_with: Opener) -> AsyncIterator[Client]:
    """Tokens configured, reads public (the default)."""
    async with app_with(tokens=TOKENS) as c:
        yield c


async def test_open_mode_allows_everything_and_says_so(
    app_with: Opener, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="annals.auth"):
        async with app_with(tokens=(), public_reads=False) as c:
            assert (await c.post("/v1/events", json=ev())).status_code == 201
            assert (await c.get("/v1/verify")).status_code == 200
            assert (await c.get("/v1/events")).status_code == 200
    assert "OPEN" in caplog.text


async def test_post_without_a_token_is_401_with_www_authenticate(guarded: Client) -> None:
    body = problem(await guarded.post("/v1/events", json=ev()), 401)
    assert body["type"] == "urn:annals:problem:unauthorized"
    r = await guarded.post("/v1/events", json=ev())
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_auth_is_checked_before_the_body_is_read(guarded: Client) -> None:
    r = await guarded.post(
        "/v1/events", content=b"{not json", headers={"content-type": "application/json"}
    )
    problem(r, 401)


async def test_wrong_token_is_401(guarded: Client) -> None:
    for header in (auth("not-a-token"), auth(hash_token(WRITE)), {"Authorization": WRITE}):
        r = await guarded.post("/v1/events", json=ev(), headers=header)
        problem(r, 401)
        assert r.headers["www-authenticate"].startswith("Bearer")


async def test_read_only_token_cannot_write(guarded: Client) -> None:
    r = await guarded.post("/v1/events", json=ev(), headers=auth(READ))
    body = problem(r, 403)
    assert body["type"] == "urn:annals:problem:forbidden"
    assert "write" in body["detail"]


async def test_write_token_appends(guarded: Client) -> None:
    r = await guarded.post("/v1/events", json=ev(), headers=auth(WRITE))
    assert r.status_code == 201, r.text
    r = await guarded.post("/v1/events", json=[ev(), ev()], headers=auth(WRITE))
    assert r.status_code == 201, r.text


async def test_verify_needs_admin(guarded: Client) -> None:
    problem(await guarded.get("/v1/verify"), 401)
    problem(await guarded.get("/v1/verify", headers=auth(WRITE)), 403)
    problem(await guarded.get("/v1/verify", headers=auth(READ)), 403)
    assert (await guarded.get("/v1/verify", headers=auth(ADMIN))).status_code == 200
    # Judged by the matched route, not the raw path.
    assert (await guarded.get("/v1/verify/", headers=auth(WRITE))).status_code in (403, 404)


async def test_reads_are_public_by_default(guarded: Client) -> None:
    await guarded.post("/v1/events", json=ev(), headers=auth(WRITE))
    for path in ("/v1/events", "/v1/state", "/v1/timeline", "/healthz", "/readyz"):
        assert (await guarded.get(path)).status_code == 200, path
    # An unknown token on a public read is ignored, not refused.
    assert (await guarded.get("/v1/events", headers=auth("nope"))).status_code == 200


async def test_reads_need_the_read_scope_when_not_public(app_with: Opener) -> None:
    async with app_with(tokens=TOKENS, public_reads=False) as c:
        for path in ("/v1/events", "/v1/state", "/v1/timeline", "/v1/events/nope"):
            r = await c.get(path)
            problem(r, 401)
            assert r.headers["www-authenticate"].startswith("Bearer")
            problem(await c.get(path, headers=auth(WRITE)), 403)
        assert (await c.get("/v1/events", headers=auth(READ))).status_code == 200
        assert (await c.get("/v1/state", headers=auth(ADMIN))).status_code == 200
        for path in ("/healthz", "/readyz", "/schema/openapi.json"):
            assert (await c.get(path)).status_code == 200, path


async def test_the_token_never_appears_in_responses_or_logs(
    app_with: Opener, caplog: pytest.LogCaptureFixture
) -> None:
    responses: list[httpx.Response] = []
    with caplog.at_level(logging.DEBUG):
        async with app_with(tokens=TOKENS, public_reads=False, write_rate=("minute", 1)) as c:
            for token in (READ, WRITE, ADMIN, "wrong-secret-value"):
                h = auth(token)
                responses += [
                    await c.post("/v1/events", json=ev(), headers=h),
                    await c.post("/v1/events", json=ev(), headers=h),  # rate-limited
                    await c.post("/v1/events", content=b"{", headers=h),
                    await c.get("/v1/verify", headers=h),
                    await c.get("/v1/state", headers=h),
                    await c.get("/v1/events/nope", headers=h),
                ]
    statuses = {r.status_code for r in responses}
    assert {200, 201, 401, 403, 404, 429} <= statuses
    for r in responses:
        seen = r.text + " ".join(f"{k}: {v}" for k, v in r.headers.items())
        for secret in (READ, WRITE, ADMIN, "wrong-secret-value"):
            assert secret not in seen
            assert secret not in caplog.text


async def test_writes_past_the_rate_are_429_with_retry_after(app_with: Opener) -> None:
    async with app_with(tokens=TOKENS, write_rate=("minute", 3)) as c:
        for _ in range(3):
            assert (await c.post("/v1/events", json=ev(), headers=auth(WRITE))).status_code == 201
        r = await c.post("/v1/events", json=ev(), headers=auth(WRITE))
        body = problem(r, 429)
        assert body["type"] == "urn:annals:problem:rate-limited"
        assert r.headers["retry-after"].isdigit()
        assert 1 <= int(r.headers["retry-after"]) <= 60
        # The limit is per token, and reads don't count.
        assert (await c.post("/v1/events", json=ev(), headers=auth(ADMIN))).status_code == 201
        assert (await c.get("/v1/events", headers=auth(WRITE))).status_code == 200


async def test_no_rate_limit_unless_configured(guarded: Client) -> None:
    for _ in range(20):
        r = await guarded.post("/v1/events", json=ev(), headers=auth(WRITE))
        assert r.status_code == 201
        assert "ratelimit-limit" not in r.headers


async def test_a_write_past_the_rate_is_a_429_a_page_on_a_trusted_origin_can_read(
    app_with: Opener,
) -> None:
    """The rate limit's 429 carries the CORS headers as every other answer does: without
    them a browser shows the page a network error, not the 429 and its Retry-After."""
    desk = {"origin": "https://desk.example", **auth(WRITE)}
    async with app_with(
        tokens=TOKENS, write_rate=("minute", 1), cors_origins=(desk["origin"],)
    ) as c:
        assert (await c.post("/v1/events", json=ev(), headers=desk)).status_code == 201
        r = await c.post("/v1/events", json=ev(), headers=desk)
        assert r.status_code == 429, r.text
        assert r.headers["access-control-allow-origin"] == desk["origin"]
        assert "Retry-After" in r.headers["access-control-expose-headers"]
        assert r.headers["retry-after"] and r.headers["content-type"] == "application/problem+json"
