"""Crash safety: SIGKILL the service under concurrent appends, five times, and restart it.

An acknowledged event is a durable event (the writer answers only after its commit), and
a client that lost its answer in the crash re-posts the same ids: the log must end up
holding every acknowledged event exactly once, at the sequence and hash it was
acknowledged with, with no gaps and an intact chain.
"""

from __future__ import annotations

import itertools
import random
import signal
import threading
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import Service
from tests.e2e.load import Appender, Recorder, all_acked, audit, read_log, verify

CLIENTS = 8
KILLS = 5
SEED = 20261127
DEADLINE = 90.0  # seconds for the whole run; it takes about 15


def test_sigkill_under_load_loses_and_duplicates_nothing(db_url: str, tmp_path: Path) -> None:
    svc = Service(["--database-url", db_url], tmp_path / "annals.log").start()
    try:
        deadline = time.monotonic() + DEADLINE
        recorder, stop = Recorder(), threading.Event()
        clients = [
            Appender(
                c,
                svc.url,
                recorder,
                stop,
                at_least=40,
                at_most=5_000,
                deadline=deadline,
                pause=0.05,
            )
            for c in range(CLIENTS)
        ]
        for c in clients:
            c.start()
        rng = random.Random(SEED)
        kills: list[int] = []  # events acknowledged when each kill struck
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.5, 1.5))
            kills.append(sum(len(c.acked) for c in clients))
            svc.stop(signal.SIGKILL)
            svc.start()  # the same port: Service chose it once
        stop.set()
        for c in clients:
            c.join(timeout=max(1.0, deadline - time.monotonic()))
        assert not any(c.is_alive() for c in clients), "clients still running at the deadline"
        failures = [f for c in clients for f in c.failures]
        assert not failures, failures[:5]

        # the service still appends after its last crash
        after = httpx.post(
            f"{svc.url}/v1/events",
            json={"id": "after-the-crashes", "type": "x-load", "time": "2025-12-01", "data": {}},
            timeout=15,
        )
        assert after.status_code == 201, after.text
        acked = all_acked(clients)
        acked["after-the-crashes"] = (after.json()["sequence"], after.json()["hash"])

        log = read_log(svc.url)
        result = audit(acked, log)
        replies = recorder.snapshot()
        unanswered = sum(1 for r in replies if r.status is None)
        print(
            f"\ncrash: kills={KILLS} (at {kills} acknowledged) {result.line()} "
            f"posts={sum(c.posts for c in clients)} "
            f"retries={sum(c.retries for c in clients)} (no answer: {unanswered}, "
            f"503: {sum(1 for r in replies if r.status == 503)}) "
            f"already-stored-on-retry={sum(c.already for c in clients)}"
        )
        assert result.ok, result
        assert all(k2 > k1 for k1, k2 in itertools.pairwise([0, *kills])), (
            f"some kill struck an idle service: {kills}"
        )
        # every client's events are all there, in its own order
        for c in clients:
            mine = [e["data"]["n"] for e in log if e["id"].startswith(f"c{c.number}-")]
            assert mine == list(range(len(c.acked))), f"client {c.number}"
        bad = [r for r in replies if r.status not in (None, 200, 201, 503)]
        assert not bad, bad[:5]
        assert all(r.retry_after for r in replies if r.status == 503)
    finally:
        svc.stop()

    verified = verify(db_url)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"ok: {len(log)} events" in verified.stdout
