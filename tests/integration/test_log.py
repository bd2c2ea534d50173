"""The log over HTTP against a real PostgreSQL: append, order, idempotency, chain."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

Client = httpx.AsyncClient


def ev(n: int = 0, **over: Any) -> dict[str, Any]:
    """A valid party.registered event; keyword arguments override attributes."""
    base: dict[str, Any] = {
        "type": "party.registered",
        "subject": f"party/p{n}",
        "time": "2025-11-27",
        "data": {"name": f"Party {n}", "kind": "state"},
    }
    base.update(over)
    return base


async def test_post_returns_201_with_sequence_recordedtime_and_hash(client: Client) -> None:
    r = await client.post("/v1/events", json=ev(1))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["sequence"] == 1
    assert body["recordedtime"].endswith("Z")
    assert len(body["hash"]) == 64
    assert body["predecessorhash"] == "0" * 64
    assert body["time"] == "2025-11-27T00:00:00Z"
    assert body["timeprecision"] == "day"
    assert body["source"] == "urn:annals:api"
    assert r.headers["location"] == f"/v1/events/{body['id']}"


async def test_generated_ids_are_uuidv7(client: Client) -> None:
    body = (await client.post("/v1/events", json=ev(1))).json()
    assert body["id"][14] == "7"


async def test_retry_with_same_id_returns_original(client: Client) -> None:
    first = await client.post("/v1/events", json=ev(1, id="a-1"))
    again = await client.post("/v1/events", json=ev(1, id="a-1"))
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    page = (await client.get("/v1/events")).json()
    assert [e["id"] for e in page["events"]] == ["a-1"]


async def test_same_id_with_other_content_is_409(client: Client) -> None:
    await client.post("/v1/events", json=ev(1, id="a-1"))
    r = await client.post("/v1/events", json=ev(2, id="a-1"))
    assert r.status_code == 409
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["path"] == "$.id"


async def test_a_conflict_names_the_id_where_the_body_form_puts_it(client: Client) -> None:
    await client.post("/v1/events", json=ev(1, id="a-1"))
    r = await client.post("/v1/events", json={"events": [ev(3), ev(2, id="a-1")]})
    assert r.status_code == 409
    assert [e["path"] for e in r.json()["errors"]] == ["$.events[1].id"]
    r = await client.post("/v1/events", json=[ev(3), ev(2, id="a-1")])
    assert [e["path"] for e in r.json()["errors"]] == ["$[1].id"]
    twice = {"events": [ev(3, id="b-1"), ev(4, id="b-1")]}  # repeated in one request
    r = await client.post("/v1/events", json=twice)
    assert r.status_code == 409
    assert [e["path"] for e in r.json()["errors"]] == ["$.events[1].id"]
    assert [e["id"] for e in (await client.get("/v1/events")).json()["events"]] == ["a-1"]


async def test_same_id_from_another_source_is_another_event(client: Client) -> None:
    a = await client.post("/v1/events", json=ev(1, id="same", source="urn:desk:a"))
    b = await client.post("/v1/events", json=ev(1, id="same", source="urn:desk:b"))
    assert (a.status_code, b.status_code) == (201, 201)
    r = await client.get("/v1/events/same")
    assert r.status_code == 409
    r = await client.get("/v1/events/same", params={"source": "urn:desk:b"})
    assert r.json()["sequence"] == 2


async def test_batch_forms_all_append_in_order(client: Client) -> None:
    r1 = await client.post("/v1/events", json=[ev(1), ev(2)])
    r2 = await client.post(
        "/v1/events",
        content=b'[{"type":"x-note","time":"2025","data":{"t":1}}]',
        headers={"content-type": "application/cloudevents-batch+json"},
    )
    r3 = await client.post("/v1/events", json={"events": [ev(3)], "preconditions": []})
    r4 = await client.post(
        "/v1/events",
        content=b'{"type":"x-note","time":"2025","data":null}',
        headers={"content-type": "application/cloudevents+json"},
    )
    assert [r.status_code for r in (r1, r2, r3, r4)] == [201] * 4
    assert [e["sequence"] for e in r1.json()] == [1, 2]
    assert r2.json()[0]["sequence"] == 3
    assert r3.json()[0]["sequence"] == 4
    assert r4.json()["sequence"] == 5


async def test_batch_is_all_or_nothing(client: Client) -> None:
    r = await client.post("/v1/events", json=[ev(1), ev(2, time="2025-02-30")])
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == "$[1].time"
    assert (await client.get("/v1/events")).json()["events"] == []


async def test_batch_partly_stored_appends_the_rest_with_201(client: Client) -> None:
    await client.post("/v1/events", json=ev(1, id="k1"))
    r = await client.post("/v1/events", json=[ev(1, id="k1"), ev(2, id="k2")])
    assert r.status_code == 201
    assert [e["sequence"] for e in r.json()] == [1, 2]
    r = await client.post("/v1/events", json=[ev(1, id="k1"), ev(2, id="k2")])
    assert r.status_code == 200


async def test_precondition_holds_then_fails(client: Client) -> None:
    pre: dict[str, Any] = {"subject": "party/p1", "last_sequence": None}
    r = await client.post("/v1/events", json={"events": [ev(1)], "preconditions": [pre]})
    assert r.status_code == 201
    r = await client.post("/v1/events", json={"events": [ev(1)], "preconditions": [pre]})
    assert r.status_code == 409
    assert "party/p1" in r.json()["detail"]
    pre = {"subject": "party/p1", "last_sequence": 1}
    r = await client.post("/v1/events", json={"events": [ev(1)], "preconditions": [pre]})
    assert r.status_code == 201


async def test_a_conditional_write_retried_answers_as_it_first_did(client: Client) -> None:
    """A retry whose events are all stored is answered 200 with them: its preconditions
    held when it was appended, and asking them again would refuse the write it made."""
    pre: dict[str, Any] = {"subject": "party/p1", "last_sequence": None}
    body = {"events": [ev(1, id="c-1")], "preconditions": [pre]}
    first = await client.post("/v1/events", json=body)
    assert first.status_code == 201
    again = await client.post("/v1/events", json=body)
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    fresh = {"events": [ev(1, id="c-1"), ev(1, id="c-2")], "preconditions": [pre]}
    r = await client.post("/v1/events", json=fresh)  # a new event: its preconditions count
    assert r.status_code == 409, r.text


async def test_precondition_sees_references_in_data(client: Client) -> None:
    plan = {
        "type": "plan.proposed",
        "subject": "plan/x",
        "time": "2025-11-20",
        "data": {"title": "X", "sponsor": "party/p9"},
    }
    await client.post("/v1/events", json=plan)
    pre = {"subject": "party/p9", "last_sequence": 1}
    r = await client.post("/v1/events", json={"events": [ev(9)], "preconditions": [pre]})
    assert r.status_code == 201


async def test_precondition_race_has_exactly_one_winner(client: Client) -> None:
    await client.post("/v1/events", json=ev(1))
    body = {"events": [ev(1)], "preconditions": [{"subject": "party/p1", "last_sequence": 1}]}
    results = await asyncio.gather(*(client.post("/v1/events", json=body) for _ in range(20)))
    codes = sorted(r.status_code for r in results)
    assert codes == [201] + [409] * 19, codes


async def test_one_bad_request_does_not_fail_its_neighbours(client: Client) -> None:
    await client.post("/v1/events", json=ev(1, id="taken"))
    bodies = [ev(i) for i in range(10, 20)] + [ev(2, id="taken")]
    results = await asyncio.gather(*(client.post("/v1/events", json=b) for b in bodies))
    assert [r.status_code for r in results] == [201] * 10 + [409]
    seqs = sorted(r.json()["sequence"] for r in results[:10])
    assert seqs == list(range(2, 12))


async def test_log_pages_in_sequence_order(client: Client) -> None:
    await client.post("/v1/events", json=[ev(i) for i in range(5)])
    p1 = (await client.get("/v1/events", params={"limit": 2})).json()
    assert [e["sequence"] for e in p1["events"]] == [1, 2]
    p2 = (await client.get("/v1/events", params={"after": p1["next"], "limit": 2})).json()
    assert [e["sequence"] for e in p2["events"]] == [3, 4]
    p3 = (await client.get("/v1/events", params={"after": p2["next"], "limit": 2})).json()
    assert [e["sequence"] for e in p3["events"]] == [5]
    assert p3["next"] is None


async def test_hash_chain_links_and_verifies(client: Client) -> None:
    a = (await client.post("/v1/events", json=ev(1))).json()
    b = (await client.post("/v1/events", json=ev(2))).json()
    assert b["predecessorhash"] == a["hash"]
    v = (await client.get("/v1/verify")).json()
    assert v == {"ok": True, "checked": 2, "head": 2, "first_broken": None}


async def test_update_delete_truncate_are_rejected_by_the_database(
    client: Client, conn: asyncpg.Connection
) -> None:
    await client.post("/v1/events", json=ev(1))
    for sql in (
        "UPDATE events SET confidence = 'disputed'",
        "DELETE FROM events",
        "TRUNCATE events CASCADE",
        "DELETE FROM event_concerns",
        "UPDATE event_concerns SET meta = true",
    ):
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await conn.execute(sql)
    assert await conn.fetchval("SELECT count(*) FROM events") == 1


async def test_concurrent_writers_and_a_reader_see_every_sequence_once_in_order(
    client: Client,
) -> None:
    """The gap test: a reader following `after` never misses an event that commits late."""
    writers, per_writer = 16, 25
    total = writers * per_writer
    seen: list[int] = []

    async def write(w: int) -> None:
        for i in range(per_writer):
            body = (
                ev(w * 1000 + i)
                if i % 3
                else [ev(w * 1000 + i, id=f"w{w}-{i}-{j}") for j in range(3)]
            )
            r = await client.post("/v1/events", json=body)
            assert r.status_code == 201, r.text

    async def read() -> None:
        after = 0
        expected_total = writers * (per_writer + 2 * len(range(0, per_writer, 3)))
        while len(seen) < expected_total:
            page = (await client.get("/v1/events", params={"after": after, "limit": 50})).json()
            for e in page["events"]:
                seen.append(e["sequence"])
                after = e["sequence"]
            if not page["events"]:
                await asyncio.sleep(0.005)

    reader = asyncio.create_task(read())
    await asyncio.gather(*(write(w) for w in range(writers)))
    await asyncio.wait_for(reader, timeout=60)
    assert total <= len(seen)
    assert seen == list(range(1, len(seen) + 1))


async def test_the_location_of_any_id_fetches_the_event(client: Client) -> None:
    """Ids are any text: slashes, spaces, percent signs and non-ASCII letters too. The
    Location a POST answers with (percent-encoded) fetches the event back."""
    for id_ in ("urn:desk/2025/11/27 #1", "50%/off", "Zelenskiy\u2019s-\u00e4", "a//b/"):
        body = {"id": id_, "type": "x-note", "time": "2025-12-01", "data": {"id": id_}}
        r = await client.post("/v1/events", json=body)
        assert r.status_code == 201, r.text
        got = await client.get(r.headers["location"])
        assert got.status_code == 200, (id_, r.headers["location"], got.text)
        assert got.json()["id"] == id_
    assert (await client.get("/v1/events/")).status_code == 200  # the log itself
    assert (await client.get("/v1/events")).status_code == 200
