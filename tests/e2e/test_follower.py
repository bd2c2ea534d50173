"""The read model's follower: a process of its own beside `annals serve`, keeping the read
model up with the log without a question asking, and ending with the service however the
service ends."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from projections.facts import RULES
from service.wiring import EXAMPLE
from tests.conftest import EXAMPLE_EVENTS
from tests.e2e.conftest import ANNALS, Service

FOLLOWER = "service.follower"


def children(pid: int) -> dict[int, str]:
    """The live child processes of `pid` and their command lines (Linux /proc)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = cmdline
    return found


def follower_of(svc: Service) -> int:
    assert svc.proc is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        mine = [p for p, cmd in children(svc.proc.pid).items() if FOLLOWER in cmd]
        if mine:
            assert len(mine) == 1, mine
            return mine[0]
        time.sleep(0.1)
    raise AssertionError(f"no {FOLLOWER} process under annals serve: {svc.log.read_text()}")


def gone(pid: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        if state[state.rindex(")") + 2] == "Z":
            return True
        time.sleep(0.05)
    return False


def read_model_at(db_url: str) -> str:
    done = subprocess.run(
        [ANNALS, "--database-url", db_url, "readmodel", "status"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def post(svc: Service, slug: str) -> int:
    posted = httpx.post(
        f"{svc.url}/v1/events",
        json={"type": "party.registered", "subject": f"party/{slug}", "time": "2025-11-30",
              "data": {"name": slug.title(), "kind": "state"}},
        timeout=15,
    )  # fmt: skip
    assert posted.status_code == 201, posted.text
    sequence: int = posted.json()["sequence"]
    return sequence


def until_followed(db_url: str, sequence: int) -> None:
    """Until the read model holds the log up to `sequence`; no question is asked, so only
    a follower moves it."""
    deadline = time.monotonic() + 20
    while f"at sequence {sequence} of {sequence}" not in (status := read_model_at(db_url)):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)


def settled(db_url: str) -> bool:
    """Whether every read-model table had a VACUUM of its own (not autovacuum's)."""

    async def ask() -> bool:
        conn = await asyncpg.connect(db_url)
        try:
            return bool(
                await conn.fetchval(
                    "SELECT bool_and(last_vacuum IS NOT NULL) FROM pg_stat_user_tables"
                    " WHERE relname IN ('read_facts', 'read_keys', 'read_subjects', 'read_bounds')"
                )
            )
        finally:
            await conn.close()

    return asyncio.run(ask())


def facts_in_heap_order(db_url: str) -> list[tuple[str, str]]:
    """read_facts' (subject, key) in the order the rows lie in the table."""

    async def ask() -> list[tuple[str, str]]:
        conn = await asyncpg.connect(db_url)
        try:
            rows = await conn.fetch("SELECT subject, key FROM read_facts ORDER BY ctid")
            return [(r["subject"], r["key"]) for r in rows]
        finally:
            await conn.close()

    return asyncio.run(ask())


def test_a_rebuild_builds_the_read_model_again_and_settles_it(db_url: str) -> None:
    """`annals readmodel rebuild` empties the read model, builds it from the whole log with
    a progress bar, vacuums the new rows so that the register and bound lookups stay
    index-only scans, and leaves the facts in subject order for pages."""
    imported = subprocess.run(
        [ANNALS, "--database-url", db_url, "import", str(EXAMPLE)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert not settled(db_url), "a small import settles nothing"
    appended = facts_in_heap_order(db_url)
    assert appended != sorted(appended), "the log's order is not the subjects' order"
    rebuilt = subprocess.run(
        [ANNALS, "--database-url", db_url, "readmodel", "rebuild"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert f"read model rebuilt: {EXAMPLE_EVENTS} events under rules {RULES}" in rebuilt.stderr
    assert f"at sequence {EXAMPLE_EVENTS} of {EXAMPLE_EVENTS}" in read_model_at(db_url)
    assert settled(db_url)
    rebuilt_facts = facts_in_heap_order(db_url)
    assert rebuilt_facts == sorted(rebuilt_facts)
    assert len(rebuilt_facts) == len(appended)


def test_verify_checks_the_read_model_against_the_replay_and_fails_when_they_differ(
    db_url: str,
) -> None:
    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ANNALS, "--database-url", db_url, "readmodel", "verify", "--subjects", "0"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    imported = subprocess.run(
        [ANNALS, "--database-url", db_url, "import", str(EXAMPLE)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    sound = verify()
    assert sound.returncode == 0, sound.stderr
    assert "the read model equals the replay of the log" in " ".join(sound.stderr.split())

    async def damage() -> None:
        conn = await asyncpg.connect(db_url)
        try:
            await conn.execute("UPDATE read_facts SET value = NULL WHERE key <> ''")
        finally:
            await conn.close()

    asyncio.run(damage())
    damaged = verify()
    assert damaged.returncode == 1, damaged.stderr
    said = " ".join(damaged.stderr.split())
    assert "differs party/" in said and "annals readmodel rebuild" in said, said


def test_a_follower_that_dies_is_started_again(db_url: str, tmp_path: Path) -> None:
    svc = Service(["--database-url", db_url], tmp_path / "annals.log").start()
    try:
        first = follower_of(svc)
        until_followed(db_url, post(svc, "tuvalu"))
        os.kill(first, signal.SIGKILL)
        assert gone(first)
        second = follower_of(svc)
        assert second != first
        until_followed(db_url, post(svc, "palau"))
        assert "read model follower exited" in svc.log.read_text()
    finally:
        svc.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_the_follower_keeps_the_read_model_and_ends_with_the_service(
    db_url: str, tmp_path: Path, sig: signal.Signals
) -> None:
    svc = Service(["--database-url", db_url], tmp_path / "annals.log").start()
    try:
        follower = follower_of(svc)
        until_followed(db_url, post(svc, "nauru"))
        svc.stop(sig)
        assert gone(follower), f"the follower outlived annals serve ({sig.name})"
    finally:
        svc.stop()


def test_an_import_builds_the_read_model_beside_its_appends(db_url: str, tmp_path: Path) -> None:
    """A long import runs a follower while it appends (the read model is built on another
    core), and ends with the read model holding every event it appended."""
    lines = tmp_path / "many.ndjson"
    with lines.open("w") as f:
        for n in range(30_000):
            f.write(
                f'{{"id": "imp-{n}", "type": "position.stated", "subject": "party/p{n % 50}",'
                f' "time": "2025-11-{1 + n % 28:02d}", "data": {{"on": "issue/i{n % 20}",'
                ' "stance": "supports"}}\n'
            )
    importing = subprocess.Popen(
        [ANNALS, "--database-url", db_url, "import", str(lines)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        seen: set[int] = set()
        while importing.poll() is None:
            seen |= {p for p, cmd in children(importing.pid).items() if FOLLOWER in cmd}
            time.sleep(0.05)
        assert importing.returncode == 0, importing.stderr.read() if importing.stderr else ""
        assert seen, "no follower ran beside the import"
        assert all(gone(p) for p in seen), "a follower outlived the import"
        assert "at sequence 30000 of 30000" in read_model_at(db_url)
        assert settled(db_url), "a bulk import leaves the read model's new rows unvacuumed"
    finally:
        if importing.poll() is None:
            importing.kill()
            importing.wait()


def test_ctrl_c_stops_the_service_and_its_follower_quietly(db_url: str, tmp_path: Path) -> None:
    """Ctrl-C signals the whole process group: the follower waits for its service process
    to stop it, rather than ending first and being taken for a crashed one."""
    log = tmp_path / "annals.log"
    svc = Service(["--database-url", db_url], log)
    with log.open("ab") as f:  # a session of its own: the group's SIGINT spares pytest
        svc.proc = subprocess.Popen(
            [
                ANNALS,
                "--database-url",
                db_url,
                "--data-dir",
                str(tmp_path),
                "serve",
                "--port",
                str(svc.port),
            ],
            stdout=f,
            stderr=f,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 60
        while not ready(svc):
            assert time.monotonic() < deadline and svc.proc.poll() is None, log.read_text()
            time.sleep(0.2)
        follower = follower_of(svc)
        os.killpg(svc.proc.pid, signal.SIGINT)
        svc.proc.wait(timeout=30)
        assert gone(follower)
        assert "follower exited" not in log.read_text(), log.read_text()
    finally:
        svc.stop()


def ready(svc: Service) -> bool:
    try:
        return httpx.get(f"{svc.url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
