"""The write path against a real PostgreSQL: what retractions and corrections concern, and
bulk import (`annals import`, POST /v1/import): streamed, idempotent, resumable."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
import msgspec

from events.writer import Writer
from service.app import create_app
from service.database import create_pool
from service.settings import Settings
from service.wiring import Services
from tests.conftest import EXAMPLE_EVENTS

Client = httpx.AsyncClient
PARTIES = ("a", "b", "c")


def party(slug: str, id_: str | None = None, **data: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "party.registered",
        "subject": f"party/{slug}",
        "time": "2025-01-01",
        "data": {"name": slug.upper(), "kind": "state", **data},
    }
    if id_:
        body["id"] = id_
    return body


def correction(id_: str, target: str, time: str = "2025-02-01", **data: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "type": "event.corrected",
        "time": time,
        "data": {"event": target, "data": {"name": "C", "kind": "state", **data}},
    }


def retraction(id_: str, target: str) -> dict[str, Any]:
    return {
        "id": id_,
        "type": "event.retracted",
        "time": "2025-03-01",
        "data": {"event": target, "reason": "wrong"},
    }


async def post(client: Client, body: dict[str, Any]) -> None:
    r = await client.post("/v1/events", json=body)
    assert r.status_code == 201, r.text


async def members(client: Client, slug: str) -> list[str]:
    r = await client.get(f"/v1/parties/{slug}")
    assert r.status_code == 200, r.text
    members: list[str] = r.json()["members"]
    return members


async def setup(client: Client) -> None:
    await post(client, party("a"))
    await post(client, party("b"))
    await post(client, party("c", "reg-c", member_of="party/a"))


async def test_a_later_retraction_reaches_a_subject_an_earlier_correction_added(
    client: Client,
) -> None:
    await setup(client)
    await post(client, correction("fix-1", "reg-c", member_of="party/b"))
    assert await members(client, "b") == ["party/c"]
    assert await members(client, "a") == []
    await post(client, retraction("gone-1", "reg-c"))
    assert await members(client, "b") == []
    assert await members(client, "a") == []


async def test_a_later_correction_reaches_a_subject_an_earlier_correction_added(
    client: Client,
) -> None:
    await setup(client)
    await post(client, correction("fix-1", "reg-c", member_of="party/b"))
    await post(client, correction("fix-2", "reg-c"))  # no longer a member of anything
    assert await members(client, "b") == []
    assert await members(client, "a") == []


async def test_a_correction_after_a_retraction_does_not_revive_the_target_for_a_new_subject(
    client: Client,
) -> None:
    await setup(client)
    await post(client, retraction("gone-1", "reg-c"))
    await post(client, correction("fix-1", "reg-c", member_of="party/b"))
    assert await members(client, "b") == []
    assert await members(client, "a") == []


async def test_corrections_in_one_batch_reach_each_others_subjects(client: Client) -> None:
    await setup(client)
    r = await client.post(
        "/v1/events",
        json=[correction("fix-1", "reg-c", member_of="party/b"), retraction("gone-1", "reg-c")],
    )
    assert r.status_code == 201, r.text
    assert await members(client, "b") == []


# --- bulk import --------------------------------------------------------------------

NDJSON = {"content-type": "application/x-ndjson"}


def feed(n: int, start: int = 0, pad: int = 0) -> bytes:
    """n NDJSON lines of a feed: parties, and positions referring to them."""
    out = []
    for i in range(start, start + n):
        if i % 2 == 0:
            ev = party(f"p{i}", f"feed-{i}")
        else:
            ev = {
                "id": f"feed-{i}",
                "type": "x-note",
                "subject": f"party/p{i - 1}",
                "time": "1999-05-01",  # backdated
                "data": {"text": "n" * pad, "about": f"party/p{i - 1}"},
            }
        ev["source"] = "urn:test:feed"
        out.append(msgspec.json.encode(ev))
    return b"\n".join(out) + b"\n"


async def log_ids(client: Client) -> list[str]:
    ids: list[str] = []
    after = 0
    while True:
        page = (await client.get("/v1/events", params={"after": after, "limit": 1000})).json()
        ids += [e["id"] for e in page["events"]]
        if page["next"] is None:
            return ids
        after = int(page["next"])


async def test_post_import_appends_then_a_repost_appends_nothing(client: Client) -> None:
    body = feed(50)
    r = await client.post("/v1/import", content=body, headers=NDJSON)
    assert r.status_code == 200, r.text
    assert r.json() == {"lines": 50, "appended": 50, "already": 0, "sequence": 50}
    again = await client.post("/v1/import", content=body, headers=NDJSON)
    assert again.json() == {"lines": 50, "appended": 0, "already": 50, "sequence": 50}
    assert await log_ids(client) == [f"feed-{i}" for i in range(50)]
    assert (await client.get("/v1/verify")).json()["ok"] is True


async def test_post_import_stops_at_a_bad_line_keeping_what_came_before(client: Client) -> None:
    lines = feed(2_500).splitlines(keepends=True)  # more than one batch before the bad line
    bad = dict(msgspec.json.decode(lines[2_200]), time="not a date")
    broken = b"".join([*lines[:2_200], msgspec.json.encode(bad) + b"\n", *lines[2_201:]])
    r = await client.post("/v1/import", content=broken, headers=NDJSON)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["errors"][0]["path"] == "line 2201.time"
    assert "line 2201" in problem["detail"]
    # Batches commit as they go: every line before the bad one stayed committed.
    assert problem["committed"] == {"lines": 2200, "appended": 2200, "already": 0, "sequence": 2200}
    assert len(await log_ids(client)) == 2200
    fixed = await client.post("/v1/import", content=b"".join(lines), headers=NDJSON)
    assert fixed.json() == {"lines": 2500, "appended": 300, "already": 2200, "sequence": 2500}
    assert await log_ids(client) == [f"feed-{i}" for i in range(2_500)]


async def test_post_import_names_a_malformed_line_and_a_conflicting_one(client: Client) -> None:
    r = await client.post("/v1/import", content=feed(3) + b"{nope\n", headers=NDJSON)
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == "line 4"
    assert r.json()["committed"]["appended"] == 3
    other = feed(1).replace(b'"name":"P0"', b'"name":"Other"')
    r = await client.post("/v1/import", content=other, headers=NDJSON)
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["path"] == "line 1.id"


async def test_post_import_needs_ndjson(client: Client) -> None:
    r = await client.post(
        "/v1/import", content=feed(2), headers={"content-type": "application/json"}
    )
    assert r.status_code == 415
    assert r.headers["content-type"].startswith("application/problem+json")
    assert await log_ids(client) == []


async def test_post_import_takes_a_body_larger_than_the_body_limit(client: Client) -> None:
    body = feed(400, pad=6_000)
    assert len(body) > 1024 * 1024  # the app's request_max_body_size
    r = await client.post("/v1/import", content=body, headers=NDJSON)
    assert r.status_code == 200, r.text
    assert r.json()["appended"] == 400
    # ...while POST /v1/events keeps its limit
    big = party("x") | {"data": {"name": "x", "kind": "state", "quote": "q" * 1_100_000}}
    assert (await client.post("/v1/events", json=big)).status_code == 413


async def test_an_export_restores_through_post_import_and_resumes_cheaply(
    example: Client, second_db: str, tmp_path: Path
) -> None:
    export = (await example.get("/v1/export/events.ndjson")).content
    lines = export.splitlines(keepends=True)
    settings = Settings.from_env(database_url=second_db, data_dir=tmp_path, db_timeout=5.0)
    pool = await create_pool(second_db, min_size=1, max_size=4)
    writer = Writer(pool)
    writer.start()
    try:
        svc = Services(settings, pool, writer)
        transport = httpx.ASGITransport(app=cast(Any, create_app(svc=svc)))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as target:
            half = await target.post("/v1/import", content=b"".join(lines[:20]), headers=NDJSON)
            assert half.json()["appended"] == 20
            full = await target.post("/v1/import", content=export, headers=NDJSON)
            n = EXAMPLE_EVENTS
            assert full.json() == {"lines": n, "appended": n - 20, "already": 20, "sequence": n}
            assert (await target.get("/v1/verify")).json()["ok"] is True
            restored = (await target.get("/v1/events", params={"limit": 100})).json()["events"]
    finally:
        await writer.stop()
        await pool.close()
    original = (await example.get("/v1/events", params={"limit": 100})).json()["events"]
    assert [e["hash"] for e in restored] == [e["hash"] for e in original]


async def test_a_changed_line_below_the_head_is_not_skipped(
    example: Client, services: Services
) -> None:
    lines = (await example.get("/v1/export/events.ndjson")).content.splitlines(keepends=True)
    changed = dict(msgspec.json.decode(lines[5]))
    changed["data"] = {**changed["data"], "name": "Tampered"}
    body = b"".join([*lines[:5], msgspec.json.encode(changed) + b"\n", *lines[6:]])
    r = await example.post("/v1/import", content=body, headers=NDJSON)
    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["path"] == "line 6.id"


def test_annals_import_killed_midway_resumes_without_duplicates(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "feed.ndjson"
    path.write_bytes(feed(30_000))
    env = {**os.environ, "ANNALS_DATABASE_URL": str(settings.database_url)}
    cmd = [sys.executable, "-m", "service.cli", "import", str(path)]

    async def count() -> int:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return int(await conn.fetchval("SELECT count(*) FROM events"))
        finally:
            await conn.close()

    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while asyncio.run(count()) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = asyncio.run(count())
    assert 0 < before < 30_000, "killed before the first or after the last batch"
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    # The batch in flight when the client died may still commit after `before` was counted:
    # PostgreSQL finishes a COMMIT it received. Every event is stored once either way.
    told = re.search(r"(\d+) appended, (\d+) already stored", rerun.stderr)
    assert told is not None, rerun.stderr
    appended, already = int(told[1]), int(told[2])
    assert appended + already == 30_000
    assert already >= before
    assert asyncio.run(count()) == 30_000
