"""The `annals` command as a process: restart keeps data, import is idempotent, verify."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import asyncpg
import httpx

from service.embedded import MB, memory_settings, ram_bytes
from service.wiring import EXAMPLE
from tests.conftest import EXAMPLE_EVENTS
from tests.e2e.conftest import ANNALS, Service
from tests.prometheus import samples, value


def annals(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ANNALS, *args], capture_output=True, text=True, timeout=120, check=False)


def test_a_restart_keeps_the_data(tmp_path: Path) -> None:
    svc = Service(["--data-dir", str(tmp_path / "data")], tmp_path / "annals.log").start()
    try:
        body = {"id": "keep-me", "type": "x-note", "time": "2025-12-01", "data": {"n": 1}}
        posted = httpx.post(f"{svc.url}/v1/events", json=body, timeout=10)
        assert posted.status_code == 201
    finally:
        svc.stop()
    svc.start()
    try:
        again = httpx.get(f"{svc.url}/v1/events/keep-me", timeout=10)
        assert again.status_code == 200
        assert again.json()["hash"] == posted.json()["hash"]
    finally:
        svc.stop()


def test_sigterm_exits_cleanly_and_stops_the_embedded_database(tmp_path: Path) -> None:
    """uvicorn re-raises the SIGTERM it caught after its graceful shutdown: unless the
    service turns it into a normal exit, atexit hooks never run and the embedded
    PostgreSQL outlives the service (one leaked server per stop)."""
    pgdata = tmp_path / "data" / "pgdata"
    svc = Service(["--data-dir", str(tmp_path / "data")], tmp_path / "annals.log").start()
    assert (pgdata / "postmaster.pid").exists()
    proc = svc.proc
    assert proc is not None
    svc.stop()
    assert proc.returncode == 128 + 15, svc.log.read_text()
    # PostgreSQL removes postmaster.pid when it has shut down.
    assert not (pgdata / "postmaster.pid").exists(), "the embedded PostgreSQL is still running"


def test_the_embedded_database_runs_with_memory_sized_to_the_machine(tmp_path: Path) -> None:
    """PostgreSQL's default of 128 MB of shared buffers reads a 1M-event read model from
    the OS's cache a page at a time; the embedded server gets a quarter of memory, from its
    first start on, and still stops with the service after the restart that applies it."""
    pgdata = tmp_path / "data" / "pgdata"
    svc = Service(["--data-dir", str(tmp_path / "data")], tmp_path / "annals.log").start()
    try:
        url = f"postgresql://postgres@/postgres?host={pgdata}"
        running = asyncio.run(_settings(url, list(memory_settings(ram_bytes()))))
    finally:
        svc.stop()
    assert running == {k: _bytes(v) for k, v in memory_settings(ram_bytes()).items()}
    assert not (pgdata / "postmaster.pid").exists(), "the embedded PostgreSQL is still running"


async def _settings(url: str, names: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT name, pg_size_bytes(current_setting(name)) AS b FROM pg_settings"
            " WHERE name = ANY($1)",
            names,
        )
    finally:
        await conn.close()
    return {r["name"]: r["b"] for r in rows}


def _bytes(text: str) -> int:
    return int(text.removesuffix("MB")) * MB


def _young_collections(url: str) -> float:
    """The service process's collections of the youngest generation so far (/metrics:
    prometheus_client's python_gc_collections_total)."""
    r = httpx.get(f"{url}/metrics", timeout=10)
    assert r.status_code == 200, r.text
    found = samples(r.text)
    name, labels = "python_gc_collections_total", {"generation": "0"}
    assert (name, frozenset(labels.items())) in found, f"{name} is not in /metrics"
    return value(found, name, **labels)


def test_a_service_process_settles_its_garbage_collector(db_url: str, tmp_path: Path) -> None:
    """Once started, the service collects its young generation when 20,000 more objects
    have been made than freed, not Python's 700 (service/runtime.py): 1,280 appends from
    32 clients at once cost at most 4 such collections (none seen; 17 to 33 at Python's
    default). Started without --load-example, whose command settles the process first."""
    service = Service(["--database-url", db_url], tmp_path / "annals.log").start()

    def post(client: int) -> None:
        with httpx.Client(base_url=service.url, timeout=30) as c:
            for n in range(40):
                r = c.post("/v1/events", json={
                    "specversion": "1.0", "type": "party.registered", "source": "/gc",
                    "subject": f"party/gc-{client}-{n}", "time": "2025-11-27",
                    "data": {"name": "GC", "kind": "organization"},
                })  # fmt: skip
                assert r.status_code == 201, r.text

    try:
        before = _young_collections(service.url)
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(post, range(32)))
        assert _young_collections(service.url) - before <= 4
    finally:
        service.stop()


def test_import_is_idempotent_and_verify_passes(db_url: str) -> None:
    first = annals("--database-url", db_url, "import", str(EXAMPLE))
    assert first.returncode == 0, first.stderr
    assert f"{EXAMPLE_EVENTS} appended, 0 already stored" in first.stderr
    second = annals("--database-url", db_url, "import", str(EXAMPLE))
    assert f"0 appended, {EXAMPLE_EVENTS} already stored" in second.stderr
    verified = annals("--database-url", db_url, "verify")
    assert verified.returncode == 0
    assert f"ok: {EXAMPLE_EVENTS} events" in verified.stdout


def test_state_and_diff_commands_answer(db_url: str) -> None:
    annals("--database-url", db_url, "import", str(EXAMPLE))
    st = annals(
        "--database-url", db_url, "state", "--at", "2025-11-28",
        "--subject", "plan/us-28-point-plan", "--json",
    )  # fmt: skip
    assert st.returncode == 0, st.stderr
    plan = json.loads(st.stdout)
    assert plan["points"] == 22 and plan["classified"] is False
    table = annals("--database-url", db_url, "state", "--at", "2025-11-28")
    assert table.returncode == 0
    assert all(title in table.stdout for title in ("Parties", "Plans", "Meetings", "Issues"))
    diff = annals(
        "--database-url", db_url, "diff", "--from", "2025-11-26", "--to", "2025-11-30", "--json"
    )
    changes = json.loads(diff.stdout)["changes"]
    assert any(
        c["subject"] == "plan/us-updated-settlement-proposal"
        and c["field"] == "classified"
        and c["after"] is True
        for c in changes
    )
    stances = [c for c in changes if c["field"].startswith(("stances.", "positions."))]
    assert stances and all(c["after"] is None or "stance" in c["after"] for c in stances)
    table = annals("--database-url", db_url, "diff", "--from", "2025-11-26", "--to", "2025-11-30")
    assert table.returncode == 0, table.stderr
    assert stances[0]["field"].partition("/")[0] in table.stdout  # the table cuts long cells


def test_state_and_diff_commands_walk_pages_of_the_configured_facts(db_url: str) -> None:
    """`annals state` and `annals diff` end a page by ANNALS_PAGE_FACTS, as the service does."""
    annals("--database-url", db_url, "import", str(EXAMPLE))
    small = {**os.environ, "ANNALS_PAGE_FACTS": "20"}
    for args in (
        ("state", "--at", "2025-11-28"),
        ("diff", "--from", "2025-11-01", "--to", "2025-11-30"),
    ):
        run = subprocess.run(
            [ANNALS, "--database-url", db_url, *args, "--json"],
            capture_output=True, text=True, timeout=120, check=False, env=small,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        pages = [json.loads(line) for line in run.stdout.splitlines()]
        assert len(pages) > 1 and pages[-1]["next"] is None, (args, len(pages))


def test_a_bad_question_on_the_command_line_is_named_without_a_traceback(db_url: str) -> None:
    annals("--database-url", db_url, "import", str(EXAMPLE))
    for args, named in (
        (("state", "--known-at", "soon"), "known_at"),
        (("state", "--limit", "0"), "limit"),
        (("diff", "--from", "junk", "--to", "2025-11-30"), "from"),
        (("state", "--at", "2025-11-28"), None),
    ):
        run = annals("--database-url", db_url, *args)
        if named is None:
            assert run.returncode == 0, run.stderr
            continue
        assert run.returncode == 2 and "Traceback" not in run.stderr, (args, run.stderr)
        assert named in run.stderr, (args, run.stderr)


def test_import_of_a_bad_file_names_the_line_and_keeps_what_came_before(
    db_url: str, tmp_path: Path
) -> None:
    """An import commits as it goes (so a re-run resumes): a bad line stops it, the lines
    before it stay stored, and nothing after it is."""
    bad = tmp_path / "bad.ndjson"
    bad.write_text(
        '{"id":"a","type":"x-n","time":"2025","data":1}\n{"id":"b","type":"nope","time":"2025"}\n'
        '{"id":"c","type":"x-n","time":"2025","data":3}\n'
    )
    done = annals("--database-url", db_url, "import", str(bad))
    assert done.returncode == 1
    assert "line 2" in done.stderr
    assert "Stored before it: lines 1-1 (1 appended, 0 already there)" in done.stderr
    verified = annals("--database-url", db_url, "verify")
    assert "ok: 1 events" in verified.stdout


def test_an_export_imported_into_an_empty_database_reproduces_the_same_chain(
    db_url: str, second_db: str, tmp_path: Path
) -> None:
    annals("--database-url", db_url, "import", str(EXAMPLE))
    exported = tmp_path / "log.ndjson"
    done = annals("--database-url", db_url, "export", "--format", "ndjson", "-o", str(exported))
    assert done.returncode == 0, done.stderr
    # Lines that do not extend the target's chain where they stood are refused, whole.
    gap = tmp_path / "gap.ndjson"
    gap.write_bytes(b"".join(exported.read_bytes().splitlines(keepends=True)[1:]))
    clash = annals("--database-url", second_db, "import", str(gap))
    assert clash.returncode == 1
    assert "exported as sequence 2, but this log's next is 1" in clash.stderr
    assert "ok: 0 events" in annals("--database-url", second_db, "verify").stdout
    restored = annals("--database-url", second_db, "import", str(exported))
    assert f"{EXAMPLE_EVENTS} appended" in restored.stderr, restored.stderr
    again = tmp_path / "again.ndjson"
    annals("--database-url", second_db, "export", "--format", "ndjson", "-o", str(again))
    assert again.read_bytes() == exported.read_bytes()  # same sequences, times and hashes
    assert annals("--database-url", second_db, "verify").returncode == 0


def test_exports_in_every_format_from_the_cli(db_url: str, tmp_path: Path) -> None:
    annals("--database-url", db_url, "import", str(EXAMPLE))
    tjs, ics = tmp_path / "t.json", tmp_path / "m.ics"
    for fmt, out in (("timelinejs", tjs), ("ics", ics)):
        done = annals("--database-url", db_url, "export", "--format", fmt, "-o", str(out))
        assert done.returncode == 0, done.stderr
    doc = json.loads(tjs.read_text())
    assert len(doc["events"]) == EXAMPLE_EVENTS and doc["events"][0]["unique_id"] == "pt25-001"
    assert "UID:meeting/moscow-2025-12-02@annals" in ics.read_text()
