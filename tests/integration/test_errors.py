"""Errors and limits (SPEC §6) through the real app: every bad input is a 4xx problem.

No input, however bad, gets a 500, and a rejected request leaves the log as it was.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
import msgspec
import pytest

from events.vocabulary import MAX_LIST, MAX_TEXT, VOCABULARY
from events.writer import Writer
from service.app import create_app
from service.database import create_pool
from service.settings import Settings
from service.wiring import Services
from tests.pg import fresh_name, with_database

Client = httpx.AsyncClient
JSON = "application/json"


def asgi_client(svc: Services) -> Client:
    """The real app on these services, over ASGI in the test's own event loop."""
    transport = httpx.ASGITransport(app=cast(Any, create_app(svc=svc)))
    return httpx.AsyncClient(transport=transport, base_url="http://annals.test")


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


def note(data: Any, **over: Any) -> dict[str, Any]:
    """A custom x- event carrying any JSON data."""
    return {"type": "x-note", "time": "2025-11-27", "data": data, **over}


async def post_raw(api: Client, body: bytes, content_type: str | None = JSON) -> httpx.Response:
    headers = {} if content_type is None else {"content-type": content_type}
    return await api.post("/v1/events", content=body, headers=headers)


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 problem with this status; return its body."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body[member], str) and body[member], body
    return body


def paths(r: httpx.Response, status: int = 422) -> list[str]:
    """The paths a validation problem names (every entry has a path and a message)."""
    errors = problem(r, status)["errors"]
    assert errors and all(isinstance(e["message"], str) and e["message"] for e in errors)
    return [str(e["path"]) for e in errors]


async def head(api: Client) -> int:
    """The sequence of the newest event in the log."""
    r = await api.get("/v1/events", params={"limit": 1})
    assert r.status_code == 200, r.text
    last: int = r.json()["last_sequence"]
    return last


@pytest.fixture(scope="module")
async def shared(
    pg_admin_url: str, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Services]:
    """One database and service for this module: rejected requests change nothing, so
    they can share it (a fresh database per test would cost most of the run)."""
    name = fresh_name()
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
    finally:
        await admin.close()
    url = with_database(pg_admin_url, name)
    data_dir = tmp_path_factory.mktemp("errors")
    settings = Settings.from_env(database_url=url, data_dir=data_dir, db_timeout=5.0)
    pool = await create_pool(url, min_size=1, max_size=10)
    writer = Writer(pool)
    writer.start()
    try:
        yield Services(settings, pool, writer)
    finally:
        await writer.stop()
        await pool.close()
        admin = await asyncpg.connect(pg_admin_url)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await admin.close()


@pytest.fixture(scope="module")
async def api(shared: Services) -> AsyncIterator[Client]:
    """The real app over the module's database, with one event in its log (id `seed`)."""
    async with asgi_client(shared) as c:
        r = await c.post("/v1/events", json=ev(1, id="seed"))
        assert r.status_code == 201, r.text
        yield c


@pytest.fixture
async def before(api: Client) -> int:
    """The head of the log when the test starts: a rejected request must leave it so."""
    return await head(api)


# --- malformed bodies: 400 ---------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"{", b'{"type": }', b"nope", b'{"type": "x-a",}', b"[1, 2", b"{'type': 'x-a'}", b"\x00"],
    ids=[
        "open-brace",
        "missing-value",
        "bare-word",
        "trailing-comma",
        "open-array",
        "quotes",
        "nul-byte",
    ],
)
async def test_malformed_json_is_400(api: Client, before: int, body: bytes) -> None:
    body_ = problem(await post_raw(api, body), 400)
    assert "JSON" in body_["detail"]
    assert await head(api) == before


@pytest.mark.parametrize(
    "body",
    [
        b'{"type": "x-a", "time": "2025", "data": "\xff"}',
        b'{"type": "x-a", "time": "2025", "data": "\xc3\x28"}',  # bad continuation byte
        b'{"type": "x-a", "time": "2025", "data": "\xed\xa0\x80"}',  # an encoded surrogate
        b'{"type": "x-a", "time": "2025", "\xfe": 1}',
    ],
)
async def test_invalid_utf8_is_400(api: Client, before: int, body: bytes) -> None:
    problem(await post_raw(api, body), 400)
    assert await head(api) == before


@pytest.mark.parametrize("body", [b"", b"   \n\t "])
async def test_empty_body_is_400(api: Client, before: int, body: bytes) -> None:
    problem(await post_raw(api, body), 400)
    assert await head(api) == before


# --- nesting and size ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b"[" * 100_000,
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        b'{"type": "x-a", "time": "2025", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=["arrays", "unclosed", "objects", "in-data"],
)
async def test_100_000_deep_nesting_is_a_4xx_not_a_500(
    api: Client, before: int, body: bytes
) -> None:
    r = await post_raw(api, body)
    assert 400 <= r.status_code < 500, r.text
    problem(r, r.status_code)
    assert await head(api) == before


async def test_40_deep_data_of_a_custom_event_is_422_naming_where(api: Client, before: int) -> None:
    data: Any = "leaf"
    for _ in range(40):
        data = {"a": [data]}
    [path] = paths(await api.post("/v1/events", json=note(data)))
    assert path.startswith("$.data.a[0].a[0]")
    assert await head(api) == before


async def test_a_2_mib_body_is_413(api: Client, before: int) -> None:
    body = msgspec.json.encode(note("x" * (2 * 1024 * 1024)))
    problem(await post_raw(api, body), 413)
    assert await head(api) == before


async def test_a_2_mib_body_sent_in_chunks_without_a_length_is_413(
    api: Client, before: int
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"type": "x-a", "time": "2025", "data": "'
        for _ in range(32):
            yield b"x" * 65_536
        yield b'"}'

    r = await api.post("/v1/events", content=chunks(), headers={"content-type": JSON})
    problem(r, 413)
    assert await head(api) == before


async def test_a_batch_of_10_001_events_is_413(api: Client, before: int) -> None:
    tiny = b'{"type":"x-a","time":"2025"}'
    body = b"[" + b",".join([tiny] * 10_001) + b"]"
    assert len(body) < 1024 * 1024  # the batch limit answers, not the body limit
    body_ = problem(await post_raw(api, body), 413)
    assert "10000" in body_["detail"].replace(",", "")
    body = b'{"events": [' + b",".join([tiny] * 10_001) + b"]}"
    problem(await post_raw(api, body), 413)
    assert await head(api) == before


async def test_a_batch_of_10_000_events_is_accepted(client: Client) -> None:
    tiny = b'{"type":"x-a","time":"2025"}'
    r = await post_raw(client, b"[" + b",".join([tiny] * 10_000) + b"]")
    assert r.status_code == 201, r.text[:500]
    assert r.json()[-1]["sequence"] == 10_000


async def test_a_larger_configured_body_limit_is_honoured(shared: Services) -> None:
    settings = msgspec.structs.replace(shared.settings, max_body_bytes=3 * 1024 * 1024)
    async with asgi_client(Services(settings, shared.pool, shared.writer)) as c:
        # A larger body takes more events; one event stays at most 1 MiB (SPEC §6).
        batch = [note("x" * (700 * 1024)) for _ in range(3)]
        big = await c.post("/v1/events", json=batch)
        assert big.status_code == 201, big.text[:300]
        r = await post_raw(c, msgspec.json.encode(note("x" * (4 * 1024 * 1024))))
        problem(r, 413)


# --- media types: 415 --------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/xml",
        None,
        "",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
        "application/jsonx",
    ],
)
async def test_wrong_content_type_is_415(
    api: Client, before: int, content_type: str | None
) -> None:
    r = await post_raw(api, msgspec.json.encode(ev(2)), content_type)
    body = problem(r, 415)
    assert "application/json" in body["detail"]
    assert await head(api) == before


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=latin-1",
        "application/json; charset=utf-16",
        'application/cloudevents+json; charset="iso-8859-1"',
        "application/json; version=1; charset=windows-1252",
    ],
)
async def test_non_utf8_charset_is_415(api: Client, before: int, content_type: str) -> None:
    problem(await post_raw(api, msgspec.json.encode(ev(2)), content_type), 415)
    assert await head(api) == before


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=UTF-8", 'Application/JSON; charset="utf-8"', "application/json;"],
)
async def test_utf8_charset_and_any_case_are_accepted(api: Client, content_type: str) -> None:
    r = await post_raw(api, msgspec.json.encode(ev(2)), content_type)
    assert r.status_code == 201, r.text


# --- NUL characters and lone surrogates: 422 naming the path ------------------------------


NUL_CASES: list[tuple[dict[str, Any], str]] = [
    (ev(1, id="a\x00b"), "$.id"),
    (ev(1, source="urn:\x00"), "$.source"),
    (ev(1, subject="party/p\x00"), "$.subject"),
    (ev(1, time="2025-11-27\x00"), "$.time"),
    (ev(1, type="x-\x00"), "$.type"),
    (ev(1, data={"name": "A\x00", "kind": "state"}), "$.data.name"),
    (note({"k": "\x00"}), "$.data.k"),
    (note({"\x00": 1}), '$.data["\\u0000"]'),
    (note({"ok": {"bad\x00key": 1}}), '$.data.ok["bad\\u0000key"]'),
    (note([["fine", ["\x00"]]]), "$.data[0][1][0]"),
    ({**note(1), "\x00": 1}, '$["\\u0000"]'),
]


@pytest.mark.parametrize(("event", "path"), NUL_CASES, ids=[p for _, p in NUL_CASES])
async def test_nul_anywhere_is_422_naming_the_path(
    api: Client, before: int, event: dict[str, Any], path: str
) -> None:
    r = await api.post("/v1/events", json=event)
    assert paths(r) == [path]
    assert "NUL" in r.json()["errors"][0]["message"]
    assert await head(api) == before


async def test_nul_in_a_data_key_is_422_naming_the_key(api: Client, before: int) -> None:
    r = await post_raw(api, b'{"type":"x-a","time":"2025","data":{"k\\u0000ey":1}}')
    assert paths(r) == ['$.data["k\\u0000ey"]']
    assert "key" in r.json()["errors"][0]["message"]
    assert await head(api) == before


async def test_nul_in_a_batch_names_the_event_and_the_field(api: Client, before: int) -> None:
    r = await api.post("/v1/events", json=[ev(2), ev(3, id="a\x00")])
    assert paths(r) == ["$[1].id"]
    r = await api.post("/v1/events", json={"events": [ev(2), note(["\x00"])]})
    assert paths(r) == ["$.events[1].data[0]"]
    assert await head(api) == before


@pytest.mark.parametrize(
    "body",
    [
        b'{"type":"x-a","time":"2025","data":"\\ud800"}',
        b'{"type":"x-a","time":"2025","data":"\\udc00 trailing"}',
        b'{"type":"x-a","time":"2025","data":{"\\ud800":1}}',
        b'{"type":"x-a","time":"2025","\\ud800":1}',
        b'{"type":"x-\\ud800","time":"2025"}',
        b'{"type":"party.registered","subject":"party/\\ud800","time":"2025","data":{}}',
        b'{"type":"x-a","time":"2025\\ud800"}',
        b'{"events":[{"type":"x-a","time":"2025"}],'
        b'"preconditions":[{"subject":"party/\\ud800","last_sequence":null}]}',
    ],
)
async def test_a_lone_surrogate_is_a_4xx_not_a_500(api: Client, before: int, body: bytes) -> None:
    r = await post_raw(api, body)
    assert r.status_code in (400, 422), r.text
    problem(r, r.status_code)
    assert await head(api) == before


async def test_a_paired_surrogate_escape_is_one_character_and_accepted(api: Client) -> None:
    r = await post_raw(api, b'{"type":"x-a","time":"2025","data":"\\ud83d\\udd4a"}')
    assert r.status_code == 201, r.text
    assert r.json()["data"] == "\U0001f54a"


# --- the envelope: 422 naming the attribute -----------------------------------------------


WRONG: list[tuple[str, Any]] = [
    ("specversion", 1.0),
    ("specversion", "0.3"),
    ("specversion", "1.1"),
    ("id", 42),
    ("id", ""),
    ("id", None),
    ("id", "x" * 300),
    ("id", "line\nbreak"),
    ("source", ["urn:a"]),
    ("source", ""),
    ("source", "tab\there"),
    ("type", 7),
    ("type", None),
    ("type", {"name": "party.registered"}),
    ("subject", 1),
    ("subject", {"party": "x"}),
    ("time", 2025),
    ("time", None),
    ("time", ["2025"]),
    ("confidence", "maybe"),
    ("confidence", 1),
    ("confidence", None),
    ("datacontenttype", "application/xml"),
    ("data", "a string"),
    ("data", None),
    ("data", [1]),
]


@pytest.mark.parametrize(("name", "value"), WRONG, ids=[f"{n}={v!r}"[:40] for n, v in WRONG])
async def test_ill_typed_attribute_is_422_naming_it(
    api: Client, before: int, name: str, value: Any
) -> None:
    r = await api.post("/v1/events", json=ev(2, **{name: value}))
    assert f"$.{name}" in paths(r)
    assert await head(api) == before


async def test_every_bad_attribute_is_named_in_one_answer(api: Client) -> None:
    bad = {"specversion": "0.3", "id": 1, "source": 2, "type": 3, "subject": 4, "time": 5,
           "confidence": "maybe", "colour": "red"}  # fmt: skip
    assert sorted(paths(await api.post("/v1/events", json=bad))) == sorted(f"$.{n}" for n in bad)


@pytest.mark.parametrize("missing", ["type", "time", "subject", "data"])
async def test_missing_required_attribute_is_422_naming_it(
    api: Client, before: int, missing: str
) -> None:
    event = ev(2)
    del event[missing]
    assert paths(await api.post("/v1/events", json=event)) == [f"$.{missing}"]
    assert await head(api) == before


async def test_specversion_0_3_is_422(api: Client) -> None:
    r = await api.post("/v1/events", json=ev(2, specversion="0.3"))
    assert paths(r) == ["$.specversion"]


async def test_confidence_maybe_is_422(api: Client) -> None:
    r = await api.post("/v1/events", json=ev(2, confidence="maybe"))
    assert paths(r) == ["$.confidence"]


async def test_subject_of_the_wrong_kind_is_422(api: Client) -> None:
    r = await api.post("/v1/events", json=ev(2, subject="plan/p2"))
    assert paths(r) == ["$.subject"]
    assert "party" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    "subject",
    ["party/Ukraine", "party/" + "a" * 65, "party/", "", "party/-x", "party/a b", "ukraine"],
    ids=["uppercase", "too-long", "empty-slug", "empty", "leading-dash", "space", "no-kind"],
)
async def test_bad_slug_is_422(api: Client, before: int, subject: str) -> None:
    assert paths(await api.post("/v1/events", json=ev(2, subject=subject))) == ["$.subject"]
    assert await head(api) == before


async def test_bad_reference_inside_data_is_422_naming_it(api: Client) -> None:
    plan = {"type": "plan.proposed", "subject": "plan/x", "time": "2025",
            "data": {"title": "X", "sponsor": "party/US"}}  # fmt: skip
    assert paths(await api.post("/v1/events", json=plan)) == ["$.data.sponsor"]


async def test_unknown_type_is_422_listing_the_allowed_types(api: Client) -> None:
    r = await api.post("/v1/events", json=ev(2, type="party.invented"))
    [err] = r.json()["errors"]
    assert paths(r) == ["$.type"]
    for allowed in (*VOCABULARY, "x-"):
        assert allowed in err["message"]


async def test_unknown_attribute_is_422_naming_it(api: Client) -> None:
    r = await api.post("/v1/events", json=ev(2, colour="red"))
    assert paths(r) == ["$.colour"]


@pytest.mark.parametrize("body", [b'"an event"', b"42", b"null", b"true"])
async def test_a_body_that_is_not_an_event_is_422(api: Client, body: bytes) -> None:
    assert paths(await post_raw(api, body)) == ["$"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b"[]", "$"),
        (b'{"events": []}', "$.events"),
        (b'{"events": "x"}', "$.events"),
        (b'{"events": [], "extra": 1}', "$.extra"),
        (b'[{"type":"x-a","time":"2025"}, 5]', "$[1]"),
        (b'{"events":[{"type":"x-a","time":"2025"}],"preconditions":5}', "$.preconditions"),
        (
            b'{"events":[{"type":"x-a","time":"2025"}],"preconditions":[{"subject":"x"}]}',
            "$.preconditions[0].last_sequence",
        ),
        (
            b'{"events":[{"type":"x-a","time":"2025"}],'
            b'"preconditions":[{"subject":"Party/X","last_sequence":1}]}',
            "$.preconditions[0].subject",
        ),
        (
            b'{"events":[{"type":"x-a","time":"2025"}],'
            b'"preconditions":[{"subject":"party/x","last_sequence":1000000000000000000000}]}',
            "$.preconditions[0].last_sequence",
        ),
        (
            b'{"events":[{"type":"x-a","time":"2025"}],'
            b'"preconditions":[{"subject":"party/x\\u0000","last_sequence":1}]}',
            "$.preconditions[0].subject",
        ),
    ],
)
async def test_bad_batch_forms_are_422_naming_where(
    api: Client, before: int, body: bytes, path: str
) -> None:
    assert path in paths(await post_raw(api, body))
    assert await head(api) == before


async def test_an_object_posted_as_a_cloudevents_batch_is_422(api: Client) -> None:
    r = await post_raw(api, msgspec.json.encode(ev(2)), "application/cloudevents-batch+json")
    assert paths(r) == ["$"]


async def test_a_body_with_thousands_of_bad_fields_names_at_most_100(
    api: Client, before: int
) -> None:
    event = {**note(1), **{f"k{i}": i for i in range(5_000)}}
    assert len(paths(await api.post("/v1/events", json=event))) == 100
    batch = [ev(2, time="soon")] * 500
    assert len(paths(await api.post("/v1/events", json=batch))) == 100
    assert await head(api) == before


# --- time ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time", "start", "precision", "qualifier"),
    [
        ("2025-11-27T14:00:00Z", "2025-11-27T14:00:00Z", "instant", None),
        ("2025-11-27T14:00:00+02:00", "2025-11-27T12:00:00Z", "instant", None),
        ("2025-11-27T14:00:00.25-01:00", "2025-11-27T15:00:00.250000Z", "instant", None),
        ("2025", "2025-01-01T00:00:00Z", "year", None),
        ("2025~", "2025-01-01T00:00:00Z", "year", "approximate"),
        ("2025?", "2025-01-01T00:00:00Z", "year", "uncertain"),
        ("2025-11", "2025-11-01T00:00:00Z", "month", None),
        ("2025-11~", "2025-11-01T00:00:00Z", "month", "approximate"),
        ("2025-11?", "2025-11-01T00:00:00Z", "month", "uncertain"),
        ("2025-11-27", "2025-11-27T00:00:00Z", "day", None),
        ("2025-11-27~", "2025-11-27T00:00:00Z", "day", "approximate"),
        ("2025-11-27?", "2025-11-27T00:00:00Z", "day", "uncertain"),
    ],
)
async def test_each_accepted_time_form_is_stored_with_its_start_and_precision(
    api: Client, time: str, start: str, precision: str, qualifier: str | None
) -> None:
    r = await api.post("/v1/events", json=ev(1, time=time))
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["time"], got["timeprecision"], got["timequalifier"], got["timegiven"]) == (
        start,
        precision,
        qualifier,
        time,
    )


@pytest.mark.parametrize(
    "time",
    [
        "2025-11-27T14:00:00",
        "2025-02-30",
        "2025-13",
        "2025-11-27%",
        "",
        "yesterday",
        "0000",
        "25-11-27",
        "2025-11-27T14:00:00Zjunk",
        "2016-12-31T23:59:60Z",
        "2025-21",
        "2025-11-27\n",
        "9999-12-31T23:59:59-01:00",
    ],
)
async def test_rejected_time_forms_are_422_naming_time(api: Client, before: int, time: str) -> None:
    [err] = (await api.post("/v1/events", json=ev(2, time=time))).json()["errors"]
    assert err["path"] == "$.time"
    assert "RFC 3339" in err["message"]
    assert await head(api) == before


@pytest.mark.parametrize("at", ["9999", "9999-12", "9999-12-31", "0001"])
async def test_query_dates_at_the_ends_of_the_calendar_answer(api: Client, at: str) -> None:
    r = await api.get("/v1/state", params={"at": at})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("at", ["2025-21", "soon", "2025-02-30", "9999-12-31T23:59:59-01:00"])
async def test_bad_query_dates_are_4xx_naming_the_parameter(api: Client, at: str) -> None:
    r = await api.get("/v1/state", params={"at": at})
    assert 400 <= r.status_code < 500, r.text
    assert [e["path"] for e in problem(r, r.status_code)["errors"]] == ["at"]


@pytest.mark.parametrize(
    ("route", "params"),
    [
        ("/v1/state", {}),
        ("/v1/diff", {"from": "2025", "to": "2026"}),
        ("/v1/timeline", {}),
        ("/v1/parties/x", {}),
    ],
)
async def test_a_bad_known_at_is_a_bad_parameter_not_an_invalid_event(
    api: Client, route: str, params: dict[str, str]
) -> None:
    r = await api.get(route, params={**params, "known_at": "soon"})
    body = problem(r, 422)
    assert body["type"].endswith("bad-parameter"), body
    assert [e["path"] for e in body["errors"]] == ["known_at"]


@pytest.mark.parametrize("bad", ["from", "to"])
async def test_a_bad_diff_end_is_named_as_itself(api: Client, bad: str) -> None:
    params = {"from": "2025-11-01", "to": "2025-12-01", bad: "soon"}
    r = await api.get("/v1/diff", params=params)
    assert [e["path"] for e in problem(r, 422)["errors"]] == [bad]


@pytest.mark.parametrize(
    ("route", "params", "named"),
    [
        ("/v1/diff", {"to": "2025-12-01"}, "from"),
        ("/v1/diff", {"from": "2025-11-01"}, "to"),
        ("/v1/verify", {"sequence": "5", "hash": "zz"}, "hash"),
        ("/v1/state", {"limit": "0"}, "limit"),
        ("/v1/events", {"after": "-1"}, "after"),
    ],
)
async def test_a_parameter_the_framework_refuses_is_400_naming_it_as_sent(
    api: Client, route: str, params: dict[str, str], named: str
) -> None:
    """Missing, or refused by a type check, a query parameter is named by its name on the
    wire (`from`, `hash`), not by the handler's argument (`from_`, `hash_`)."""
    r = await api.get(route, params=params)
    assert [e["path"] for e in problem(r, 400)["errors"]] == [named], r.text


# --- limits inside data ----------------------------------------------------------------------


async def test_a_string_past_its_limit_is_422_naming_it(api: Client, before: int) -> None:
    data = {"title": "X", "sponsor": "party/us", "summary": "s" * (MAX_TEXT + 1)}
    plan = {"type": "plan.proposed", "subject": "plan/x", "time": "2025", "data": data}
    assert paths(await api.post("/v1/events", json=plan)) == ["$.data.summary"]
    assert await head(api) == before


async def test_a_list_past_its_limit_is_422_naming_it(api: Client, before: int) -> None:
    meeting = {"type": "meeting.scheduled", "subject": "meeting/m", "time": "2025",
               "data": {"title": "Talks", "starts": "2025-12",
                        "participants": ["party/a"] * (MAX_LIST + 1)}}  # fmt: skip
    assert paths(await api.post("/v1/events", json=meeting)) == ["$.data.participants"]
    assert await head(api) == before


# --- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "literal",
    [
        b"1000000000000000000000000000000",
        b"-1000000000000000000000000000000",
        b"18446744073709551616",
        b"1.5e308",
        b"0.1",
        b"-0.0",
        b"1e-7",
        b"5e-324",
        b"1E2",
    ],
)
async def test_numbers_in_custom_data_are_stored_and_read_back_exactly(
    api: Client, literal: bytes
) -> None:
    id_ = f"n-{uuid.uuid4()}"
    body = (
        b'{"type":"x-n","id":"' + id_.encode() + b'","time":"2025","data":{"v":' + literal + b"}}"
    )
    r = await post_raw(api, body)
    assert r.status_code == 201, r.text
    posted = r.json()["data"]["v"]
    expected = msgspec.json.decode(literal)
    assert posted == expected and type(posted) is type(expected)
    back = (await api.get(f"/v1/events/{id_}")).json()["data"]["v"]
    assert back == expected and type(back) is type(expected)
    assert (await api.get("/v1/verify")).json()["ok"] is True


@pytest.mark.parametrize("literal", [b"1e400", b"-1e400", b"1" + b"0" * 5000])
async def test_numbers_too_large_to_hold_are_422(api: Client, before: int, literal: bytes) -> None:
    r = await post_raw(api, b'{"type":"x-n","time":"2025","data":{"v":' + literal + b"}}")
    paths(r)
    assert await head(api) == before


# --- retractions and corrections --------------------------------------------------------------


def retract(target: str, **over: Any) -> dict[str, Any]:
    return {"type": "event.retracted", "time": "2025-11-28",
            "data": {"event": target, "reason": "wrong"}, **over}  # fmt: skip


async def test_retraction_of_an_unknown_event_is_422_naming_data_event(
    api: Client, before: int
) -> None:
    r = await api.post("/v1/events", json=retract("nobody"))
    assert paths(r) == ["$.data.event"]
    assert "nobody" in r.json()["errors"][0]["message"]
    assert await head(api) == before


async def test_retraction_of_an_unknown_event_in_a_batch_names_its_index(
    api: Client, before: int
) -> None:
    r = await api.post("/v1/events", json=[ev(2), retract("nobody")])
    assert paths(r) == ["$[1].data.event"]
    r = await api.post("/v1/events", json={"events": [ev(2), retract("nobody")]})
    assert paths(r) == ["$.events[1].data.event"]
    assert await head(api) == before


async def test_retraction_with_another_subject_than_its_target_is_422(
    api: Client, before: int
) -> None:
    r = await api.post("/v1/events", json=retract("seed", subject="party/other"))
    assert paths(r) == ["$.subject"]
    assert await head(api) == before


async def test_retraction_of_a_retraction_is_422(api: Client, before: int) -> None:
    r = await api.post("/v1/events", json=retract("seed", id="r1"))
    assert r.status_code == 201, r.text
    assert paths(await api.post("/v1/events", json=retract("r1"))) == ["$.data.event"]
    assert await head(api) == before + 1


async def test_correction_whose_data_does_not_fit_the_target_type_is_422(
    api: Client, before: int
) -> None:
    correction: dict[str, Any] = {"type": "event.corrected", "time": "2025-11-28",
                  "data": {"event": "seed", "data": {"name": "P", "kind": "galaxy"}}}  # fmt: skip
    assert paths(await api.post("/v1/events", json=correction)) == ["$.data.data.kind"]
    correction["data"]["data"] = {"name": "P"}
    assert paths(await api.post("/v1/events", json=correction)) == ["$.data.data.kind"]
    batch = {"events": [correction]}
    assert paths(await api.post("/v1/events", json=batch)) == ["$.events[0].data.data.kind"]
    assert await head(api) == before


async def test_correction_whose_data_has_a_bad_date_is_422_naming_it(
    api: Client, before: int
) -> None:
    scheduled = {"title": "Talks", "starts": "2025-12", "participants": ["party/p1"]}
    meeting = {"type": "meeting.scheduled", "id": "talks", "subject": "meeting/talks",
               "time": "2025-11-27", "data": scheduled}  # fmt: skip
    r = await api.post("/v1/events", json=meeting)
    assert r.status_code == 201, r.text
    replacement: dict[str, Any] = {**scheduled, "starts": "next tuesday"}
    correction: dict[str, Any] = {"type": "event.corrected", "time": "2025-11-28",
                                  "data": {"event": "talks", "data": replacement}}  # fmt: skip
    assert paths(await api.post("/v1/events", json=correction)) == ["$.data.data.starts"]
    batch = {"events": [correction]}
    assert paths(await api.post("/v1/events", json=batch)) == ["$.events[0].data.data.starts"]
    replacement.update(starts="2025-12-02", sources=[{"outlet": "Wire", "published": "soon"}])
    assert paths(await api.post("/v1/events", json=[correction])) == [
        "$[0].data.data.sources[0].published"
    ]
    assert await head(api) == before + 1


async def test_the_same_event_twice_in_one_batch_is_stored_once(api: Client, before: int) -> None:
    r = await api.post("/v1/events", json=[ev(2, id="twice"), ev(2, id="twice")])
    assert r.status_code == 201, r.text
    assert [e["sequence"] for e in r.json()] == [before + 1] * 2
    assert await head(api) == before + 1


async def test_failed_precondition_names_it(api: Client, before: int) -> None:
    body = {"events": [note(1)], "preconditions": [
        {"subject": "party/unheard-of", "last_sequence": None},
        {"subject": "party/never-seen", "last_sequence": 7}]}  # fmt: skip
    assert paths(await api.post("/v1/events", json=body), 409) == [
        "$.preconditions[1].last_sequence"
    ]
    assert await head(api) == before


# --- other routes answer problems too ---------------------------------------------------------


async def test_unknown_route_is_a_404_problem(api: Client) -> None:
    problem(await api.get("/v1/nowhere"), 404)


async def test_unknown_event_is_a_404_problem(api: Client) -> None:
    problem(await api.get("/v1/events/nobody"), 404)


async def test_wrong_method_is_a_405_problem(api: Client) -> None:
    problem(await api.delete("/v1/events"), 405)


@pytest.mark.parametrize(
    "url",
    [
        "/v1/events?limit=many",
        "/v1/events?after=-1",
        "/v1/events?after=100000000000000000000000",
        "/v1/events/%00",
        "/v1/events/seed?source=%00",
        "/v1/events/%ED%A0%80",
        "/v1/parties/%00",
        "/v1/state?at=%00",
        "/v1/state?known_at=100000000000000000000000",
    ],
)
async def test_bad_path_or_query_values_are_4xx_problems(api: Client, url: str) -> None:
    r = await api.get(url)
    assert 400 <= r.status_code < 500, r.text
    problem(r, r.status_code)


# --- the database unreachable: 503 with Retry-After, quickly ----------------------------------


Request = Callable[[Client], Awaitable[httpx.Response]]
REQUESTS: list[tuple[str, Request]] = [
    ("GET /readyz", lambda c: c.get("/readyz")),
    ("GET /v1/events", lambda c: c.get("/v1/events")),
    ("GET /v1/events/x", lambda c: c.get("/v1/events/x")),
    ("GET /v1/state", lambda c: c.get("/v1/state")),
    ("POST /v1/events", lambda c: c.post("/v1/events", json=ev(9))),
    ("POST /v1/events batch", lambda c: c.post("/v1/events", json=[ev(9), ev(10)])),
]


async def assert_unavailable(c: Client) -> None:
    for name, request in REQUESTS:
        r = await asyncio.wait_for(request(c), timeout=10)
        body = problem(r, 503)
        assert int(r.headers["retry-after"]) > 0, name
        assert "nothing was stored" in body["detail"], name


@pytest.fixture
async def doomed_db(pg_admin_url: str, template_db: str) -> AsyncIterator[str]:
    """A database of its own, for a test to drop while the service uses it."""
    name = fresh_name()
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f"CREATE DATABASE {name} TEMPLATE {template_db}")
    finally:
        await admin.close()
    yield name
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


async def client_over(pool: Any, settings: Settings) -> tuple[Services, Client]:
    writer = Writer(pool)
    writer.start()
    svc = Services(settings, pool, writer)
    return svc, asgi_client(svc)


async def test_database_dropped_under_the_service_is_503_with_retry_after(
    pg_admin_url: str, doomed_db: str, tmp_path: Path
) -> None:
    url = with_database(pg_admin_url, doomed_db)
    settings = Settings.from_env(database_url=url, data_dir=tmp_path, db_timeout=2.0)
    pool = await create_pool(url, min_size=2, max_size=4, connect_timeout=2.0)
    svc, c = await client_over(pool, settings)
    try:
        acknowledged = await c.post("/v1/events", json=ev(1, id="kept"))
        assert acknowledged.status_code == 201
        admin = await asyncpg.connect(pg_admin_url)
        try:
            await admin.execute(f"DROP DATABASE {doomed_db} WITH (FORCE)")
        finally:
            await admin.close()
        await assert_unavailable(c)
    finally:
        await c.aclose()
        await svc.writer.stop()
        await asyncio.wait_for(pool.close(), timeout=10)


async def test_database_never_reachable_is_503_with_retry_after(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://annals@127.0.0.1:{port}/annals"
    settings = Settings.from_env(database_url=url, data_dir=tmp_path, db_timeout=2.0)
    pool = await asyncpg.create_pool(url, min_size=0, max_size=2, timeout=2.0)
    svc, c = await client_over(pool, settings)
    try:
        await assert_unavailable(c)
        assert (await c.get("/healthz")).status_code == 200
    finally:
        await c.aclose()
        await svc.writer.stop()
        await asyncio.wait_for(pool.close(), timeout=10)


async def test_database_that_accepts_but_never_answers_is_503_not_a_hang(tmp_path: Path) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # say nothing until the client gives up
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"postgresql://annals@127.0.0.1:{port}/annals"
    settings = Settings.from_env(database_url=url, data_dir=tmp_path, db_timeout=0.5)
    pool = await asyncpg.create_pool(url, min_size=0, max_size=2, timeout=0.5)
    svc, c = await client_over(pool, settings)
    try:
        await assert_unavailable(c)
    finally:
        await c.aclose()
        await svc.writer.stop()
        await asyncio.wait_for(pool.close(), timeout=10)
        server.close()
