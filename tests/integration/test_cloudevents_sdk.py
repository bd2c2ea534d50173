"""The official CloudEvents Python SDK against the real app: structured, binary and batch
posts, binary-mode errors named by header, and the NDJSON export read back by the SDK."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
from cloudevents.core.bindings.http import HTTPMessage, to_binary_event, to_structured_event
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from events.envelope import MAX_EVENT_BYTES
from service.wiring import Services
from tests.conftest import EXAMPLE_EVENTS

Client = httpx.AsyncClient
SOURCE = "urn:annals:test:sdk"
NOV_27 = datetime(2025, 11, 27, 9, 30, tzinfo=UTC)


def event(id_: str, type_: str, subject: str, data: Any, **extra: Any) -> CloudEvent:
    """A CloudEvent built by the SDK (it adds specversion; we give id, source and time)."""
    attributes = {"id": id_, "source": SOURCE, "type": type_, "subject": subject, "time": NOV_27}
    return CloudEvent({**attributes, **extra}, data)


async def send(c: Client, message: HTTPMessage) -> httpx.Response:
    return await c.post("/v1/events", headers=message.headers, content=message.body)


def paths(r: httpx.Response) -> list[str]:
    return [e["path"] for e in r.json()["errors"]]


async def test_sdk_structured_mode_appends(client: Client) -> None:
    e = event("sdk-s1", "party.registered", "party/austria", {"name": "Austria", "kind": "state"})
    r = await send(client, to_structured_event(e))
    assert r.status_code == 201, r.text
    stored = r.json()
    assert (stored["id"], stored["source"], stored["data"]["name"]) == ("sdk-s1", SOURCE, "Austria")
    assert stored["timegiven"] == "2025-11-27T09:30:00Z"


async def test_sdk_binary_mode_carries_every_attribute_and_the_confidence_extension(
    client: Client,
) -> None:
    data = {"name": "Hungary", "kind": "state", "role": "EU member; sceptic of the plan"}
    e = event("binär 1", "party.registered", "party/hungary", data, confidence="reported")
    message = to_binary_event(e)
    assert message.headers["ce-id"] == "bin%C3%A4r%201"  # percent-encoded by the SDK
    assert message.headers["ce-confidence"] == "reported"

    r = await send(client, message)
    assert r.status_code == 201, r.text
    stored = r.json()
    assert stored["id"] == "binär 1" and stored["confidence"] == "reported"
    assert (stored["type"], stored["subject"], stored["data"]) == (
        "party.registered",
        "party/hungary",
        data,
    )
    assert r.headers["location"] == "/v1/events/bin%C3%A4r%201"

    again = await send(client, message)  # the same event again: stored once
    assert again.status_code == 200 and again.json() == stored
    as_structured = await send(client, to_structured_event(e))  # idempotent across modes
    assert as_structured.status_code == 200 and as_structured.json() == stored
    log = (await client.get("/v1/events")).json()["events"]
    assert [x["id"] for x in log] == ["binär 1"]


async def test_binary_mode_takes_a_reduced_precision_date_and_quoted_values(
    client: Client,
) -> None:
    # The SDK's `time` is a datetime; a day or a month goes in the header as text.
    message = to_binary_event(event("sdk-b2", "x-note", "issue/donbas", {"text": "a note"}))
    headers = {**message.headers, "ce-time": "2025-11%3F", "ce-source": '"urn:annals:q"'}
    r = await client.post("/v1/events", headers=headers, content=message.body)
    assert r.status_code == 201, r.text
    stored = r.json()
    assert (stored["timegiven"], stored["timeprecision"], stored["timequalifier"]) == (
        "2025-11?",
        "month",
        "uncertain",
    )
    assert stored["source"] == "urn:annals:q"  # the quotes of a quoted value removed


async def test_binary_mode_without_data_for_a_custom_type(client: Client) -> None:
    r = await client.post(
        "/v1/events",
        headers={"ce-specversion": "1.0", "ce-type": "x-ping", "ce-time": "2025-11-27"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["data"] is None


async def test_sdk_batch_mode_appends_all_in_order(client: Client) -> None:
    fmt = JSONFormat()
    events = [
        event("sdk-c1", "party.registered", "party/qatar", {"name": "Qatar", "kind": "state"}),
        event("sdk-c2", "position.stated", "party/qatar", {"on": "issue/donbas",
              "stance": "neutral"}, confidence="unconfirmed"),
    ]  # fmt: skip
    body = b"[" + b",".join(fmt.write(e) for e in events) + b"]"
    r = await client.post(
        "/v1/events", content=body, headers={"content-type": "application/cloudevents-batch+json"}
    )
    assert r.status_code == 201, r.text
    assert [(x["id"], x["sequence"], x["confidence"]) for x in r.json()] == [
        ("sdk-c1", 1, "confirmed"),
        ("sdk-c2", 2, "unconfirmed"),
    ]


async def test_binary_mode_errors_name_the_header(client: Client) -> None:
    base = {"ce-specversion": "1.0", "ce-type": "party.registered", "ce-subject": "party/x",
            "ce-time": "2025-11-27", "content-type": "application/json"}  # fmt: skip
    body = json.dumps({"name": "X", "kind": "state"}).encode()

    async def post(headers: dict[str, str], content: bytes = body) -> httpx.Response:
        return await client.post("/v1/events", headers=headers, content=content)

    r = await post({**base, "ce-time": "27 November", "ce-confidense": "reported"})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert paths(r) == ["ce-confidense"]  # headers first: an unknown one stops there
    r = await post({**base, "ce-time": "27 November", "ce-confidence": "sure"})
    assert r.status_code == 422 and sorted(paths(r)) == ["ce-confidence", "ce-time"]
    r = await post({k: v for k, v in base.items() if k != "ce-type"})
    assert r.status_code == 422 and paths(r) == ["ce-type"]
    r = await post({**base, "ce-subject": "plan/x"})
    assert r.status_code == 422 and paths(r) == ["ce-subject"]
    r = await post(base, json.dumps({"name": "X", "kind": "empire"}).encode())
    assert r.status_code == 422 and paths(r) == ["$.kind"]  # the body is the data
    r = await post(base, b"")
    assert r.status_code == 422 and paths(r) == ["$"]
    r = await post({**base, "ce-id": "%C0%A0"})  # overlong UTF-8: the binding says refuse
    assert r.status_code == 422 and paths(r) == ["ce-id"]
    r = await post({**base, "ce-id": "a%00b"})
    assert r.status_code == 422 and paths(r) == ["ce-id"]
    r = await post({**base, "ce-datacontenttype": "application/json"})
    assert r.status_code == 422 and paths(r) == ["ce-datacontenttype"]
    r = await post({**base, "content-type": "text/plain"})
    assert r.status_code == 415
    r = await post(base, b"{not json")
    assert r.status_code == 400
    assert (await client.get("/v1/events")).json()["events"] == []


async def test_binary_mode_errors_found_on_append_name_the_header(client: Client) -> None:
    base = {"ce-specversion": "1.0", "ce-time": "2025-11-27", "content-type": "application/json"}
    registered = {**base, "ce-id": "dup", "ce-type": "party.registered", "ce-subject": "party/x"}
    r = await client.post("/v1/events", headers=registered, content=b'{"name":"X","kind":"state"}')
    assert r.status_code == 201
    r = await client.post("/v1/events", headers=registered, content=b'{"name":"Y","kind":"state"}')
    assert r.status_code == 409 and paths(r) == ["ce-id"]
    retraction = {**base, "ce-type": "event.retracted", "ce-subject": "party/x"}
    r = await client.post(
        "/v1/events", headers=retraction, content=b'{"event":"nope","reason":"test"}'
    )
    assert r.status_code == 422 and paths(r) == ["$.event"]
    r = await client.post(
        "/v1/events",
        headers={**retraction, "ce-subject": "party/y"},
        content=b'{"event":"dup","reason":"test"}',
    )
    assert r.status_code == 422 and paths(r) == ["ce-subject"]


async def test_binary_mode_event_past_1_mib_is_413_like_structured_mode(
    client: Client, services: Services
) -> None:
    # The body fits the 1 MiB body limit; the long ce-source takes the event past 1 MiB.
    body = json.dumps({"text": "a" * (MAX_EVENT_BYTES - 100)}).encode()
    assert len(body) < services.settings.max_body_bytes
    headers = {
        "ce-specversion": "1.0",
        "ce-type": "x-note",
        "ce-time": "2025-11-27",
        "ce-source": "urn:annals:" + "s" * 1000,
        "content-type": "application/json",
    }
    r = await client.post("/v1/events", headers=headers, content=body)
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:annals:problem:too-large" and paths(r) == ["$"]
    assert (await client.get("/v1/events")).json()["events"] == []


async def test_sdk_reads_the_ndjson_export_back_with_every_extension(example: Client) -> None:
    r = await example.get("/v1/export/events.ndjson")
    lines = r.content.splitlines()
    fmt = JSONFormat()
    read = [fmt.read(CloudEvent, line) for line in lines]
    assert len(read) == EXAMPLE_EVENTS
    for line, e in zip(lines, read, strict=True):
        given = json.loads(line)
        attributes = e.get_attributes()
        assert (e.get_id(), e.get_source(), e.get_type(), e.get_subject()) == (
            given["id"],
            given["source"],
            given["type"],
            given["subject"],
        )
        assert e.get_time() == datetime.fromisoformat(given["time"])
        assert e.get_data() == given["data"]
        for extension in ("sequence", "confidence", "timeprecision", "timequalifier",
                          "timegiven", "recordedtime", "hash", "predecessorhash"):  # fmt: skip
            assert attributes[extension] == given[extension]
    assert [e.get_extension("sequence") for e in read] == list(range(1, EXAMPLE_EVENTS + 1))
