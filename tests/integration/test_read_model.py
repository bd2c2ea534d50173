"""The read model over HTTP: registers, known_at, paging, read-your-writes, rebuilds."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from events import migrate
from projections.facts import RULES
from queries import answers, assembly, model, model_writes, pages, projector, question
from queries import timeline as tl
from queries.question import PageCursor, encode_cursor

Client = httpx.AsyncClient


async def post(c: Client, *events: dict[str, Any]) -> list[dict[str, Any]]:
    r = await c.post("/v1/events", json=list(events))
    assert r.status_code == 201, r.text
    return list(r.json()["events"] if isinstance(r.json(), dict) else r.json())


def stated(id_: str, time: str, stance: str, on: str = "issue/crimea") -> dict[str, Any]:
    return {
        "id": id_,
        "type": "position.stated",
        "subject": "party/kyiv",
        "time": time,
        "data": {"on": on, "stance": stance},
    }


async def positions(c: Client, **params: Any) -> dict[str, Any]:
    r = await c.get("/v1/parties/kyiv", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json()["positions"])


async def test_the_latest_statement_in_valid_time_wins_and_ties_go_to_the_later_sequence(
    client: Client,
) -> None:
    await post(
        client, stated("s1", "2025-11-20", "rejects"), stated("s2", "2025-11-20", "supports")
    )
    # Recorded last, but said earlier: it does not win now, and did not before it was known.
    [late] = await post(client, stated("s3", "2025-11-10", "demands"))
    now = await positions(client)
    assert now["issue/crimea"]["event"] == "s2"
    assert (await positions(client, at="2025-11-15"))["issue/crimea"]["event"] == "s3"
    unknown = {"at": "2025-11-15", "known_at": str(late["sequence"] - 1)}
    assert (await client.get("/v1/parties/kyiv", params=unknown)).status_code == 404


async def test_a_retraction_and_its_retraction_close_and_reopen_a_belief(client: Client) -> None:
    await post(
        client, stated("s1", "2025-11-01", "rejects"), stated("s2", "2025-11-02", "supports")
    )
    [r1] = await post(
        client,
        {
            "id": "r1",
            "type": "event.retracted",
            "time": "2025-11-03",
            "data": {"event": "s2", "reason": "misquoted"},
        },
    )
    assert (await positions(client))["issue/crimea"]["event"] == "s1"
    before = await positions(client, known_at=str(r1["sequence"] - 1))
    assert before["issue/crimea"]["event"] == "s2"


async def test_a_correction_moves_a_statement_in_valid_time(client: Client) -> None:
    await post(
        client, stated("s1", "2025-11-01", "rejects"), stated("s2", "2025-11-05", "supports")
    )
    [c] = await post(
        client,
        {
            "id": "c1",
            "type": "event.corrected",
            "time": "2025-11-06",
            "data": {
                "event": "s1",
                "data": {"on": "issue/crimea", "stance": "offers"},
                "time": "2025-11-09",
            },
        },
    )
    now = await positions(client)
    assert (now["issue/crimea"]["event"], now["issue/crimea"]["stance"]) == ("s1", "offers")
    then = await positions(client, known_at=str(c["sequence"] - 1))
    assert then["issue/crimea"]["event"] == "s2"


async def test_a_client_reads_its_own_write_at_the_sequence_its_post_returned(
    client: Client,
) -> None:
    for n in range(5):
        [e] = await post(client, stated(f"s{n}", f"2025-11-{10 + n}", "supports", f"issue/i{n}"))
        got = await positions(client, known_at=str(e["sequence"]))
        assert f"issue/i{n}" in got


async def test_state_pages_walk_every_subject_at_one_sequence_while_the_log_grows(
    client: Client,
) -> None:
    for n in range(7):
        await post(client, stated(f"s{n}", "2025-11-10", "supports", f"issue/i{n}"))
    first = (await client.get("/v1/state", params={"limit": 3})).json()
    seen = [i["id"] for i in first["issues"]] + [p["id"] for p in first["parties"]]
    # An append between pages does not reach the walk: every page answers at one sequence.
    await post(client, stated("late", "2025-11-10", "supports", "issue/i99"))
    cursor = first["next"]
    while cursor is not None:
        page = (await client.get("/v1/state", params={"limit": 3, "cursor": cursor})).json()
        assert page["sequence"] == first["sequence"]
        seen += [i["id"] for i in page["issues"]] + [p["id"] for p in page["parties"]]
        cursor = page["next"]
    assert seen == sorted(seen) or sorted(seen) == sorted(set(seen))
    assert sorted(seen) == sorted({*(f"issue/i{n}" for n in range(7)), "party/kyiv"})
    issues = (await client.get("/v1/state", params={"kind": "issue", "prefix": "issue/i1"})).json()
    assert [i["id"] for i in issues["issues"]] == ["issue/i1"]
    assert issues["parties"] == [] and issues["next"] is None


async def test_diff_pages_by_kind(client: Client) -> None:
    await post(client, stated("s1", "2025-11-10", "supports"))
    doc = (
        await client.get(
            "/v1/diff", params={"from": "2025-11-01", "to": "2025-11-30", "kind": "issue"}
        )
    ).json()
    assert {c["subject"] for c in doc["changes"]} == {"issue/crimea"}
    assert doc["next"] is None


async def test_bad_page_parameters_are_named(client: Client) -> None:
    for params, name in (
        ({"kind": "planet"}, "kind"),
        ({"prefix": "PLAN/"}, "prefix"),
        ({"kind": "plan", "prefix": "party/x"}, "prefix"),
        ({"limit": 10_001}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
    ):
        r = await client.get("/v1/state", params=params)
        assert r.status_code in (400, 422), (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert name in r.text, r.text
        if r.status_code == 422:  # a parameter, not an event: the title says which
            assert r.json()["title"] == "Invalid parameter", r.text


async def test_a_bad_cursor_is_the_same_400_on_every_paged_read(client: Client) -> None:
    """A cursor is opaque: one this service did not make is malformed input, whichever
    walk it is given to."""
    diff = {"from": "2025-11-01", "to": "2025-12-01"}
    past_the_head = encode_cursor(tl.Cursor("2025-11-01T00:00:00+00:00", 1, 9999))
    no_subject = [encode_cursor(PageCursor(s, 0)) for s in ("\x00", "party/a\x00", "Party/A")]
    past_bigint = [
        encode_cursor(PageCursor("party/a", -1)),
        encode_cursor(PageCursor("party/a", 2**63)),
        encode_cursor(tl.Cursor("2025-11-01T00:00:00+00:00", 2**63, 0)),
    ]
    for path, params in (("/v1/state", {}), ("/v1/diff", diff), ("/v1/timeline", {})):
        made = ("not-a-cursor", "eyJzIjoicGFydHkvYSIsImsiOjk5OTl9", past_the_head)
        for cursor in (*made, *no_subject, *past_bigint):
            r = await client.get(path, params={**params, "cursor": cursor})
            assert r.status_code == 400, (path, cursor, r.text)
            body = r.json()
            assert body["title"] and body["detail"].startswith("bad cursor: "), (path, cursor, body)
            assert [e["path"] for e in body["errors"]] == ["cursor"], body


async def test_a_read_model_built_under_other_rules_is_rebuilt_from_the_log(
    client: Client, conn: asyncpg.Connection
) -> None:
    await post(client, stated("s1", "2025-11-10", "supports"))
    before = (await client.get("/v1/parties/kyiv")).json()
    await conn.execute("UPDATE read_model SET rules = 'older-rules'")
    await conn.execute("DELETE FROM read_facts")  # what the older rules left is not trusted
    after = (await client.get("/v1/parties/kyiv")).json()
    assert after == before
    assert await conn.fetchval("SELECT rules FROM read_model") == RULES


async def test_a_damaged_read_model_is_a_500_that_names_the_remedy(
    client: Client, conn: asyncpg.Connection
) -> None:
    """The read model is the service's own derived data: damage there is not the client's
    fault, and the problem says what an operator does about it."""
    await post(client, stated("s1", "2025-11-10", "supports"))
    assert (await client.get("/v1/parties/kyiv")).status_code == 200  # the read model holds it
    await conn.execute("UPDATE read_facts SET value = NULL WHERE subject = 'party/kyiv'")
    for path in ("/v1/parties/kyiv", "/v1/state", "/v1/diff?from=2025-11-01&to=2025-11-30"):
        r = await client.get(path)
        assert r.status_code == 500, r.text
        assert r.headers["content-type"] == "application/problem+json"
        body = r.json()
        assert body["type"] == "urn:annals:problem:read-model-damaged", body
        assert "party/kyiv" in body["detail"] and "annals readmodel rebuild" in body["detail"]
    # A register whose value is not a stance, at an end of a diff.
    await conn.execute("UPDATE read_facts SET value = $1 WHERE subject = 'party/kyiv'", b"\x93")
    body = (await client.get("/v1/diff?from=2025-11-01&to=2025-11-30")).json()
    assert body["type"] == "urn:annals:problem:read-model-damaged", body
    assert "party/kyiv" in body["detail"] and "holds no stance" in body["detail"], body
    # A folded fact whose value is not an event.
    await post(client, {"type": "party.registered", "subject": "party/lviv", "time": "2025-11-01",
                        "data": {"name": "Lviv", "kind": "other"}})  # fmt: skip
    assert (await client.get("/v1/parties/lviv")).status_code == 200
    for damage in (b"\x93", None):
        await conn.execute("UPDATE read_facts SET value = $1 WHERE subject = 'party/lviv'", damage)
        body = (await client.get("/v1/parties/lviv")).json()
        assert body["type"] == "urn:annals:problem:read-model-damaged", body
        assert "party/lviv" in body["detail"] and "holds no event" in body["detail"], body


async def test_an_answer_is_two_statements_and_reads_no_event_from_the_log(
    client: Client, conn: asyncpg.Connection
) -> None:
    """The log's head with the read model's status, then the facts: a folded fact holds
    its event as believed (here a corrected one), so neither one subject nor a page reads
    the log's events."""
    await post(
        client,
        {"id": "r1", "type": "party.registered", "subject": "party/lviv", "time": "2025-11-01",
         "data": {"name": "Lvov", "kind": "other"}},
        {"type": "event.corrected", "time": "2025-11-02",
         "data": {"event": "r1", "data": {"name": "Lviv", "kind": "state"}}},
        stated("s1", "2025-11-03", "supports"),
    )  # fmt: skip
    await projector.catch_up(conn)
    # A connection's first answer also asks PostgreSQL once what bytea[] is (asyncpg's
    # type introspection, kept for the connection's life): the answers after it are counted.
    await answers.subject_answer(conn, "party/lviv", None, None, "disputed")
    sent: list[str] = []
    conn.add_query_logger(lambda q: sent.append(q.query))
    one = await answers.subject_answer(conn, "party/lviv", None, None, "disputed")
    await asyncio.sleep(0)  # asyncpg hands each query to its loggers with call_soon
    assert one.body is not None and (one.body["name"], one.body["kind"]) == ("Lviv", "state")
    assert len(sent) == 2, sent
    sent.clear()
    page = await answers.state_question(conn, None, None, "disputed")
    body = await page.document(conn)
    await asyncio.sleep(0)
    assert [p.name for p in body["parties"]] == [None, "Lviv"]
    assert len(sent) == 3, sent  # the head and status, the page's subjects, their facts
    assert not [q for q in sent if "FROM events WHERE" in q], sent


async def test_a_folded_event_too_long_for_the_index_is_read_from_beside_it(
    client: Client, conn: asyncpg.Connection
) -> None:
    summary = "x" * (model_writes.INDEXED_VALUE_BYTES + 500)
    data = {"title": "Long", "sponsor": "party/kyiv", "summary": summary}
    await post(client, {"type": "plan.proposed", "subject": "plan/long", "time": "2025-11-01",
                        "data": data})  # fmt: skip
    r = await client.get("/v1/plans/long")
    assert r.status_code == 200, r.text
    assert r.json()["summary"] == summary
    stored = await conn.fetchrow(
        "SELECT value, long_value FROM read_facts WHERE subject = 'plan/long' AND key = ''"
    )
    assert stored is not None
    assert stored["value"] is None and len(stored["long_value"]) > len(summary)


async def test_a_subjects_rows_are_scanned_by_the_index_on_a_table_of_many_keys(
    conn: asyncpg.Connection,
) -> None:
    """The scan of a subject with few rows per key reads its rows from the index whatever
    the table holds. On a table of many distinct keys PostgreSQL 18 costs a condition on
    valid_from behind the range on key as a skip scan, a descent per key, and chose to read
    the whole table instead (4 s for a page of 100 parties of a 100,000-event read model)."""
    await conn.execute(
        "INSERT INTO read_facts (subject, key, valid_from, sequence, version, known_from,"
        " confidence, value)"
        " SELECT 'party/s' || (g % 9000), 'positions/issue/i' || (g % 8000),"
        " timestamptz '2020-01-01' + g * interval '1 minute', g, g, g, 3,"
        " convert_to(repeat('x', 210), 'UTF8') FROM generate_series(1, 180000) AS g"
    )
    await conn.execute(
        "INSERT INTO read_subjects SELECT 'party/s' || i, 1, 50, 50"
        " FROM generate_series(0, 8999) AS i"
    )
    await conn.execute("VACUUM ANALYZE read_facts, read_subjects")
    at = datetime(2021, 1, 1, tzinfo=UTC)
    for subjects in (["party/s5"], [f"party/s{i}" for i in range(100)]):
        sql, args = model.facts_statement(subjects, 180_000, at, 0)
        plan = json.loads(await conn.fetchval("EXPLAIN (FORMAT JSON) " + sql, *args))[0]["Plan"]
        read = {(n["Node Type"], n.get("Relation Name")) for n in _nodes(plan)}
        assert ("Seq Scan", "read_facts") not in read, read
        assert ("Index Only Scan", "read_facts") in read, read


async def test_a_busy_subjects_facts_are_read_from_the_index_alone(
    client: Client, conn: asyncpg.Connection
) -> None:
    """The lookups of registers and folded events read the index, not the table: the
    version, the value and the belief columns are in the index (docs/READ_MODEL.md)."""
    await post(client, *(stated(f"s{i}", f"2025-10-{i + 1:02}", "supports") for i in range(20)))
    assert (await client.get("/v1/parties/kyiv")).status_code == 200  # the read model holds it
    await model_writes.settle(conn)  # what a rebuild or an import ends with: rows all-visible
    head = await conn.fetchval("SELECT max(sequence) FROM events")
    at = datetime(2025, 10, 15, tzinfo=UTC)
    sql, args = model.facts_statement(["party/kyiv"], head - 5, at, 0)
    async with conn.transaction():  # the table is tiny: make the planner use its indexes
        await conn.execute("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off")
        [plan] = json.loads(await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *args))
    lookups = [n for n in _nodes(plan["Plan"]) if n.get("Index Name") == "read_facts_valid"]
    ran = [n for n in lookups if n["Actual Loops"]]  # not a long stance's lookup: none here
    assert ran, plan
    assert {(n["Node Type"], n.get("Heap Fetches")) for n in ran} == {("Index Only Scan", 0)}


@pytest.mark.parametrize("rows_per_key", [model.SCAN_ROWS_PER_KEY, 0], ids=["scanned", "busy"])
async def test_a_stance_too_long_for_an_index_entry_is_answered_whole(
    client: Client, monkeypatch: Any, rows_per_key: int
) -> None:
    """A btree entry holds at most 2,704 bytes; a stance may hold 10,000 characters of
    summary and many conditions. The read model keeps such a stance beside the index, and
    a register read from a busy subject's recent rows fetches it as a scan does."""
    monkeypatch.setattr(model, "SCAN_ROWS_PER_KEY", rows_per_key)
    rng = random.Random(7)  # letters at random: nothing for PostgreSQL to compress
    summary = "".join(rng.choice(string.ascii_letters) for _ in range(10_000))
    long = stated("s1", "2025-11-10", "rejects") | {
        "data": {"on": "issue/crimea", "stance": "rejects", "summary": summary,
                 "conditions": [summary[:3_000], summary[3_000:6_000]]},
    }  # fmt: skip
    short = stated("s2", "2025-11-11", "supports", on="issue/donbas")
    await post(client, long, short)
    now = await positions(client)
    assert now["issue/crimea"]["summary"] == summary
    assert now["issue/crimea"]["conditions"] == [summary[:3_000], summary[3_000:6_000]]
    assert now["issue/donbas"]["stance"] == "supports"
    page = (await client.get("/v1/state", params={"prefix": "party/"})).json()
    assert page["parties"][0]["positions"]["issue/crimea"]["summary"] == summary


def stance_of(n: int) -> dict[str, Any]:
    return {"type": "position.stated", "subject": f"party/p{n}", "time": "2025-11-01",
            "data": {"on": "issue/crimea", "stance": "supports"}}  # fmt: skip


async def test_a_pages_next_piece_is_read_while_the_one_before_is_assembled(
    client: Client, conn: asyncpg.Connection, monkeypatch: Any
) -> None:
    """A page reads its facts in pieces of at most a quarter of its budget, the first
    smaller (nothing is assembled while it is read), and asks for a piece's facts before it
    assembles the piece before: the database works while Python does. Where the page ends
    does not depend on the pieces."""
    await post(client, *(stance_of(n) for n in range(6)))
    await projector.catch_up(conn)
    q = await question.ask(conn, None, None, "disputed")
    steps: list[tuple[str, list[str]]] = []
    select, assembled = assembly.select, assembly.assembled

    async def selecting(conn: Any, subjects: list[str], *args: Any) -> Any:
        steps.append(("select", subjects))
        return await select(conn, subjects, *args)

    def assembling(subjects: list[str], *args: Any) -> Any:
        steps.append(("assemble", subjects))
        return assembled(subjects, *args)

    monkeypatch.setattr(assembly, "select", selecting)
    monkeypatch.setattr(assembly, "assembled", assembling)
    page, (found,) = await _states_page(conn, q, [q.at], "party/", None, 100, 8)
    assert page.subjects == [f"party/p{n}" for n in range(6)] and page.next is None
    pieces = [subjects for step, subjects in steps if step == "select"]
    assert len(pieces) > 1 and [s for p in pieces for s in p] == page.subjects, steps
    sizes = [len(p) for p in pieces]  # a party of one stance: a fact each
    assert sizes[0] < sizes[1] and max(sizes) <= 8 // pages.PIECES, sizes
    for i in range(1, len(pieces)):  # piece i is asked for before piece i - 1 is assembled
        assert steps.index(("select", pieces[i])) < steps.index(("assemble", pieces[i - 1]))
    assert [list(getattr(s, "positions", ())) for s in found.values()] == [["issue/crimea"]] * 6
    # The same page whole, in one piece: the same subjects, the same states.
    monkeypatch.setattr(pages, "PIECES", 1)
    whole, (same,) = await _states_page(conn, q, [q.at], "party/", None, 100, 8)
    assert (whole, same) == (page, found)


async def test_a_pages_pieces_count_register_keys_not_the_rows_behind_them(
    client: Client, conn: asyncpg.Connection, monkeypatch: Any
) -> None:
    """A register is one fact at each end however often it was stated: parties that
    restated one stance many times are read in pieces as large as parties that stated it
    once, each piece of at most a quarter of the budget."""
    await post(client, *({**stance_of(n), "time": f"2025-11-0{k + 1}"}
                         for n in range(6) for k in range(5)))  # fmt: skip
    await projector.catch_up(conn)
    rows = await conn.fetch("SELECT registers, rows FROM read_subjects WHERE subject = 'party/p0'")
    assert [tuple(r) for r in rows] == [(1, 5)]
    q = await question.ask(conn, None, None, "disputed")
    pieces: list[int] = []
    select = assembly.select

    async def selecting(conn: Any, subjects: list[str], *args: Any) -> Any:
        pieces.append(len(subjects))
        return await select(conn, subjects, *args)

    monkeypatch.setattr(assembly, "select", selecting)
    page, _ = await _states_page(conn, q, [q.at], "party/", None, 100, 8)
    assert len(page.subjects) == 6 and page.next is None
    assert pieces == [1, 2, 2, 1], pieces  # by budget / (PIECES * FIRST_PIECE), then doubled
    pieces.clear()  # a diff's two ends: a register key counts at each
    ends = [datetime(2025, 11, 2, tzinfo=UTC), q.at]
    page, _ = await _states_page(conn, q, ends, "party/", None, 100, 16)
    assert len(page.subjects) == 6 and pieces == [1, 1, 2, 2], pieces


def on(n: int, time: str, **more: Any) -> dict[str, Any]:
    return {**stance_of(n), "time": time, **more}


async def _shaped_as_a_log_of_100_000(conn: asyncpg.Connection) -> None:
    """A read model shaped as a log of 100,000 events leaves it, written directly: 9,000
    parties of 5 folded events and 10 positions each, on issues they share, a busy party
    of 10,000 positions on 200 issues, and a wide one of 6,000 on 3,000."""
    await conn.execute(
        """
        INSERT INTO read_facts (subject, key, valid_from, sequence, version, known_from,
                                confidence, value)
        SELECT 'party/p' || s,
               CASE WHEN k < 5 THEN '' ELSE 'positions/issue/i' || (s * 7 + k) % 8000 END,
               timestamptz '2005-01-01' + (s * 37 + k * 101) % 8760 * interval '1 hour',
               s * 20 + k, 0, s * 20 + k, 2, convert_to(repeat('x', 250), 'UTF8')
        FROM generate_series(1, 9000) s, generate_series(0, 14) k
        UNION ALL
        SELECT 'party/r0', 'positions/issue/i' || k % 200,
               timestamptz '2005-01-01' + k % 8760 * interval '1 hour',
               1000000 + k, 0, 1000000 + k, 2, convert_to(repeat('x', 250), 'UTF8')
        FROM generate_series(0, 9999) k
        UNION ALL
        SELECT 'party/w0', 'positions/issue/i' || k % 3000,
               timestamptz '2005-01-01' + k % 8760 * interval '1 hour',
               2000000 + k, 0, 2000000 + k, 2, convert_to('"' || repeat('x', 250) || '"', 'UTF8')
        FROM generate_series(0, 5999) k;
        INSERT INTO read_keys (subject, key, first_known, last_known)
        SELECT subject, key, min(sequence), max(sequence) FROM read_facts GROUP BY 1, 2;
        INSERT INTO read_subjects (subject, first_known, registers, rows)
        SELECT subject, min(sequence), count(DISTINCT key) FILTER (WHERE key <> ''), count(*)
        FROM read_facts GROUP BY 1;
        """
    )
    # As the projector does: r0 alone is busy, the others have few rows per key.
    await model_writes.flag_busy(conn, ["party/r0", "party/w0", "party/p5"])
    await conn.execute("ANALYZE read_facts, read_keys, read_subjects")


async def test_a_busy_subjects_registers_are_read_from_its_latest_rows_not_a_descent_a_key(
    conn: asyncpg.Connection,
) -> None:
    """A party of 10,000 positions on 200 issues has its registers at a time read from its
    rows just before that time, in one index-only scan of read_facts_recent: a descent into
    read_facts_valid for each of its 200 keys costs the busy subject ten times a cold one."""
    await _shaped_as_a_log_of_100_000(conn)
    await conn.execute("VACUUM read_facts")  # all-visible, as a settled read model is
    at = datetime(2005, 6, 1, tzinfo=UTC)
    sql, args = model.facts_statement(["party/r0"], 10_000_000, at, 0)
    await conn.execute(f"PREPARE facts AS {sql}")
    literal = ", ".join(_literal(a) for a in args)
    for mode in ("force_custom_plan", "force_generic_plan"):
        await conn.execute(f"SET plan_cache_mode = {mode}")
        plan = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE facts ({literal})")
        ran = [n for n in _nodes(json.loads(plan)[0]["Plan"]) if n.get("Actual Loops")]
        recent = [n for n in ran if n.get("Index Name") == "read_facts_recent"]
        assert [(n["Node Type"], n["Heap Fetches"]) for n in recent] == [("Index Only Scan", 0)], (
            mode,
            plan,
        )
        descents = sum(n["Actual Loops"] for n in ran if n.get("Index Name") == "read_facts_valid")
        assert descents <= 20, (mode, descents)  # the core's one, and keys not among the rows
    rows = await model.facts(conn, ["party/r0"], 10_000_000, at, 0)
    assert len(rows["party/r0"].keys) == 200


async def test_a_busy_subjects_recent_rows_are_those_recorded_by_the_sequence_asked(
    conn: asyncpg.Connection,
) -> None:
    """As known at K, a busy subject's recent rows are those recorded by K: rows recorded
    later (backdated statements) are never believed at K, and taking their places would
    leave its keys to a descent each."""
    await conn.execute(
        """
        INSERT INTO read_facts (subject, key, valid_from, sequence, version, known_from,
                                confidence, value)
        SELECT 'party/b', 'positions/issue/i' || (g % 20),
               timestamptz '2020-01-01' + g * interval '1 day', g, g, g, 2,
               convert_to('"s' || g || '"', 'UTF8')
        FROM generate_series(1, 200) AS g
        UNION ALL  -- recorded after 200, backdated to lie between those and the time asked
        SELECT 'party/b', 'positions/issue/i' || (g % 20),
               timestamptz '2020-07-20' + g * interval '1 minute', g, g, g, 2,
               convert_to('"late"', 'UTF8')
        FROM generate_series(201, 1200) AS g;
        INSERT INTO read_keys (subject, key, first_known, last_known)
        SELECT subject, key, min(sequence), max(sequence) FROM read_facts GROUP BY 1, 2;
        INSERT INTO read_subjects (subject, first_known, registers, rows)
        SELECT subject, min(sequence), count(DISTINCT key), count(*) FROM read_facts GROUP BY 1;
        """
    )
    await model_writes.flag_busy(conn, ["party/b"])
    await conn.execute("VACUUM ANALYZE read_facts, read_keys, read_subjects")
    at = datetime(2020, 9, 1, tzinfo=UTC)
    sql, args = model.facts_statement(["party/b"], 200, at, 0)
    plan = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *args)
    ran = [n for n in _nodes(json.loads(plan)[0]["Plan"]) if n.get("Actual Loops")]
    descents = [n for n in ran if "key = k.key" in n.get("Index Cond", "")]
    assert sum(n["Actual Loops"] for n in descents) == 0, descents
    found = (await model.facts(conn, ["party/b"], 200, at, 0))["party/b"]
    expected = sorted(f'"s{g}"'.encode() for g in range(181, 201))  # each key's last by 200
    assert sorted(v or b"" for v in found.registers) == expected


async def test_a_subject_is_flagged_busy_with_all_its_register_rows_once_it_is_probed(
    client: Client, conn: asyncpg.Connection
) -> None:
    """read_facts_recent holds the register rows of the subjects busy enough to be probed,
    every one of them (a question finds a busy subject's registers among them): the rows a
    subject had when it became busy, and the rows it gets after."""

    async def flags(subject: str) -> tuple[bool, list[bool]]:
        await projector.catch_up(conn)
        busy = await conn.fetchval("SELECT busy FROM read_subjects WHERE subject = $1", subject)
        rows = await conn.fetch(
            "SELECT busy FROM read_facts WHERE subject = $1 AND key <> '' ORDER BY sequence",
            subject,
        )
        return busy, [r["busy"] for r in rows]

    days = iter(range(1, 29))
    for _ in range(model.SCAN_ROWS_PER_KEY):  # as many rows on its one key as a scan takes
        await post(client, stated(f"s{next(days)}", f"2025-10-{next(days):02}", "supports"))
    assert await flags("party/kyiv") == (False, [False] * model.SCAN_ROWS_PER_KEY)
    await post(client, stated("s99", "2025-09-01", "opposes"))  # one more, backdated
    assert await flags("party/kyiv") == (True, [True] * (model.SCAN_ROWS_PER_KEY + 1))
    await post(client, stated("s100", "2025-09-02", "demands"))
    assert await flags("party/kyiv") == (True, [True] * (model.SCAN_ROWS_PER_KEY + 2))
    # Once busy, always: a second key leaves it few rows per key, its rows stay in the index.
    await post(client, stated("s101", "2025-09-03", "rejects", on="issue/donbas"))
    assert await flags("party/kyiv") == (True, [True] * (model.SCAN_ROWS_PER_KEY + 3))
    assert await flags("issue/donbas") == (False, [False])
    party = (await client.get("/v1/parties/kyiv", params={"at": "2025-09-03"})).json()
    assert party["positions"]["issue/crimea"]["stance"] == "demands"
    assert party["positions"]["issue/donbas"]["stance"] == "rejects"


async def test_a_scanned_subjects_rows_are_read_in_key_order_never_sorted_again(
    conn: asyncpg.Connection,
) -> None:
    """A subject with few rows per key has its registers read by one scan of its rows in
    key order, from read_facts_valid. PostgreSQL plans that scan for a subject it does not
    know yet and, where read_facts_recent (valid-time order, no folded events) is the
    smaller index, read it and sorted its rows again: a wide party's answer took 17 ms in
    place of 6 on a 1M-event log. So read_facts_recent holds the rows flagged busy alone,
    which the scan never asks for: without read_facts_valid, nothing but the recent rows'
    own scan reads it."""
    await _shaped_as_a_log_of_100_000(conn)
    at = datetime(2005, 6, 1, tzinfo=UTC)
    for subjects in (["party/p5"], ["party/w0", "party/p5", "party/p6"]):
        sql, args = model.facts_statement(subjects, 10_000_000, at, 0)
        plan = json.loads(await conn.fetchval("EXPLAIN (FORMAT JSON) " + sql, *args))
        scans = [n for n in _nodes(plan[0]["Plan"]) if n.get("Index Name") == "read_facts_valid"]
        assert scans, plan  # the scan, and the descents of a busy subject
        undo = conn.transaction()
        await undo.start()
        try:
            await conn.execute("DROP INDEX read_facts_valid")
            plan = json.loads(await conn.fetchval("EXPLAIN (FORMAT JSON) " + sql, *args))
        finally:
            await undo.rollback()
        recent = [
            n["Index Cond"]
            for n in _nodes(plan[0]["Plan"])
            if n.get("Index Name") == "read_facts_recent"
        ]
        assert recent and all("valid_from <=" in cond for cond in recent), recent


def _literal(value: object) -> str:
    """A statement argument as SQL text, for EXECUTE."""
    if isinstance(value, str):
        return f"'{value}'"
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    return str(value)


async def test_a_diffs_registers_of_a_wide_subject_are_paired_without_a_scan_a_key(
    conn: asyncpg.Connection,
) -> None:
    """A diff reads a subject's registers at both ends, planned for the values asked or for
    any, by a scan of its rows and a descent a changed key: paired by a nested loop, the
    two scans of a party of 3,000 keys cost 10 seconds on a read model of 100,000 events
    (19 million buffer reads, against some thousands)."""
    await _shaped_as_a_log_of_100_000(conn)
    types = "text[], bigint, timestamptz, smallint, bigint, timestamptz"
    await conn.execute(f"PREPARE changed ({types}) AS {model._CHANGED}")
    args = "ARRAY['party/p5000', 'party/p5001', 'party/w0'], 10000000, '2006-01-01', 0, 8"
    for mode in ("force_custom_plan", "force_generic_plan"):
        await conn.execute(f"SET plan_cache_mode = {mode}")
        plan = await conn.fetchval(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE changed ({args}, '2004-06-01')"
        )
        top = json.loads(plan)[0]["Plan"]
        blocks = top["Shared Hit Blocks"] + top["Shared Read Blocks"]
        assert blocks < 60_000, (mode, blocks)  # 10 for each of the subjects' 6,030 rows


async def test_a_diff_reads_a_scanned_subjects_registers_at_both_ends_in_one_pass(
    conn: asyncpg.Connection,
) -> None:
    """A subject with few rows per key has its registers at both ends of a diff read from
    one scan of its rows: a descent per changed key for the earlier end cost an issue whose
    stances nearly all changed a walk down the index for each."""
    await _shaped_as_a_log_of_100_000(conn)
    await conn.execute("VACUUM read_facts")
    subjects = ["party/w0", "party/p5", "party/p6"]  # 3,000 keys of two rows, and 10 keys
    args = (subjects, 10_000_000, datetime(2006, 1, 1, tzinfo=UTC), 0, model.SCAN_ROWS_PER_KEY)
    earlier = datetime(2005, 6, 1, tzinfo=UTC)
    plan = await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + model._CHANGED, *args, earlier)
    ran = [n for n in _nodes(json.loads(plan)[0]["Plan"]) if n.get("Actual Loops")]
    reads = sum(n["Actual Loops"] for n in ran if n.get("Index Name") == "read_facts_valid")
    assert reads <= 3 * len(subjects), reads  # each subject's scan and its folded events
    # The rows are windowed once; the aggregates pair the ends (a second window over the
    # kept rows, and a join to pair them, cost a page of 100 issues a fifth of its reads).
    windows = [n for n in ran if n["Node Type"] == "WindowAgg"]
    assert len(windows) == 1, [n.get("Window") for n in windows]
    found = await model.changed(conn, subjects, 10_000_000, earlier, args[2], 0)
    assert len(found["party/w0"].later.keys) > 1_000  # the stances that changed, both ends
    # A row after the later end counts at neither: it is not counted, row by row, at all.
    later = datetime(2005, 3, 1, tzinfo=UTC)
    plan = await conn.fetchval(
        "EXPLAIN (ANALYZE, FORMAT JSON) " + model._CHANGED, *args[:2], later, *args[3:], earlier
    )
    counted = [n for n in _nodes(json.loads(plan)[0]["Plan"]) if n["Node Type"] == "WindowAgg"]
    before = await conn.fetchval(
        "SELECT count(*) FROM read_facts WHERE subject = ANY($1) AND key <> ''"
        " AND valid_from <= $2",
        subjects,
        later,
    )
    assert counted and max(n["Actual Rows"] * n["Actual Loops"] for n in counted) <= before
    # Nor is a row not confident enough (every row here is rank 2).
    plan = await conn.fetchval(
        "EXPLAIN (ANALYZE, FORMAT JSON) " + model._CHANGED, *args[:3], 3, args[4], earlier
    )
    counted = [n for n in _nodes(json.loads(plan)[0]["Plan"]) if n["Node Type"] == "WindowAgg"]
    assert [n["Actual Rows"] for n in counted] == [0] * len(counted), counted


async def test_the_walks_probe_reads_each_subjects_own_rows_on_a_read_model_of_any_size(
    conn: asyncpg.Connection,
) -> None:
    """The probe that finds a diff's moved subjects reads each subject's own rows through
    the index, planned for the values asked or for any: on a read model the size of a
    log of 100,000 events, one read of the whole table a subject costs a page seconds."""
    await _shaped_as_a_log_of_100_000(conn)
    params = ("'party/p5000'", "''", "'~'", "10000000", "101", "'2005-02-01'::timestamptz", "0",
              "'2005-03-01'::timestamptz", str(model.SCAN_ROWS_PER_KEY))  # fmt: skip
    types = "text, text, text, bigint, bigint, timestamptz, smallint, timestamptz, bigint"
    await conn.execute(f"PREPARE listed ({types}) AS {model._LISTED}")
    for mode in ("force_custom_plan", "force_generic_plan"):
        await conn.execute(f"SET plan_cache_mode = {mode}")
        plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE listed ({', '.join(params)})")
        scans = _nodes(json.loads(plan)[0]["Plan"])
        read = {(n.get("Relation Name"), n["Node Type"]) for n in scans if "Relation Name" in n}
        assert ("read_facts", "Seq Scan") not in read, (mode, read)


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """A plan's nodes, its own and below."""
    return [plan, *(n for child in plan.get("Plans", []) for n in _nodes(child))]


async def test_a_diff_passes_over_the_subjects_no_fact_of_which_lies_between_its_ends(
    client: Client, conn: asyncpg.Connection, monkeypatch: Any
) -> None:
    """Between two valid times, a subject changes only by a fact that lies between them,
    believed at the question's sequence, confident enough: the others are neither read
    nor counted in the page's budget."""
    await post(client, *(on(n, "2025-11-01", id=f"a{n}") for n in range(5)))
    *_, late = await post(client, on(1, "2025-11-20", id="b1"), on(2, "2025-11-20", id="b2",
                        confidence="disputed"), on(3, "2025-11-20", id="b3"))  # fmt: skip
    await post(client, {"id": "r3", "type": "event.retracted", "time": "2025-11-21",
                        "data": {"event": "b3", "reason": "misquoted"}})  # fmt: skip
    [after] = await post(client, on(4, "2025-11-20", id="b4"))
    await projector.catch_up(conn)
    between = (datetime(2025, 11, 10, tzinfo=UTC), datetime(2025, 11, 30, tzinfo=UTC))

    async def moved(known: int, floor: int = 0) -> list[str]:
        listed = await model.subjects(conn, known, "party/", "", 100, between, floor)
        return [s.subject for s in listed if s.moved]

    head = after["sequence"]
    assert await moved(head) == ["party/p1", "party/p2", "party/p4"]
    assert await moved(head, floor=2) == ["party/p1", "party/p4"]  # b2 is only disputed
    assert await moved(head - 1) == ["party/p1", "party/p2"]  # b4 is not known yet
    assert await moved(late["sequence"]) == ["party/p1", "party/p2", "party/p3"]  # unretracted
    listed = await model.subjects(conn, head, "party/", "", 100)
    assert all(s.moved for s in listed) and len(listed) == 5  # no valid times to compare

    read: list[str] = []
    select = assembly.select

    async def selecting(conn: Any, subjects: list[str], *args: Any) -> Any:
        read.extend(subjects)
        return await select(conn, subjects, *args)

    monkeypatch.setattr(assembly, "select", selecting)
    q = await question.ask(conn, "2025-11-30", None, "reported")
    # p1 and p4 hold two facts each (a register at each end): a budget of 4 holds them both.
    doc = await answers.diff_document(conn, between[0], q, "party/", None, 100, 4)
    assert read == ["party/p1", "party/p4"], read
    assert [c.subject for c in doc["changes"]] == ["party/p1", "party/p4"] and not doc["next"]


async def test_a_subject_held_by_an_unchanged_register_is_there_at_the_diffs_earlier_end(
    client: Client,
) -> None:
    """A diff reads only the registers that changed, yet a subject whose only fact at the
    earlier end is an unchanged register exists there: what it gains later changes from
    its blank values, not from nothing."""
    await post(client, stated("s1", "2025-11-05", "supports"))
    data = {"name": "Kyiv", "kind": "other", "aliases": ["Kiev"]}
    await post(client, {"type": "party.registered", "subject": "party/kyiv", "time": "2025-11-20",
                        "data": data})  # fmt: skip
    r = await client.get("/v1/diff", params={"from": "2025-11-10", "to": "2025-11-30"})
    assert r.status_code == 200, r.text
    changes = {c["field"]: c for c in r.json()["changes"] if c["subject"] == "party/kyiv"}
    assert sorted(changes) == ["aliases", "kind", "name"]
    assert (changes["aliases"]["before"], changes["aliases"]["after"]) == ([], ["Kiev"])
    r = await client.get("/v1/diff", params={"from": "2025-11-01", "to": "2025-11-30"})
    changes = {c["field"]: c for c in r.json()["changes"] if c["subject"] == "party/kyiv"}
    assert changes["aliases"]["before"] is None  # nothing counted on 1 November


async def test_a_piece_being_read_when_assembly_fails_leaves_the_connection_usable(
    client: Client, conn: asyncpg.Connection
) -> None:
    await post(client, *(stance_of(n) for n in range(6)))
    await projector.catch_up(conn)
    await conn.execute("UPDATE read_facts SET value = NULL WHERE subject = 'party/p0'")
    q = await question.ask(conn, None, None, "disputed")
    try:
        await _states_page(conn, q, [q.at], "party/", None, 100, 8)
    except model.Damaged as e:
        assert "party/p0" in str(e)
    else:
        raise AssertionError("a register that holds no stance must fail the page")
    assert await conn.fetchval("SELECT count(*) FROM read_subjects") == 7  # still answers


async def test_a_page_of_subjects_that_fold_many_events_reads_them_a_budget_at_a_time(
    client: Client, conn: asyncpg.Connection, monkeypatch: Any
) -> None:
    """Events to fold count in a page's budget as registers do, and a piece of a page is
    chosen by read_subjects' counts of both: a page of meetings (folded events only) reads
    a few of them at a time, not every meeting of `limit` at once."""
    events = [
        {"type": "meeting.scheduled" if k == 0 else "meeting.rescheduled",
         "subject": f"meeting/m{n}", "time": f"2025-11-0{k + 1}",
         "data": {"title": f"M{n}", "starts": "2025-12-01", "participants": []} if k == 0
         else {"starts": f"2025-12-0{k + 1}"}}
        for n in range(6) for k in range(4)
    ]  # fmt: skip
    await post(client, *events)
    await projector.catch_up(conn)
    counted = "SELECT rows + folded FROM read_subjects WHERE subject = 'meeting/m0'"
    assert await conn.fetchval(counted) == 4
    # A read model built before the count is counted by its migration.
    (sql,) = [sql for _, name, sql in migrate.migrations() if "read_subjects_folded" in name]
    await conn.execute("UPDATE read_subjects SET folded = 0")
    await conn.execute(sql.split(";\n", 1)[1])  # its statements after ADD COLUMN
    assert await conn.fetchval(counted) == 4
    q = await question.ask(conn, None, None, "disputed")
    read: list[int] = []
    select = assembly.select

    async def selecting(conn: Any, subjects: list[str], *args: Any) -> Any:
        selected = await select(conn, subjects, *args)
        read.append(sum(selected.per_subject().values()))
        return selected

    monkeypatch.setattr(assembly, "select", selecting)
    page, _ = await _states_page(conn, q, [q.at], "meeting/", None, 100, 8)
    assert page.subjects == ["meeting/m0", "meeting/m1"] and page.next is not None
    assert read and max(read) <= 8, read  # never more than the page's budget in one piece


async def test_a_subjects_bound_is_read_by_one_descent_whatever_its_history(
    conn: asyncpg.Connection,
) -> None:
    """The projector reads the latest bound of each subject a batch touches: one row each,
    not every row a busy subject's bound left as it grew (which made a rebuild quadratic in
    a busy subject's history)."""
    await conn.execute(
        "INSERT INTO read_bounds SELECT 'party/b' || (g % 50), g,"
        " timestamptz '2020-01-01' + g * interval '1 hour' FROM generate_series(1, 20000) AS g"
    )
    await conn.execute("VACUUM ANALYZE read_bounds")
    subjects = [f"party/b{i}" for i in range(50)] + ["party/none"]
    found = (await model_writes.standing(conn, subjects)).bounds
    assert len(found) == 50
    assert found["party/b7"] == datetime(2020, 1, 1, tzinfo=UTC) + (19_957 * timedelta(hours=1))
    [plan] = json.loads(
        await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + model_writes.STANDING, subjects)
    )
    scans = [n for n in _nodes(plan["Plan"]) if n.get("Relation Name") == "read_bounds"]
    read = sum(n["Actual Rows"] * n["Actual Loops"] for n in scans)
    assert scans and read <= len(subjects), plan


async def test_a_page_given_a_spare_connection_reads_two_pieces_at_once(
    client: Client, conn: asyncpg.Connection, db_url: str, monkeypatch: Any
) -> None:
    """Given a spare connection, a page keeps a piece's statement running on each: the
    database reads two pieces at once, on two connections (a diff page of subjects with
    many rows and few changes is its work). The page is the same as read on one."""
    await post(client, *(stance_of(n) for n in range(9)))
    await projector.catch_up(conn)
    q = await question.ask(conn, None, None, "disputed")
    select = assembly.select
    running: list[Any] = []  # the connections running a piece's statement now
    together: list[tuple[Any, ...]] = []

    async def selecting(reader: Any, subjects: list[str], *args: Any) -> Any:
        running.append(reader)
        together.append(tuple(running))
        try:
            await asyncio.sleep(0.01)  # a statement that takes time
            return await select(reader, subjects, *args)
        finally:
            running.remove(reader)

    monkeypatch.setattr(assembly, "select", selecting)
    spare = await asyncpg.connect(db_url)
    try:
        page, (found,) = await _states_page(conn, q, [q.at], "party/", None, 100, 8, spare)
    finally:
        await spare.close()
    assert {id(c) for pair in together for c in pair} == {id(conn), id(spare)}
    assert any(len(pair) == 2 for pair in together), together  # two statements at once
    assert all(len(set(map(id, pair))) == len(pair) for pair in together)  # one a connection
    monkeypatch.setattr(assembly, "select", select)
    alone, (states,) = await _states_page(conn, q, [q.at], "party/", None, 100, 8)
    assert (page, found) == (alone, states) and len(found) == 8  # the budget ends it


async def _states_page(
    conn: Any,
    q: Any,
    ends: list[Any],
    prefix: str,
    after: Any,
    limit: int,
    budget: int,
    spare: Any = None,
) -> tuple[pages.Page, list[dict[str, Any]]]:
    """A page of subjects and their states at each end, by subject (`pages.page_subjects`
    with a callback that keeps them)."""
    out: list[dict[str, Any]] = [{} for _ in ends]

    def keep(subjects: list[str], selected: Any, at: list[Any]) -> Iterator[str]:
        for subject, states in assembly.assembled(subjects, selected, at):
            for whole, state in zip(out, states, strict=True):
                if state is not None:
                    whole[subject] = state
            yield subject

    page = await pages.page_subjects(conn, q, ends, prefix, after, limit, budget, keep, spare)
    return page, out


async def test_the_event_loop_runs_between_the_subjects_of_a_piece(
    client: Client, conn: asyncpg.Connection, monkeypatch: Any
) -> None:
    """PostgreSQL sends the next piece's rows only as fast as they are read, so while a
    piece is assembled the event loop runs between its subjects (here after each one), as
    long as a next piece is being read."""
    await post(client, *(stance_of(n) for n in range(6)))
    await projector.catch_up(conn)
    q = await question.ask(conn, None, None, "disputed")
    monkeypatch.setattr(pages, "YIELD_FACTS", 1)
    pieces: list[list[str]] = []
    select = assembly.select

    async def selecting(conn: Any, subjects: list[str], *args: Any) -> Any:
        pieces.append(subjects)
        return await select(conn, subjects, *args)

    monkeypatch.setattr(assembly, "select", selecting)
    turns = 0  # the event loop's turns so far

    async def counting() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    at: dict[str, int] = {}
    counter = asyncio.ensure_future(counting())
    try:

        def mark(subjects: list[str], *_: Any) -> Iterator[str]:
            for subject in subjects:
                at[subject] = turns
                yield subject

        page = await pages.page_subjects(conn, q, [q.at], "party/", None, 100, 8, mark)
    finally:
        counter.cancel()
    assert page.subjects == [s for p in pieces for s in p]
    within = [pair for p in pieces[:-1] for pair in itertools.pairwise(p)]
    assert within, pieces  # pieces of more than one subject, with a piece after them
    assert all(at[a] < at[b] for a, b in within), (pieces, at)
