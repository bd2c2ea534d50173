"""The write phases of a bench/bench.py run: raw COPY, batch and single appends beside raw
inserts, and the SSE delivery lag."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import time
from collections import Counter
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import append as ap
import asyncpg
import lean
import msgspec
import synth
from basis import Config, Log, summary
from reads import timed_get

from events.append import concerns_rows

log = ap.log


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
                ap.service_side(port, c, time_text) as svc_op,
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
