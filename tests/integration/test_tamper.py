"""Tampering with the database behind the service's back, and what `verify` makes of it.

Each test appends six events through the API, then — as the database superuser, the one
who can switch the append-only triggers off — changes the stored log directly, and checks
that both `GET /v1/verify` and `annals verify` name the first sequence that no longer holds
(docs/SECURITY.md, "Tampering with the database"). Every test has its own fresh database,
so nothing is switched back on.

What the chain cannot see on its own is shown too: removing the newest events leaves a valid
(shorter) chain, and so does rewriting an event together with every hash after it. Both are
caught only by comparing with a head remembered outside the database (`head` of an earlier
verify, or the newest event's `hash`).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from events.chain import canonical, link

Client = httpx.AsyncClient
ANNALS = str(Path(sys.executable).parent / "annals")
EVENTS = 6


def party(n: int) -> dict[str, Any]:
    return {
        "type": "party.registered",
        "id": f"tamper-{n}",
        "subject": f"party/p{n}",
        "time": "2025-11-27",
        "data": {"name": f"Party {n}", "kind": "state"},
    }


@pytest.fixture
async def log(client: Client) -> dict[str, Any]:
    """Six events, one request each; the verify answer as it was before any tampering."""
    for n in range(1, EVENTS + 1):
        r = await client.post("/v1/events", json=party(n))
        assert r.status_code == 201, r.text
    v: dict[str, Any] = (await client.get("/v1/verify")).json()
    assert v == {"ok": True, "checked": EVENTS, "head": EVENTS, "first_broken": None}
    return v


Statement = str | tuple[Any, ...]  # SQL, or (SQL, parameters…)


async def behind_the_back(
    conn: asyncpg.Connection, *statements: Statement, replica: bool = False
) -> None:
    """Run `statements` as the superuser with the append-only triggers switched off.

    `replica` also silences the foreign key from event_concerns to events (PostgreSQL
    implements it with system triggers that do not fire in replica mode).
    """
    async with conn.transaction():
        await conn.execute("ALTER TABLE events DISABLE TRIGGER USER")
        await conn.execute("ALTER TABLE event_concerns DISABLE TRIGGER USER")
        if replica:
            await conn.execute("SET LOCAL session_replication_role = replica")
        for statement in statements:
            if isinstance(statement, str):
                await conn.execute(statement)
            else:
                await conn.execute(*statement)


async def verify_cli(db_url: str) -> tuple[int, str]:
    """`annals --database-url … verify`: exit code and stdout (whitespace collapsed)."""
    proc = await asyncio.create_subprocess_exec(
        ANNALS,
        "--database-url",
        db_url,
        "verify",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200"},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    assert not err.strip() or b"Traceback" not in err, err.decode()
    return proc.returncode, " ".join(out.decode().split())


async def assert_broken_at(client: Client, db_url: str, sequence: int, reason: str) -> None:
    """Both verifiers name `sequence` as the first broken one, for `reason`."""
    v = (await client.get("/v1/verify")).json()
    print(f"GET /v1/verify -> {v}")
    assert v == {
        "ok": False,
        "checked": sequence - 1,
        "head": sequence - 1,
        "first_broken": {"sequence": sequence, "reason": reason},
    }
    code, out = await verify_cli(db_url)
    print(f"annals verify -> exit {code}: {out}")
    assert code == 1
    assert out == (
        f"BROKEN at sequence {sequence}: {reason} ({sequence - 1} events before it are intact)"
    )


CONTENT = "hash does not match the event's content"
RELINKED = "predecessorhash does not match the previous event's hash"


async def test_the_triggers_refuse_the_same_change_while_they_are_on(
    log: dict[str, Any], conn: asyncpg.Connection
) -> None:
    with pytest.raises(asyncpg.PostgresError, match="append-only"):
        await conn.execute('UPDATE events SET data = \'{"name":"X"}\' WHERE sequence = 3')


async def test_changed_data_is_named(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    await behind_the_back(
        conn, """UPDATE events SET data = '{"name":"X","kind":"state"}' WHERE sequence = 3"""
    )
    assert (await client.get("/v1/events/tamper-3")).json()["data"]["name"] == "X"
    await assert_broken_at(client, db_url, 3, CONTENT)


async def test_changed_data_of_the_first_event_is_named(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    await behind_the_back(
        conn, """UPDATE events SET data = '{"name":"X","kind":"state"}' WHERE sequence = 1"""
    )
    await assert_broken_at(client, db_url, 1, CONTENT)


async def test_only_whitespace_changed_in_data_still_verifies(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection
) -> None:
    """The hash covers the canonical form of `data`, not its stored spelling: respacing or
    reordering keys is no change of content (and is not reported as one)."""
    await behind_the_back(
        conn,
        """UPDATE events SET data = '{ "kind": "state", "name": "Party 3" }' WHERE sequence = 3""",
    )
    assert (await client.get("/v1/verify")).json()["ok"] is True


async def test_changed_confidence_is_named(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    await behind_the_back(conn, "UPDATE events SET confidence = 'disputed' WHERE sequence = 3")
    await assert_broken_at(client, db_url, 3, CONTENT)


async def test_changed_recorded_at_is_named(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    await behind_the_back(
        conn, "UPDATE events SET recorded_at = recorded_at - interval '1 day' WHERE sequence = 3"
    )
    await assert_broken_at(client, db_url, 3, CONTENT)


async def test_changed_valid_time_is_named(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    await behind_the_back(conn, "UPDATE events SET time_given = '2025-11-01' WHERE sequence = 5")
    await assert_broken_at(client, db_url, 5, CONTENT)


async def test_a_deleted_event_is_named_as_missing(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    await behind_the_back(
        conn,
        "DELETE FROM event_concerns WHERE sequence = 4",
        "DELETE FROM events WHERE sequence = 4",
    )
    assert (await client.get("/v1/events/tamper-4")).status_code == 404
    await assert_broken_at(client, db_url, 4, "sequence 4 is missing (next is 5)")


async def test_a_deleted_first_event_is_named_as_missing(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    await behind_the_back(
        conn,
        "DELETE FROM event_concerns WHERE sequence = 1",
        "DELETE FROM events WHERE sequence = 1",
    )
    await assert_broken_at(client, db_url, 1, "sequence 1 is missing (next is 2)")


async def test_two_events_swapped_are_named(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    """Swap sequences 2 and 3 (through a temporary number: the primary key holds at every
    row), in both tables, with the foreign key between them silenced."""
    await behind_the_back(
        conn,
        "UPDATE events SET sequence = -1 WHERE sequence = 2",
        "UPDATE events SET sequence = 2 WHERE sequence = 3",
        "UPDATE events SET sequence = 3 WHERE sequence = -1",
        "UPDATE event_concerns SET sequence = -1 WHERE sequence = 2",
        "UPDATE event_concerns SET sequence = 2 WHERE sequence = 3",
        "UPDATE event_concerns SET sequence = 3 WHERE sequence = -1",
        replica=True,
    )
    ids = [e["id"] for e in (await client.get("/v1/events")).json()["events"]]
    assert ids[:3] == ["tamper-1", "tamper-3", "tamper-2"]
    await assert_broken_at(client, db_url, 2, RELINKED)


async def test_a_changed_hash_relinked_by_its_successor_is_named(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    """A new hash for 3, and 4 pointing at it: the links hold, but 3's content does not
    give that hash."""
    fake = "f" * 64
    await behind_the_back(
        conn,
        ("UPDATE events SET hash = $1 WHERE sequence = 3", fake),
        ("UPDATE events SET predecessor_hash = $1 WHERE sequence = 4", fake),
    )
    await assert_broken_at(client, db_url, 3, CONTENT)


async def rehash(conn: asyncpg.Connection, sequence: int) -> str:
    """Recompute one stored row's hash from its content and predecessor, as verify does."""
    r = await conn.fetchrow(
        "SELECT id, source, type, subject, time_given, confidence, data::text AS data,"
        " recorded_at, predecessor_hash FROM events WHERE sequence = $1",
        sequence,
    )
    assert r is not None
    body = canonical(
        id=r["id"],
        source=r["source"],
        type=r["type"],
        subject=r["subject"],
        time=r["time_given"],
        confidence=r["confidence"],
        data=msgspec.json.decode(r["data"]),
        sequence=sequence,
        recordedtime=r["recorded_at"],
    )
    return link(r["predecessor_hash"], body)


async def test_changed_data_with_a_correct_new_hash_breaks_at_the_successor(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    """The forger recomputes 3's hash and relinks 4: now 4 is wrong, because every hash
    covers its predecessor's hash. Only rewriting the whole tail would hide it."""
    await behind_the_back(
        conn, """UPDATE events SET data = '{"name":"X","kind":"state"}' WHERE sequence = 3"""
    )
    new = await rehash(conn, 3)
    await behind_the_back(
        conn,
        ("UPDATE events SET hash = $1 WHERE sequence = 3", new),
        ("UPDATE events SET predecessor_hash = $1 WHERE sequence = 4", new),
    )
    await assert_broken_at(client, db_url, 4, CONTENT)


async def test_a_forged_event_inserted_behind_the_service_is_named(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    """INSERT is what the triggers allow; a row that does not chain on is still named."""
    await conn.execute(
        "INSERT INTO events (sequence, id, source, type, subject, time_given, valid_from,"
        " time_precision, confidence, data, recorded_at, hash, predecessor_hash, concerns)"
        " SELECT 7, 'forged', source, type, subject, time_given, valid_from, time_precision,"
        " confidence, data, recorded_at, hash, predecessor_hash, concerns"
        " FROM events WHERE sequence = 6"
    )
    await assert_broken_at(client, db_url, 7, RELINKED)


async def test_a_truncated_tail_verifies_but_the_head_moves_back(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    """Deleting the newest event leaves a prefix, and a prefix of a valid chain is a valid
    chain. What tells is the head: compare it with one remembered from before (an earlier
    verify's `head`, a subscriber's last sequence, the newest `hash` kept elsewhere)."""
    remembered = log["head"]
    await behind_the_back(
        conn,
        ("DELETE FROM event_concerns WHERE sequence = $1", EVENTS),
        ("DELETE FROM events WHERE sequence = $1", EVENTS),
    )
    v = (await client.get("/v1/verify")).json()
    print(f"GET /v1/verify -> {v}")
    assert v == {"ok": True, "checked": EVENTS - 1, "head": EVENTS - 1, "first_broken": None}
    assert v["head"] < remembered  # the log went backwards: detected against the memory
    assert (await client.get("/v1/events")).json()["last_sequence"] == EVENTS - 1
    code, out = await verify_cli(db_url)
    print(f"annals verify -> exit {code}: {out}")
    assert code == 0
    assert out == f"ok: {EVENTS - 1} events, chain intact up to sequence {EVENTS - 1}"


async def test_a_rewritten_and_fully_rehashed_tail_verifies_but_the_head_hash_differs(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    """Someone who can write the database can also recompute every hash after the change:
    the chain is then consistent again. It is not the same chain: the newest hash differs
    from one remembered outside the database."""
    head_hash = (await client.get("/v1/events", params={"after": EVENTS - 1})).json()
    remembered = head_hash["events"][0]["hash"]
    await behind_the_back(
        conn, """UPDATE events SET data = '{"name":"X","kind":"state"}' WHERE sequence = 3"""
    )
    for seq in range(3, EVENTS + 1):
        new = await rehash(conn, seq)
        await behind_the_back(
            conn,
            ("UPDATE events SET hash = $1 WHERE sequence = $2", new, seq),
            ("UPDATE events SET predecessor_hash = $1 WHERE sequence = $2", new, seq + 1),
        )
    v = (await client.get("/v1/verify")).json()
    print(f"GET /v1/verify -> {v}")
    assert v == {"ok": True, "checked": EVENTS, "head": EVENTS, "first_broken": None}
    code, out = await verify_cli(db_url)
    print(f"annals verify -> exit {code}: {out}")
    assert code == 0
    now = (await client.get("/v1/events", params={"after": EVENTS - 1})).json()
    assert now["events"][0]["hash"] != remembered


# --- through the API ----------------------------------------------------------------------

SQL = "x'); DELETE FROM events; --"
# `source` must be a URI-reference (no spaces): SQL with comments for whitespace still is one.
SQL_URI = "x');DELETE/**/FROM/**/events;--"


async def test_sql_in_every_string_reaches_the_database_as_a_value(
    log: dict[str, Any], client: Client, db_url: str
) -> None:
    """Every query is parameterised (asyncpg $n): SQL in ids, sources, types, data and query
    parameters is stored and matched as text, and the log stays whole."""
    hostile: dict[str, Any] = {
        "type": "x-note'; DROP TABLE events; --",
        "id": "1' OR '1'='1",
        "source": SQL_URI,
        "time": "2025-11-27",
        "data": {"q": "' OR 1=1 --", SQL: SQL},
    }
    r = await client.post("/v1/events", json=hostile)
    assert r.status_code == 201, r.text
    stored = r.json()
    assert {k: stored[k] for k in ("type", "id", "source", "data")} == {
        k: hostile[k] for k in ("type", "id", "source", "data")
    }
    assert (await client.get(f"/v1/events/{hostile['id']}")).json()["sequence"] == EVENTS + 1
    assert (await client.get("/v1/events/' OR '1'='1' --")).status_code == 404
    timeline = await client.get("/v1/timeline", params={"type": hostile["type"]})
    assert [e["id"] for e in timeline.json()["events"]] == [hostile["id"]]
    timeline = await client.get("/v1/timeline", params={"type": "' OR 1=1 --"})
    assert timeline.json()["events"] == []
    timeline = await client.get("/v1/timeline", params={"subject": "party/p1' OR '1'='1"})
    assert timeline.status_code == 422  # not a subject id
    r = await client.get("/v1/parties/p1' OR '1'='1")
    assert r.status_code == 404
    v = (await client.get("/v1/verify")).json()
    assert v == {"ok": True, "checked": EVENTS + 1, "head": EVENTS + 1, "first_broken": None}
    code, out = await verify_cli(db_url)
    assert (code, out) == (0, f"ok: {EVENTS + 1} events, chain intact up to sequence {EVENTS + 1}")


# --- the columns the hash does not cover ---------------------------------------------------
# The hash covers the envelope as posted (docs/ARCHITECTURE.md#hash-chain). The columns
# derived from it (valid_from, time_precision, time_qualifier, target, concerns) and the
# event_concerns index that answers are loaded through are derived again by verify, so a
# change there that alters answers is named like a change of content.

DERIVED_TIME = "valid_from, precision or qualifier do not match the time it was given"
CONCERNS = "concerns do not match the event's subject and data"
INDEX_MISSING = "a row of the event_concerns index is missing"
INDEX_FORGED = "a row of the event_concerns index does not match its event"


async def test_a_changed_derived_valid_time_is_named(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    await behind_the_back(
        conn,
        "UPDATE events SET valid_from = '2020-01-01' WHERE sequence = 3",
        "UPDATE event_concerns SET valid_from = '2020-01-01' WHERE sequence = 3",
    )
    assert (await client.get("/v1/events/tamper-3")).json()["time"] == "2020-01-01T00:00:00Z"
    await assert_broken_at(client, db_url, 3, DERIVED_TIME)


async def test_a_changed_precision_is_named(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    await behind_the_back(conn, "UPDATE events SET time_precision = 'year' WHERE sequence = 2")
    await assert_broken_at(client, db_url, 2, DERIVED_TIME)


async def test_a_subject_added_to_concerns_is_named(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    await behind_the_back(
        conn,
        "UPDATE events SET concerns = concerns || '{party/p1}' WHERE sequence = 4",
        "INSERT INTO event_concerns SELECT 'party/p1', valid_from, sequence, false"
        " FROM events WHERE sequence = 4",
    )
    await assert_broken_at(client, db_url, 4, CONCERNS)


async def test_a_deleted_index_row_is_named(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    assert (await client.get("/v1/parties/p3")).status_code == 200
    await behind_the_back(conn, "DELETE FROM event_concerns WHERE sequence = 3")
    # Answers come from the read model, derived from the events themselves: unchanged.
    assert (await client.get("/v1/parties/p3")).status_code == 200
    await assert_broken_at(client, db_url, 3, INDEX_MISSING)


async def test_a_forged_index_row_is_named(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    # Event 2 made to count for party/p5 through the index alone: p5's answers change.
    await behind_the_back(
        conn,
        "INSERT INTO event_concerns SELECT 'party/p5', valid_from, sequence, false"
        " FROM events WHERE sequence = 2",
    )
    await assert_broken_at(client, db_url, 2, INDEX_FORGED)


async def test_the_earliest_finding_is_named_whatever_kind(
    log: dict[str, Any], client: Client, conn: asyncpg.Connection, db_url: str
) -> None:
    await behind_the_back(
        conn,
        "DELETE FROM event_concerns WHERE sequence = 5",
        'UPDATE events SET data = \'{"name": "Forged", "kind": "state"}\' WHERE sequence = 4',
    )
    await assert_broken_at(client, db_url, 4, CONTENT)
    await behind_the_back(conn, "DELETE FROM event_concerns WHERE sequence = 2")
    await assert_broken_at(client, db_url, 2, INDEX_MISSING)


async def test_retractions_and_corrections_verify_with_their_family_rows(
    client: Client, db_url: str
) -> None:
    """A correction that names a new subject adds index rows for earlier retractions and
    corrections of its target (the family rule): those rows are legitimate."""
    events = [
        party(1),
        party(2),
        {
            "type": "position.stated", "id": "pos", "subject": "party/p1", "time": "2025-11-28",
            "data": {"on": "issue/crimea", "stance": "demands"},
        },
        {
            "type": "event.corrected", "id": "fix-1", "time": "2025-11-29",
            "data": {"event": "pos", "data": {"on": "issue/crimea", "stance": "offers"}},
        },
        {
            "type": "event.corrected", "id": "fix-2", "time": "2025-11-30",
            "data": {"event": "pos", "data": {"on": "issue/donbas", "stance": "offers"}},
        },
        {
            "type": "event.retracted", "id": "gone", "time": "2025-12-01",
            "data": {"event": "pos", "reason": "misreported"},
        },
    ]  # fmt: skip
    for ev in events:
        r = await client.post("/v1/events", json=ev)
        assert r.status_code == 201, r.text
    v = (await client.get("/v1/verify")).json()
    assert v == {"ok": True, "checked": 6, "head": 6, "first_broken": None}
