"""Heavy readers against a live service, while it takes writes and health checks.

A log of a few thousand events with big `x-` payloads; then at once: full NDJSON exports,
readers paging /v1/events with limit=1000, and /v1/verify, each run a bounded number of
times, against one writer posting events and one client asking /healthz. Reads past the
budget get 503 with Retry-After (and come back); writes and health checks must all succeed.
Latencies are printed, not held to a tight bound: speed belongs to the benchmarks.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from tests.e2e.conftest import Service

EVENTS = 3_000
PAYLOAD = 24_000  # characters of x- data per event: about 72 MB of data in all
EXPORTERS, PAGERS, VERIFIERS = 3, 2, 1
RUNS = 2  # each reader reads the whole log this many times
DEADLINE = 240.0  # seconds for the readers; it takes well under that
BOUND = 2.0  # seconds: a generous bound on the median of health checks and posts


def load(base: str) -> None:
    """The log, through POST /v1/import (streamed NDJSON)."""

    def lines() -> Any:
        for n in range(EVENTS):
            event = {
                "id": f"big-{n}",
                "type": "x-big",
                "time": "2025-11-27",
                "data": {"n": n, "text": "x" * PAYLOAD},
            }
            yield msgspec.json.encode(event) + b"\n"

    r = httpx.post(
        f"{base}/v1/import",
        content=lines(),
        headers={"content-type": "application/x-ndjson"},
        timeout=300,
    )
    assert r.status_code in (200, 201), r.text


class Timings:
    """Latencies and statuses of one kind of request, from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds: list[float] = []
        self.statuses: list[int | str] = []

    def add(self, seconds: float, status: int | str) -> None:
        with self._lock:
            self.seconds.append(seconds)
            self.statuses.append(status)

    def line(self, name: str) -> str:
        s = sorted(self.seconds)
        if not s:
            return f"{name}: none"
        p95 = s[min(len(s) - 1, int(len(s) * 0.95))]
        return (
            f"{name}: n={len(s)} median={statistics.median(s) * 1000:.0f} ms "
            f"p95={p95 * 1000:.0f} ms max={s[-1] * 1000:.0f} ms"
        )


def read_with_retry(
    client: httpx.Client, busy: list[float], fn: Callable[[httpx.Client], bool]
) -> None:
    """Run one heavy read; on 503 wait Retry-After and try again (each refusal counted)."""
    while True:
        try:
            if fn(client):
                return
        except httpx.HTTPStatusError as e:
            if e.response.status_code != 503:
                raise
            busy.append(time.monotonic())
            time.sleep(float(e.response.headers.get("retry-after", "1")))


def export(client: httpx.Client) -> bool:
    lines = 0
    with client.stream("GET", "/v1/export/events.ndjson") as r:
        r.raise_for_status()
        for _ in r.iter_lines():
            lines += 1
    assert lines >= EVENTS, lines
    return True


def page_through(client: httpx.Client) -> bool:
    after, seen = 0, 0
    while True:
        r = client.get("/v1/events", params={"after": after, "limit": 1000})
        r.raise_for_status()
        body = r.json()
        seen += len(body["events"])
        if body["next"] is None:
            assert seen >= EVENTS
            return True
        after = int(body["next"])


def verify(client: httpx.Client) -> bool:
    r = client.get("/v1/verify")
    r.raise_for_status()
    assert r.json()["ok"] is True
    return True


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """The process's resident set now (VmRSS) or at its peak (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def test_writes_and_health_checks_stay_up_under_heavy_reads(db_url: str, tmp_path: Path) -> None:
    svc = Service(["--database-url", db_url], tmp_path / "annals.log").start()
    try:
        t0 = time.monotonic()
        load(svc.url)
        print(f"\nloaded {EVENTS} events of {PAYLOAD} characters in {time.monotonic() - t0:.1f} s")
        assert svc.proc is not None
        pid = svc.proc.pid
        rss_before = rss_mb(pid)
        rss: list[float] = []

        stop = threading.Event()
        health, posts = Timings(), Timings()
        busy: list[float] = []
        failures: list[str] = []

        def guarded(fn: Callable[[], None], name: str) -> Callable[[], None]:
            def run() -> None:
                try:
                    fn()
                except Exception as e:  # a failure in a thread must fail the test
                    failures.append(f"{name}: {e!r}")

            return run

        def reader(fn: Callable[[httpx.Client], bool]) -> Callable[[], None]:
            def run() -> None:
                with httpx.Client(base_url=svc.url, timeout=120) as c:
                    for _ in range(RUNS):
                        read_with_retry(c, busy, fn)

            return run

        def ask_health() -> None:
            with httpx.Client(base_url=svc.url, timeout=15) as c:
                while not stop.is_set():
                    t = time.monotonic()
                    r = c.get("/healthz")
                    health.add(time.monotonic() - t, r.status_code)
                    rss.append(rss_mb(pid))
                    time.sleep(0.1)

        def post() -> None:
            with httpx.Client(base_url=svc.url, timeout=15) as c:
                n = 0
                while not stop.is_set():
                    body = {"id": f"w-{n}", "type": "x-note", "time": "2025-12-01", "data": {}}
                    t = time.monotonic()
                    r = c.post("/v1/events", json=body)
                    posts.add(time.monotonic() - t, r.status_code)
                    n += 1
                    time.sleep(0.05)

        readers = [
            threading.Thread(target=guarded(reader(fn), name), name=name)
            for fn, name, count in (
                (export, "export", EXPORTERS),
                (page_through, "pages", PAGERS),
                (verify, "verify", VERIFIERS),
            )
            for _ in range(count)
        ]
        background = [
            threading.Thread(target=guarded(ask_health, "healthz"), daemon=True),
            threading.Thread(target=guarded(post, "post"), daemon=True),
        ]
        for t in background:
            t.start()
        time.sleep(1.0)  # a second of quiet figures first
        quiet = (list(health.seconds), list(posts.seconds))
        t0 = time.monotonic()
        for t in readers:
            t.start()
        for t in readers:
            t.join(max(0.0, DEADLINE - (time.monotonic() - t0)))
        loaded = time.monotonic() - t0
        stop.set()
        for t in background:
            t.join(20)

        print(
            f"{len(readers)} heavy readers ({EXPORTERS} exports, {PAGERS} pagers, "
            f"{VERIFIERS} verify; {RUNS} runs each) took {loaded:.1f} s; "
            f"503 busy answers: {len(busy)}"
        )
        print(health.line("GET /healthz"))
        print(posts.line("POST /v1/events"))
        print(
            f"quiet second before: healthz max {max(quiet[0], default=0) * 1000:.0f} ms, "
            f"post max {max(quiet[1], default=0) * 1000:.0f} ms"
        )
        print(
            f"service RSS: {rss_before:.0f} MB before the readers, at most {max(rss):.0f} MB "
            f"while they read (sampled with each health check)"
        )
        assert not any(t.is_alive() for t in readers), "readers did not finish in time"
        assert failures == []
        assert health.statuses and set(health.statuses) == {200}
        assert posts.statuses and set(posts.statuses) == {201}
        assert statistics.median(health.seconds) < BOUND
        assert statistics.median(posts.seconds) < BOUND
    finally:
        svc.stop()


def test_an_export_holds_its_place_until_the_client_goes_away(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One place, no queue: while a client reads an export slowly, other heavy reads get
    503; once it hangs up, the place is free again (the stream is closed, not leaked)."""
    monkeypatch.setenv("ANNALS_HEAVY_READS", "1")
    monkeypatch.setenv("ANNALS_HEAVY_QUEUE", "0")
    monkeypatch.setenv("ANNALS_PAGE_BYTES", "65536")
    svc = Service(["--database-url", db_url], tmp_path / "annals.log").start()
    try:
        body = b"".join(
            msgspec.json.encode(
                {"id": f"e{n}", "type": "x-big", "time": "2025-11-27", "data": "x" * 100_000}
            )
            + b"\n"
            for n in range(800)
        )
        r = httpx.post(
            f"{svc.url}/v1/import",
            content=body,
            headers={"content-type": "application/x-ndjson"},
            timeout=120,
        )
        assert r.status_code in (200, 201), r.text
        with httpx.Client(base_url=svc.url, timeout=30) as c:
            with c.stream("GET", "/v1/export/events.ndjson") as slow:
                assert slow.status_code == 200
                # One chunk, then it stops reading. The iterator is kept: once collected,
                # httpx closes the connection, which is the client going away.
                chunks = slow.iter_bytes()
                next(chunks)
                refused = c.get("/v1/events")
                print(f"\nwhile the export is open: /v1/events -> {refused.status_code}")
                assert refused.status_code == 503
                assert refused.headers["retry-after"] == "2"
                assert c.get("/healthz").status_code == 200
            deadline = time.monotonic() + 10
            while (r := c.get("/v1/events")).status_code == 503:
                assert time.monotonic() < deadline, "the place was not given back"
                time.sleep(0.1)
            print(f"after the client hung up: /v1/events -> {r.status_code}")
            assert r.status_code == 200
    finally:
        svc.stop()
