"""The processes a bench/bench.py run starts and watches: `annals import`, `annals readmodel
rebuild`, `annals serve`; their peak memory; the read model's size."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Final

import append as ap
import asyncpg
import lean

log = ap.log


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


async def settle(why: str, *urls: str) -> None:
    """Vacuum and analyze each database what the phases before wrote, then write out the
    dirty buffers, before the next timed phase: otherwise autovacuum's pass over a bulk
    load (a gigabyte after an import or the raw COPY) and a checkpoint of gigabytes land on
    whichever phase or slice runs then (report's "What else ran during each phase").
    Untimed: it is the steady state the phases measure, not the bulk load's aftermath."""
    t0 = time.perf_counter()
    for url in urls:
        db = await asyncpg.connect(url)
        try:
            await db.execute("VACUUM (ANALYZE)")
            await db.execute("CHECKPOINT")
        finally:
            await db.close()
    log(f"settled {len(urls)} database(s) {why} in {time.perf_counter() - t0:.1f} s")


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
