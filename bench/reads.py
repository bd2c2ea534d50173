"""The read phases of a bench/bench.py run: one subject's state, pages of states, diffs and
timelines, a whole walk, over HTTP."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import gc
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Final

import append as ap
import asyncpg
import lean
import msgspec
import synth
from basis import Config, Log, summary
from processes import vm_kib

log = ap.log


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
