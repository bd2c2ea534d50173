"""Webhooks (SPEC §8) against a real receiver: an HTTP server on 127.0.0.1 in the test."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, cast

import httpx
import msgspec
import pytest
from standardwebhooks.webhooks import Webhook

from service.access_config import Token, hash_token
from service.app import create_app
from service.webhooks.worker import Deliveries
from service.wiring import Services
from tests.receiver import Receiver

pytestmark = pytest.mark.timeout(60)

ADMIN = "admin-token-webhooks-1"
TOKENS = (Token(name="ops", sha256=hash_token(ADMIN), scopes=frozenset({"admin"})),)
BACKOFF = 0.2  # seconds before the first retry (10 minutes at most, in production too)


async def until(check: Callable[[], bool], seconds: float = 20) -> None:
    """Wait until `check()` holds, at most `seconds`."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def shown_when(
    client: httpx.AsyncClient, sub_id: str, check: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """GET /v1/subscriptions/{id} once `check` holds for it (at most 20 s)."""
    deadline = time.monotonic() + 20
    while True:
        shown: dict[str, Any] = (await client.get(f"/v1/subscriptions/{sub_id}")).json()
        if check(shown):
            return shown
        assert time.monotonic() < deadline, shown
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def worker(services: Services, **changes: Any) -> AsyncIterator[Deliveries]:
    """A delivery worker on the test's database, as a service process runs one."""
    settings = msgspec.structs.replace(services.settings, webhook_backoff=BACKOFF, **changes)
    assert settings.database_url is not None
    d = Deliveries(settings.database_url, settings, services.listener)
    d.start()
    try:
        yield d
    finally:
        await d.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


async def post_notes(client: httpx.AsyncClient, *ns: int) -> list[int]:
    """Append x-note events; their sequences."""
    out = []
    for n in ns:
        r = await client.post(
            "/v1/events", json={"id": f"n{n}", "type": "x-note", "time": "2025-11-27", "data": n}
        )
        assert r.status_code == 201, r.text
        out.append(r.json()["sequence"])
    return out


async def test_a_receiver_that_fails_twice_gets_every_event_in_order_after_retries(
    client: httpx.AsyncClient, services: Services
) -> None:
    with Receiver(script=[500, 503]) as receiver:
        r = await client.post("/v1/subscriptions", json={"url": receiver.url})
        assert r.status_code == 201, r.text
        sub = r.json()
        assert sub["after"] == 0 and sub["secret"].startswith("whsec_")
        assert set(sub) == {"id", "url", "types", "subject", "secret", "after"}
        seqs = await post_notes(client, 1, 2, 3, 4)
        async with worker(services):
            want = [f"{sub['id']}:{s}" for s in seqs]
            shown = await shown_when(client, sub["id"], lambda s: s["delivered"] == seqs[-1])
        seen = receiver.ids()
        print("\nreceiver saw:", [(i.split(":")[1], st) for i, _, _, st in receiver.seen])
        # The first event three times (500, 503, then 204); the later ones waited for it.
        assert seen == [want[0], want[0], *want]
        assert [s[3] for s in receiver.seen] == [500, 503, 204, 204, 204, 204]
        assert shown["delivered"] == seqs[-1] and shown["pending"] == 0
        assert shown["failures"] == 0 and shown["last_error"] == "HTTP 503"
        assert "secret" not in shown
        for _id, headers, body, _st in receiver.seen:
            payload = Webhook(sub["secret"]).verify(body, headers)
            assert headers["webhook-id"] == f"{sub['id']}:{payload['sequence']}"
            assert headers["content-type"].startswith("application/cloudevents+json")
        export = (await client.get("/v1/export/events.ndjson")).content.splitlines()
        assert [s[2].rstrip(b"\n") for s in receiver.seen[2:]] == export


async def test_retries_back_off_exponentially(
    client: httpx.AsyncClient, services: Services
) -> None:
    with Receiver(script=[500, 500, 500]) as receiver:
        r = await client.post("/v1/subscriptions", json={"url": receiver.url})
        await post_notes(client, 1)
        async with worker(services):
            shown = await shown_when(client, r.json()["id"], lambda s: s["delivered"] == 1)
        t = receiver.arrived
        gaps = [b - a for a, b in itertools.pairwise(t)]
        print("\ngaps between attempts (s):", [round(g, 2) for g in gaps])
        assert len(gaps) == 3
        for gap, wanted in zip(gaps, (BACKOFF, 2 * BACKOFF, 4 * BACKOFF), strict=True):
            assert gap >= wanted * 0.95  # the schedule itself: tests/unit/test_webhook_rules.py
        assert shown["failures"] == 0 and shown["last_error"] == "HTTP 500"


async def test_a_failing_event_waits_and_its_failures_show(
    client: httpx.AsyncClient, services: Services
) -> None:
    with Receiver(script=[500] * 100) as receiver:
        sub = (await client.post("/v1/subscriptions", json={"url": receiver.url})).json()
        await post_notes(client, 1, 2)
        async with worker(services):
            shown = await shown_when(client, sub["id"], lambda s: s["failures"] >= 2)
            metrics = (await client.get("/metrics")).text
        assert set(receiver.ids()) == {f"{sub['id']}:1"}  # event 2 waits behind event 1
        assert shown["delivered"] == 0 and shown["pending"] == 2
        assert shown["failures"] >= 2 and shown["last_error"] == "HTTP 500"
        assert shown["next_attempt"] is not None
        assert f'annals_webhook_pending{{subscription="{sub["id"]}"}} 2.0' in metrics
        assert f'annals_webhook_failures_total{{subscription="{sub["id"]}"}}' in metrics


async def test_types_and_subject_choose_the_events(
    client: httpx.AsyncClient, services: Services, receiver: Receiver
) -> None:
    subscribe = {"url": receiver.url, "types": ["party."], "subject": "party/ukraine"}
    sub = (await client.post("/v1/subscriptions", json=subscribe)).json()
    events = [
        {"type": "party.registered", "subject": "party/russia", "time": "2025-01-01",
         "data": {"name": "Russia", "kind": "state"}},
        {"type": "party.registered", "subject": "party/ukraine", "time": "2025-01-01",
         "data": {"name": "Ukraine", "kind": "state"}},
        {"type": "x-note", "subject": None, "time": "2025-01-02", "data": 1},
    ]  # fmt: skip
    r = await client.post("/v1/events", json=events)
    assert r.status_code == 201, r.text
    async with worker(services):
        # the cursor moves on past the events the subscription skips
        shown = await shown_when(client, sub["id"], lambda s: s["delivered"] == 3)
    assert receiver.ids() == [f"{sub['id']}:2"]
    assert shown["delivered"] == 3 and shown["pending"] == 0


async def test_a_receiver_that_never_answers_holds_up_no_append(
    client: httpx.AsyncClient, services: Services
) -> None:
    with Receiver(hold=True) as receiver:
        await client.post("/v1/subscriptions", json={"url": receiver.url})
        async with worker(services, webhook_timeout=1.0):
            await post_notes(client, 1)
            await until(lambda: len(receiver.arrived) == 1)  # a delivery is hanging
            await post_notes(client, *range(2, 12))  # each one answered meanwhile
            assert receiver.seen == []
            sub_id = (await client.get("/v1/subscriptions")).json()["subscriptions"][0]["id"]
            shown = await shown_when(client, sub_id, lambda s: s["failures"] >= 1)
            receiver.held.set()
            await shown_when(client, sub_id, lambda s: s["delivered"] == 11)
    assert shown["last_error"] == "no answer within 1 s" and shown["pending"] == 11


async def test_validation_names_the_field(client: httpx.AsyncClient) -> None:
    bad = [
        ({}, "$.url"),
        ({"url": "ftp://example.org/x"}, "$.url"),
        ({"url": "http://user:pw@example.org/"}, "$.url"),
        ({"url": "https://example.org/", "types": ["nonsense"]}, "$.types[0]"),
        ({"url": "https://example.org/", "types": []}, "$.types"),
        ({"url": "https://example.org/", "subject": "ukraine"}, "$.subject"),
        ({"url": "https://example.org/", "after": -1}, "$.after"),
        ({"url": "https://example.org/", "secret": "mine"}, "$.secret"),
    ]
    for body, path in bad:
        r = await client.post("/v1/subscriptions", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert path in [e["path"] for e in r.json()["errors"]], (body, r.json())
    r = await client.post(
        "/v1/subscriptions", content=b"{", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    r = await client.post(
        "/v1/subscriptions", content=b" ", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["detail"] == "the request body is empty; send a JSON subscription"
    assert (await client.get("/v1/subscriptions/nope")).status_code == 404
    assert (await client.delete("/v1/subscriptions/" + "0" * 32)).status_code == 404


async def test_list_show_and_delete(client: httpx.AsyncClient) -> None:
    a = (await client.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/a"})).json()
    b = (await client.post("/v1/subscriptions", json={"url": "http://127.0.0.1:9/b"})).json()
    listed = (await client.get("/v1/subscriptions")).json()["subscriptions"]
    assert [s["id"] for s in listed] == [a["id"], b["id"]]
    assert (await client.delete(f"/v1/subscriptions/{a['id']}")).status_code == 204
    assert (await client.get(f"/v1/subscriptions/{a['id']}")).status_code == 404
    listed = (await client.get("/v1/subscriptions")).json()["subscriptions"]
    assert [s["id"] for s in listed] == [b["id"]]


@pytest.fixture
def guarded(services: Services) -> Callable[..., contextlib.AbstractAsyncContextManager[Any]]:
    """A client of an app with tokens configured, settings changed as given."""

    @contextlib.asynccontextmanager
    async def open_client(**changes: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = msgspec.structs.replace(services.settings, tokens=TOKENS, **changes)
        app = create_app(svc=Services(settings, services.pool, services.writer))
        transport = httpx.ASGITransport(app=cast(Any, app))
        headers = {"Authorization": f"Bearer {ADMIN}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://annals.test", headers=headers
        ) as c:
            yield c

    return open_client


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.0.0.7/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
    ],
)
async def test_private_targets_are_refused_once_tokens_are_configured(
    guarded: Callable[..., contextlib.AbstractAsyncContextManager[Any]], url: str
) -> None:
    async with guarded() as c:
        r = await c.post("/v1/subscriptions", json={"url": url})
        assert r.status_code == 422, r.text
        assert [e["path"] for e in r.json()["errors"]] == ["$.url"]
        assert "ANNALS_WEBHOOK_ALLOW_PRIVATE" in r.json()["errors"][0]["message"]
    async with guarded(webhook_allow_private=True) as c:
        assert (await c.post("/v1/subscriptions", json={"url": url})).status_code == 201


async def test_subscriptions_need_scope_admin(
    guarded: Callable[..., contextlib.AbstractAsyncContextManager[Any]],
) -> None:
    async with guarded() as c:
        for method in ("GET", "POST"):
            r = await c.request(method, "/v1/subscriptions", headers={"Authorization": ""})
            assert r.status_code == 401, r.text


async def test_a_target_that_turned_private_is_refused_at_delivery(
    client: httpx.AsyncClient, services: Services, receiver: Receiver
) -> None:
    # Subscribed in development mode; the operator then configures tokens: deliveries to
    # the loopback receiver stop, and the refusal shows as the subscription's last error.
    sub = (await client.post("/v1/subscriptions", json={"url": receiver.url})).json()
    await post_notes(client, 1)
    async with worker(services, tokens=TOKENS):
        shown = await shown_when(client, sub["id"], lambda s: s["failures"] >= 1)
    assert receiver.ids() == []
    assert shown["last_error"].startswith("refused: '127.0.0.1' resolves to a loopback")


async def test_two_workers_deliver_one_at_a_time_and_the_second_takes_over(
    client: httpx.AsyncClient, services: Services
) -> None:
    with Receiver(delay=0.02) as receiver:
        sub = (await client.post("/v1/subscriptions", json={"url": receiver.url})).json()
        first = await post_notes(client, *range(1, 11))
        async with worker(services) as one, worker(services) as two:
            # Acknowledged and recorded: stopping the leader between the two would make
            # the other redeliver the last event (at least once, allowed, not this test's).
            await shown_when(client, sub["id"], lambda s: s["delivered"] == first[-1])
            assert one.leading != two.leading  # exactly one delivers
            leader, standby = (one, two) if one.leading else (two, one)
            await leader.stop()
            later = await post_notes(client, *range(11, 21))
            await shown_when(client, sub["id"], lambda s: s["delivered"] == later[-1])
            assert standby.leading
    assert receiver.ids() == [f"{sub['id']}:{s}" for s in first + later]
    assert receiver.most_in_flight == 1
