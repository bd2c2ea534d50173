"""The peer: the `eventsourcing` library (PyPI) with its PostgreSQL module, same server.

Plain (POPO) aggregates, `eventsourcing.postgres` persistence configured through the
environment the library documents (PERSISTENCE_MODULE, POSTGRES_*), no snapshotting (its
default): what a team reaching for the usual Python library would get.

Measured: appends with one event a save (sequentially, then from 4 threads, each thread
its own aggregate) and point-in-time reconstruction `repository.get(id, version=N)` of an
aggregate with `big` events.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event


class Dossier(Aggregate):
    """A subject's file: a name and the positions noted on it (like a party's state)."""

    @event("Opened")
    def __init__(self, name: str) -> None:
        self.name = name
        self.notes = 0
        self.positions: dict[str, str] = {}

    @event("Noted")
    def note(self, on: str, stance: str) -> None:
        self.notes += 1
        self.positions[on] = stance


class Desk(Application[UUID]):
    """The application holding dossiers."""


def env_for(url: str, port: int) -> dict[str, str]:
    """The library's settings for a PostgreSQL URL (the embedded server's is a Unix socket:
    libpq takes its directory as the host, and the port names the socket file)."""
    u = urlsplit(url)
    host = parse_qs(u.query).get("host", [u.hostname or "127.0.0.1"])[0]
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": u.path.lstrip("/"),
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(u.port or port),
        "POSTGRES_USER": unquote(u.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(u.password or ""),
        "POSTGRES_POOL_SIZE": "8",
    }


def _percentiles(lat: list[float]) -> tuple[float, float]:
    lat = sorted(lat)
    if not lat:
        return float("nan"), float("nan")

    def at(p: float) -> float:
        return lat[max(0, min(len(lat) - 1, int(-(-p * len(lat) // 1)) - 1))] * 1e3

    return at(0.50), at(0.99)


def appends(
    app: Desk, threads: int, target: int, cap_s: float, log: Callable[[str], None]
) -> dict[str, Any]:
    """`target` one-event saves over `threads` threads (each its own aggregate), or cap_s."""
    lat: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    done = 0
    deadline = time.perf_counter() + cap_s

    def work(k: int) -> None:
        nonlocal done
        d = Dossier(f"dossier-{threads}-{k}")
        app.save(d)
        i = 0
        while time.perf_counter() < deadline:
            with lock:
                if done >= target:
                    return
                done += 1
            d.note(f"issue/i{i % 50}", "supports")
            t0 = time.perf_counter()
            try:
                app.save(d)
            except Exception as e:  # counted, never fatal
                with lock:
                    errors.append(f"{type(e).__name__}: {e}"[:200])
                return
            with lock:
                lat.append(time.perf_counter() - t0)
            i += 1

    start = time.perf_counter()
    pool = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    seconds = time.perf_counter() - start
    p50, p99 = _percentiles(lat)
    out = {
        "threads": threads,
        "events": len(lat),
        "seconds": round(seconds, 2),
        "events_per_s": len(lat) / seconds if seconds else 0.0,
        "p50_ms": p50,
        "p99_ms": p99,
        "capped": len(lat) < target,
        "errors": errors[:5],
    }
    log(
        f"peer append, {threads} thread(s): {len(lat):,} events in {seconds:.1f} s = "
        f"{out['events_per_s']:,.0f}/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms"
    )
    return out


def reconstruction(
    app: Desk, big: int, samples: int, cap_s: float, seed: int, log: Callable[[str], None]
) -> dict[str, Any]:
    """Build an aggregate of `big` events (1,000 a save), then time get(id, version=N)."""
    d = Dossier("big")
    t0 = time.perf_counter()
    for i in range(1, big):  # `big` events with the creation event
        d.note(f"issue/i{i % 500}", "supports" if i % 3 else "opposes")
        if i % 1_000 == 0:
            app.save(d)
        if i % 20_000 == 0:
            log(f"peer: building a {big:,}-event aggregate: {i:,} events")
    app.save(d)
    build_s = time.perf_counter() - t0
    rng = random.Random(seed)
    lat: list[float] = []
    deadline = time.perf_counter() + cap_s
    versions = [big] + [rng.randrange(big // 2, big + 1) for _ in range(samples - 1)]
    for v in versions:
        t0 = time.perf_counter()
        got: Dossier = app.repository.get(d.id, version=v)
        lat.append(time.perf_counter() - t0)
        if got.version != v:
            raise RuntimeError(f"peer: asked version {v}, got {got.version}")
        if time.perf_counter() > deadline:
            break
    p50, p99 = _percentiles(lat)
    log(f"peer: get(version=N) of a {big:,}-event aggregate: p50 {p50:,.0f} ms ({len(lat)} runs)")
    return {
        "events": big,
        "build_seconds": round(build_s, 2),
        "build_events_per_s": big / build_s if build_s else 0.0,
        "samples": len(lat),
        "p50_ms": p50,
        "p99_ms": p99,
    }


def run(
    url: str, port: int, quick: bool, cap_s: float, log: Callable[[str], None]
) -> dict[str, Any]:
    """Every peer measurement against the database at `url`."""
    app = Desk(env=env_for(url, port))
    try:
        n = 1_000 if quick else 10_000
        out: dict[str, Any] = {"library": "eventsourcing", "version": _version()}
        out["sequential"] = appends(app, 1, n, cap_s, log)
        out["threads4"] = appends(app, 4, n, cap_s, log)
        big = 10_000 if quick else 100_000
        out["reconstruction"] = reconstruction(app, big, 3 if quick else 7, cap_s * 3, 5, log)
        return out
    finally:
        app.close()


def _version() -> str:
    from importlib.metadata import version

    return version("eventsourcing")
