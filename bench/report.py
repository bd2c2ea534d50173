"""The Markdown of a bench/bench.py run: figures, ratios and the targets of issues 5 and 10."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parent.parent
DOC: Final = ROOT / "docs" / "PERFORMANCE.md"
START: Final = "<!-- bench:start -->"
END: Final = "<!-- bench:end -->"


def f(x: Any, digits: int = 0) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:,.{digits}f}"


def ratio(a: Any, b: Any, digits: int = 2) -> float:
    try:
        r = float(a) / float(b)
    except (TypeError, ValueError, ZeroDivisionError):
        return math.nan
    return round(r, digits) if math.isfinite(r) else math.nan


def _by(rows: list[dict[str, Any]], **want: Any) -> dict[str, Any]:
    for r in rows:
        if all(r.get(k) == v for k, v in want.items()):
            return r
    return {}


# The single-append ratio (64 clients / raw inserts) of the last run before the read model
# (docs/PERFORMANCE.md, 2026-11-27 00:36 UTC): issue 10 asks for no lower.
APPEND64_BEFORE: Final = 0.37

# Why a target is missed and what would close it (from profiles of the service; see the
# closing notes of issues 5 and 10). Keyed as in targets().
WHY: Final = {
    "append64_raw": "the one service process is busy: ~165 µs of a core per request at 64 "
    "clients (py-spy, 2026-12-02: the writer's group transaction ~40 % of its samples, "
    "uvicorn's HTTP ~12 %, Litestar's entry ~10 %, parsing, validation and hashing ~10 %, "
    "the handler and middleware ~13 %), where a raw INSERT costs ~85 µs of PostgreSQL's "
    "and ~45 µs of its client's. In place: "
    "the lean append path, the follower in a process of its own, the garbage collector "
    "settled after start-up (service/runtime.py). Measured and not kept: two groups in "
    "flight per process (slower: the groups halve, the core stays busy), the writer on a "
    "thread of its own (no faster), a commit delay gathering small groups (no faster), a "
    "second worker process (the writers take turns at the one lock and their groups halve; "
    "SCALING.md). The service path at raw inserts' rate would keep more cores busy than "
    "the machine has (the cores row below): raw inserts need the client and PostgreSQL "
    "only, a request adds HTTP, validation and the hash chain on top of the log's "
    "indexes. Would close it: more cores, or less Python per request than an ASGI stack's",
    "append64_before": "the raw baseline moves more between runs than the service does "
    "(compare both rates with the run before's); within one run bench/append.py measures "
    "the code before the read model at the same ratio to raw as today's "
    '("Last run of bench/append.py")',
    "append64_peer": "as for the raw baseline above",
    "batch": "per batch of 2,000 events the writer does in series, under the lock: the "
    "prefetch (~18 ms), the acceptance (~47 ms of Python: chain, rows), the COPY into "
    "`events` and its seven indexes (~65 ms) and the `event_concerns` rows with the commit "
    "(~90 ms), profiled with PostgreSQL's default buffers; the database's part alone then "
    "capped an import near 11,000 events/s, about 0.2x of the baseline, which lacks those "
    "indexes and rows (the embedded server's larger buffers took the import from 3,100 to "
    "4,400 events/s). The database alone, taking finished rows into the log's own "
    'tables with no service in front, reaches the ratio of the row "the database alone" '
    "below: a bulk path cannot pass it, so the target needs fewer indexes on `events` "
    "(each one answers a read: ids, valid time, recorded time, targets) or a faster machine",
    "import": "as for batch append (an import's event loop waits on the database 57 % of "
    "its time), plus the read model's catch-up the import ends with",
    "import_rss": "something per event kept for the whole import",
    "sse": "the one service process saturates: each event costs it the append, the "
    'projector\'s work and the stream message; see "Where the read time goes" below',
    "subject": "for the realistic party (200 register keys, 500 rows a key), one "
    "index-only scan of its 600 latest rows in `read_facts_recent` and a descent for each "
    "key not among them, one more per subject for its bound as known then with `known_at`, "
    "two round trips a question (head and status; the facts, folded events with them) and "
    "~0.7 ms of HTTP. Asked in turn on one service, the same party as known now and as "
    "known then take the same time (p50 3.8 and 4.0 ms); between runs the p50 moves with "
    'the machine; see "Where the read time goes" below',
    "subject_cold": "a cold question is two round trips and little else (in-process: under a "
    "millisecond of SQL); a p99 far above its p50 is a few requests in 300 that waited for "
    'the shared cores; see "Where the read time goes" below',
    "hot_vs_cold": "the hot party's 200 registers (its 600 latest rows read and sorted by "
    "key, a descent for each key not among them, 200 stances sent) against a cold party's "
    "few, read by one scan of its rows; a cold answer is little "
    'more than its fixed cost (two round trips and HTTP, ~1.5 ms); see "Where the read time '
    'goes" below',
    "page": "a page costs what its answer holds (1.7 MB of JSON at the median at 1M, a "
    "diff page up to 7 MB), and one service process assembles it on one core while "
    "PostgreSQL reads the next pieces on the other. The heaviest diff pages, of plans or "
    "issues, take 25-40 ms of the service's CPU in process (2026-12-04): the fold (~1.6 µs "
    "an event), each changed stance (~0.65 µs, up to 20,000 a page) and the JSON; and the "
    "machine's speed for this work drifts by a third within half an hour. Pages holding a "
    "hot subject cost more (`plan/l0`, 14,008 folded events, 3.0 MB, is assembled in ~45 "
    'ms on its own) and lie in about one random page in a hundred; see "Where the read '
    'time goes" below',
    "size": 'see "Where the read time goes" below',
    "rebuild": 'see "Where the read time goes" below',
}

Target = tuple[str, str, str, bool | None, str]


def _add(
    out: list[Target], name: str, value: float, goal: float, text: str, key: str, low: bool
) -> None:
    met = None if math.isnan(value) else (value <= goal if low else value >= goal)
    out.append((name, text, ("≤ " if low else "≥ ") + f"{goal:g}", met, key))


def read_targets(r: dict[str, Any]) -> list[Target]:
    """(target, measured, goal, met, key) for each of issue 10's targets, at the full size."""
    out: list[Target] = []
    rows = r.get("subject_state") or []
    big = max((x["size"] for x in rows), default=0)
    for known in (False, True):
        when = "known_at" if known else "now"
        for temp in ("realistic", "cold"):
            h = _by(rows, size=big, subject=temp, known_at=known).get("http", {})
            who = "hot (realistic)" if temp == "realistic" else "cold"
            for p, goal in (("p50", 5.0), ("p99", 20.0)):
                v = h.get(f"{p}_ms", math.nan)
                key = "subject" if temp == "realistic" else "subject_cold"
                _add(out, f"one subject, {who}, {when}: {p} ms", v, goal, f"{f(v, 2)} ms",
                     key, True)  # fmt: skip
        hot = _by(rows, size=big, subject="realistic", known_at=known).get("http", {})
        cold = _by(rows, size=big, subject="cold", known_at=known).get("http", {})
        v = ratio(hot.get("p99_ms"), cold.get("p99_ms"))
        _add(out, f"hot p99 / cold p99, {when}", v, 2.0, f"{f(v, 2)}x", "hot_vs_cold", True)
    pages = r.get("pages") or []
    big = max((x["size"] for x in pages), default=0)
    for what in ("state", "diff"):
        for known in (False, True):
            v = _by(pages, size=big, what=what, known_at=known).get("p99_ms", math.nan)
            when = "known_at" if known else "now"
            _add(out, f"`/v1/{what}` page of 100, {when}: p99 ms", v, 50.0, f"{f(v, 1)} ms",
                 "page", True)  # fmt: skip
    sizes = r.get("sizes") or []
    if sizes:
        s = max(sizes, key=lambda x: x["events"])
        v = s["ratio"]
        _add(out, f"read model on disk / the log's, at {s['events']:,}", v, 2.0, f"{f(v, 2)}x",
             "size", True)  # fmt: skip
    rebuilds = r.get("rebuilds") or []
    imports = r.get("imports") or []
    if rebuilds and imports:
        b = max(rebuilds, key=lambda x: x["events"])
        imp_s = sum(i["seconds"] for i in imports)
        v = ratio(b["seconds"], imp_s)
        _add(out, f"readmodel rebuild / annals import, {b['events']:,} events", v, 1.0,
             f"{f(v, 2)}x ({f(b['seconds'], 1)} s / {f(imp_s, 1)} s)", "rebuild", True)  # fmt: skip
    app = r.get("append") or []
    raw64 = _by(app, kind="raw", concurrency=64).get("events_per_s")
    svc64 = _by(app, kind="service", concurrency=64).get("events_per_s")
    v = ratio(svc64, raw64)
    name = f"single append, 64 clients / raw inserts (the last run before: {APPEND64_BEFORE:g})"
    _add(out, name, v, APPEND64_BEFORE, f"{f(v, 2)}x", "append64_before", False)
    return out


def write_targets(r: dict[str, Any]) -> list[Target]:
    """(target, measured, goal, met, key) for issue 11's targets (appends at the speed of
    PostgreSQL: bulk paths at 0.5x raw COPY), with issue 5's memory and SSE bounds."""
    out: list[Target] = []
    app = r.get("append") or []
    raw64 = _by(app, kind="raw", concurrency=64).get("events_per_s")
    svc64 = _by(app, kind="service", concurrency=64).get("events_per_s")
    peer4 = (r.get("peer") or {}).get("threads4", {}).get("events_per_s")
    copy = (r.get("copy") or {}).get("events_per_s")
    batch = (r.get("batch") or {}).get("events_per_s")
    imports = r.get("imports") or []
    imp_events = sum(i["events"] for i in imports)
    imp_s = sum(i["seconds"] for i in imports)
    imp_rate = imp_events / imp_s if imp_s else math.nan
    rss = max((i["peak_rss_mb"] for i in imports), default=math.nan)
    v = ratio(svc64, raw64)
    _add(out, "single append, 64 clients / raw inserts", v, 1.0, f"{f(v, 2)}x", "append64_raw",
         False)  # fmt: skip
    v = ratio(svc64, peer4)
    _add(out, "single append, 64 clients / peer 4 threads", v, 3.0, f"{f(v, 2)}x",
         "append64_peer", False)  # fmt: skip
    cores = cores_at(r, 64)
    if cores is not None:
        out.append((
            "single append, 64 clients: cores the service path (client, service and "
            "PostgreSQL) keeps busy at raw inserts' rate",
            f"{f(cores, 1)} of {r['machine']['nproc']}", "-", None, "-",
        ))  # fmt: skip
    v = ratio(batch, copy)
    _add(out, "batch append / raw COPY", v, 0.5, f"{f(v, 2)}x", "batch", False)
    v = ratio(imp_rate, copy)
    _add(out, "annals import / raw COPY", v, 0.5, f"{f(v, 2)}x", "import", False)
    floor = ratio((r.get("copy") or {}).get("log_tables", {}).get("events_per_s"), copy)
    if not math.isnan(floor):
        out.append((
            "the database alone: finished rows COPYed into the log's own tables / raw COPY",
            f"{f(floor, 2)}x", "-", None, "-",
        ))  # fmt: skip
    _add(out, "annals import peak RSS, MB", rss, 300, f"{f(rss)} MB", "import_rss", True)
    sse = (r.get("sse") or {}).get("vs_recordedtime", {}).get("p99_ms", math.nan)
    _add(out, "SSE lag p99, ms", sse, 100, f"{f(sse, 1)} ms", "sse", True)
    return out


def cores_at(r: dict[str, Any], clients: int) -> float | None:
    """How many cores single appends through the service at `clients` would keep busy at
    raw inserts' rate: the CPU the phase used (client, service and PostgreSQL, in cores)
    per event, times raw's events/s. None when the run has no such phases."""
    app = r.get("append") or []
    raw = _by(app, kind="raw", concurrency=clients)
    svc = _by(app, kind="service", concurrency=clients)
    if not raw or not svc or not svc.get("events_per_s"):
        return None
    busy = (svc["cpu_client_pct"] + svc["cpu_service_pct"] + svc["cpu_postgres_pct"]) / 100
    return float(busy / svc["events_per_s"] * raw["events_per_s"])


def _target_table(title: str, targets: list[Target]) -> list[str]:
    L = [title, "", "| target | measured | goal | met |", "|---|---:|---:|---|"]
    misses = []
    explained: dict[str, str] = {}  # a reason given once, by the first target it explains
    for name, text, goal, met, key in targets:
        verdict = "-" if met is None else ("met" if met else "**missed**")
        L.append(f"| {name} | {text} | {goal} | {verdict} |")
        if met is False:
            why = f"as for {explained[key]}" if key in explained else WHY[key]
            explained.setdefault(key, name)
            misses.append(f"* {name}: {text} against {goal}. Why: {why}.")
    if misses:
        L += ["", "Missed:", "", *misses]
    return [*L, ""]


def _mb(b: int) -> str:
    return f"{b / 2**20:,.0f} MB"


def markdown(r: dict[str, Any]) -> str:
    """The generated section of docs/PERFORMANCE.md, from a run's results (as in its JSON)."""
    m, pg, shape, cfg = r["machine"], r["postgres"], r["log_shape"], r["config"]
    st = pg["settings"]
    L: list[str] = [
        f"Measured {r['started']} (`{r['mode']}` run, {r['wall_seconds'] / 60:.1f} min) on "
        f"{m['nproc']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB RAM, Linux {m['kernel']}, "
        f"Python {m['python']}; PostgreSQL {pg['version']} embedded, one server for every side "
        f"(fsync={st.get('fsync')}, synchronous_commit={st.get('synchronous_commit')}, "
        f"shared_buffers={st.get('shared_buffers')}). Service source fingerprint `{r['code']}`."
        " Client, service and PostgreSQL share the same cores.",
        "",
        f"The log: {shape.get('events', 0):,} events over {shape.get('subjects', 0):,} subjects; "
        f"hot subjects {', '.join(f'`{h}`' for h in shape.get('hot_subjects', []))} concerned "
        f"by {100 * shape.get('hot_share', 0):.1f} % of events "
        f"(`{(shape.get('hot_subjects') or ['-'])[0]}`"
        " is the wide one: positions on thousands of topics); the realistic hot party "
        f"`{shape.get('realistic_subject', '-')}` with {shape.get('realistic', 0):,} "
        "statements on at most 200 issues; "
        f"{shape.get('backdated', 0):,} backdated, {shape.get('event.retracted', 0):,} "
        f"retractions, {shape.get('event.corrected', 0):,} corrections.",
        "",
    ]
    if r["failures"]:
        L += ["**Phases that failed** (their rows are missing):", ""]
        L += [f"* {x}" for x in r["failures"]] + [""]

    # --- targets
    L += _target_table("#### Issue 10 targets (one read path), at the full size", read_targets(r))
    L += _target_table(
        "#### Issue 11 targets (appends), with the write side's bounds", write_targets(r)
    )

    # --- writes
    copy, batch = r.get("copy") or {}, r.get("batch") or {}
    L += ["", "#### Bulk writes", "",
          "| what | events | seconds | events/s | / raw COPY | note |",
          "|---|---:|---:|---:|---:|---|"]  # fmt: skip
    for i in r.get("imports") or []:
        L.append(
            f"| `annals import` ({i['file']}) | {i['events']:,} | {i['seconds']:.1f} "
            f"| {f(i['events_per_s'])} | {f(ratio(i['events_per_s'], copy.get('events_per_s')), 2)}"
            f" | peak RSS {f(i['peak_rss_mb'])} MB; its read-model catch-up "
            f"{f(i.get('catch_up_seconds'), 1)} s after the last append "
            f"({f(i.get('behind_at_last_append'))} events behind then) |"
        )
    for b in r.get("rebuilds") or []:
        L.append(
            f"| `annals readmodel rebuild` (at {b['events']:,} events) | {b['events']:,} "
            f"| {b['seconds']:.1f} | {f(b['events_per_s'])} "
            f"| {f(ratio(b['events_per_s'], copy.get('events_per_s')), 2)} "
            f"| {b['read_facts_rows']:,} fact rows; peak RSS {f(b['peak_rss_mb'])} MB |"
        )
    if batch:
        L.append(
            f"| HTTP batch append (1,000/request) | {batch['events']:,} | {batch['seconds']:.1f} "
            f"| {f(batch['events_per_s'])} "
            f"| {f(ratio(batch['events_per_s'], copy.get('events_per_s')), 2)} "
            f"| p50 {f(batch['p50_ms'], 0)} ms a request |"
        )
    if copy:
        L.append(
            f"| raw `COPY` (10,000 rows a COPY) | {copy['events']:,} | {copy['copy_seconds']:.1f} "
            f"| {f(copy['events_per_s'])} | 1.00 | baseline; only the COPY calls timed |"
        )
    floor = copy.get("log_tables")
    if floor:
        L.append(
            f"| the same rows into the log's own tables | {copy['events']:,} "
            f"| {floor['seconds']:.1f} | {f(floor['events_per_s'])} "
            f"| {f(ratio(floor['events_per_s'], copy['events_per_s']), 2)} "
            "| `events` with its indexes, `event_concerns` derived in SQL, a transaction a "
            "chunk: the database's share of any append path, no service |"
        )

    sizes = r.get("sizes") or []
    if sizes:
        L += ["", "#### The read model on disk beside the log", "",
              "`pg_total_relation_size` (table, indexes, TOAST) after the import and rebuild.",
              "",
              "| events | read_facts | read_keys | read_subjects + read_bounds "
              "| read_hidden + read_restated "
              "| read model | events | event_concerns | log | read model / log | fact rows |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for z in sizes:
            b = z["bytes"]
            timeline = (  # runs before the timeline's tables existed did not measure them
                _mb(b["read_hidden"] + b["read_restated"]) if "read_hidden" in b else "-"
            )
            L.append(
                f"| {z['events']:,} | {_mb(b['read_facts'])} | {_mb(b['read_keys'])} "
                f"| {_mb(b['read_subjects'] + b.get('read_bounds', 0))} | {timeline} "
                f"| **{_mb(z['read_model_bytes'])}** "
                f"| {_mb(b['events'])} | {_mb(b['event_concerns'])} | **{_mb(z['log_bytes'])}** "
                f"| **{f(z['ratio'], 2)}x** | {z['read_facts_rows']:,} |"
            )

    # --- single appends
    app = r.get("append") or []
    peer = r.get("peer") or {}
    if app:
        L += ["", "#### Single-event append (one event a request / a transaction)", "",
              "| clients | raw events/s | raw p50 / p99 ms | service events/s "
              "| service p50 / p99 ms | service / raw | events per commit "
              "| CPU client / service / postgres |",
              "|---:|---:|---:|---:|---:|---:|---:|---|"]  # fmt: skip
        for c in sorted({p["concurrency"] for p in app}):
            raw, svc = _by(app, kind="raw", concurrency=c), _by(app, kind="service", concurrency=c)
            if not raw or not svc:
                continue
            L.append(
                f"| {c} | {f(raw['events_per_s'])} | {f(raw['p50_ms'], 2)} / {f(raw['p99_ms'], 2)} "
                f"| {f(svc['events_per_s'])} | {f(svc['p50_ms'], 2)} / {f(svc['p99_ms'], 2)} "
                f"| **{f(ratio(svc['events_per_s'], raw['events_per_s']), 2)}** "
                f"| {f(svc['events_per_commit'], 1)} | {f(svc['cpu_client_pct'])} / "
                f"{f(svc['cpu_service_pct'])} / {f(svc['cpu_postgres_pct'])} % |"
            )
        errs = [
            (p["kind"], p["concurrency"], k, n) for p in app for k, n in p["error_kinds"].items()
        ]
        if errs:
            L += ["", "Errors: " + "; ".join(f"{k} c={c}: {n}x `{e[:100]}`" for k, c, e, n in errs)]
    if peer.get("sequential"):
        s, t = peer["sequential"], peer["threads4"]
        best = max((p["events_per_s"] for p in app if p["kind"] == "service"), default=math.nan)
        L += ["", f"The peer (`eventsourcing` {peer.get('version')}, `eventsourcing.postgres`, "
              "one event a save): "
              f"{f(s['events_per_s'])} events/s sequentially (p50 {f(s['p50_ms'], 2)} ms), "
              f"{f(t['events_per_s'])} events/s with 4 threads (p50 {f(t['p50_ms'], 2)} ms); "
              f"our best single-event rate is {f(ratio(best, t['events_per_s']), 2)}x its "
              "4-thread rate."]  # fmt: skip

    # --- reads
    rows = r.get("subject_state") or []
    if rows:
        L += ["", "#### One subject's state at random dates", "",
              "HTTP: `GET /v1/parties/{slug}?at=…[&known_at=<sequence>]`, one client, after "
              f"{cfg['queries'] // 10} unmeasured questions of each row, the six rows' "
              "questions taking turns (so that the machine's drift falls on each alike, and "
              "the hot/cold ratios compare answers of the same minutes); `known_at` is a "
              "random sequence "
              "of the subject's own history (an event concerning it); 404 (nothing counts yet "
              "at that date) is an answer. Realistic: the hot party with a tenth of the log on "
              "at most 200 issues; wide: the hot party with positions on thousands of topics; "
              "cold: 50 parties registered before the split. Full replay: the same questions "
              "through `queries.replay.replayed_state` in the benchmark's process (no HTTP, no "
              "JSON: flatters the replay).",
              "",
              "| events | subject | its events | known_at | HTTP n | HTTP p50 ms | HTTP p99 ms "
              "| answer p50 | answer max | replay n | replay p50 ms | replay p99 ms "
              "| replay p50 / HTTP p50 |",
              "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for x in rows:
            h, p = x["http"], x["replay"]
            L.append(
                f"| {x['size']:,} | {x['subject']} | {f(x.get('history'))} "
                f"| {'yes' if x['known_at'] else 'no'} "
                f"| {h['n']} | {f(h['p50_ms'], 2)} | {f(h['p99_ms'], 2)} "
                f"| {f(h.get('body_p50'))} B | {f(h.get('body_max'))} B | {p['n']} "
                f"| {f(p['p50_ms'], 1)} | {f(p['p99_ms'], 1)} "
                f"| {f(ratio(p['p50_ms'], h['p50_ms'], 1), 1)}x |"
            )
    pages = r.get("pages") or []
    if pages:
        L += ["", "#### Pages of 100 subjects: `/v1/state` and `/v1/diff`", "",
              "`GET /v1/state?limit=100&at=…` and `GET /v1/diff?limit=100&from=…&to=…`, random "
              "dates over the span the log covers, as known now or at a random `known_at` "
              "sequence, each starting at a random subject (a made cursor) or at a random "
              "prefix such as `party/p1`; one client, after a tenth as many unmeasured pages. "
              "A page also ends early by its facts (`ANNALS_PAGE_FACTS`, READ_MODEL.md "
              "\"Pages\"): \"subjects a page\" counts the subjects each page that names a "
              "`next` went through (p50 / fewest), and how many of those pages ended before 100.",
              "",
              "| events | page | known_at | n | p50 ms | p99 ms | max ms | answer p50 "
              "| subjects a page | ended early | statuses | starts |",
              "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|"]  # fmt: skip
        for x in pages:
            held = f"{x['held_p50']} / {x['held_min']}" if x.get("held_p50") is not None else "-"
            early = f"{x['ended_early']} of {x['continued']}" if "continued" in x else "-"
            L.append(
                f"| {x['size']:,} | `/v1/{x['what']}` | {'yes' if x['known_at'] else 'no'} "
                f"| {x['n']} | {f(x['p50_ms'], 1)} | {f(x['p99_ms'], 1)} | {f(x['max_ms'], 1)} "
                f"| {f(x['body_p50'])} B | {held} | {early} | {x['statuses']} | {x['starts']} |"
            )
    timelines = r.get("timelines") or []
    if timelines:
        L += ["", "#### Pages of 100 events: `/v1/timeline`", "",
              "`GET /v1/timeline?limit=100&from=…`, a random date over the span the log "
              "covers, as known now or at a random `known_at` sequence: the whole log, one "
              "type prefix, and the realistic hot party's events; one client, after a tenth "
              "as many unmeasured pages.",
              "",
              "| events | timeline | known_at | n | p50 ms | p99 ms | max ms | answer p50 "
              "| statuses |",
              "|---:|---|---|---:|---:|---:|---:|---:|---|"]  # fmt: skip
        for x in timelines:
            L.append(
                f"| {x['size']:,} | {x['timeline']} | {'yes' if x['known_at'] else 'no'} "
                f"| {x['n']} | {f(x['p50_ms'], 1)} | {f(x['p99_ms'], 1)} | {f(x['max_ms'], 1)} "
                f"| {f(x['body_p50'])} B | {x['statuses']} |"
            )
    walks = r.get("walks") or []
    if walks:
        L += ["", "#### A whole walk of `/v1/state`", "",
              "Every page of `GET /v1/state?limit=1000` (as known now), following `next`, on "
              "a freshly started service; its resident set from /proc (VmRSS before, VmHWM "
              "after: the peak over the service's life, which the walk starts).",
              "",
              "| events | pages | seconds | bytes | page p50 ms | page p99 ms "
              "| service RSS before | service peak RSS after |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for w in walks:
            L.append(
                f"| {w['size']:,} | {w['pages']} | {f(w['seconds'], 1)} | {w['bytes']:,} "
                f"| {f(w['p50_ms'])} | {f(w['p99_ms'])} | {f(w['rss_before_mb'])} MB "
                f"| {f(w['hwm_after_mb'])} MB |"
            )
    sse = r.get("sse") or {}
    if sse:
        a, b = sse["vs_recordedtime"], sse["vs_post_answer"]
        L += ["", "#### SSE delivery lag", "",
              f"{sse['posted']:,} single events posted at {f(sse['achieved_rate'])}/s (target "
              f"{f(sse['target_rate'])}/s, half the peak single-event rate), one `GET /v1/stream`"
              f" client: lag after `recordedtime` p50 {f(a['p50_ms'], 1)} ms, p99 "
              f"{f(a['p99_ms'], 1)} ms; after the POST was answered p50 {f(b['p50_ms'], 1)} ms,"
              f" p99 {f(b['p99_ms'], 1)} ms; {sse['missing']} never arrived."]  # fmt: skip
    rec = peer.get("reconstruction") or {}
    if rec:
        hot = _by(rows, size=max((x["size"] for x in rows), default=0), subject="realistic",
                  known_at=True).get("http", {})  # fmt: skip
        L += ["", "#### Point-in-time reconstruction beside the peer", "",
              f"The peer: `repository.get(id, version=N)` of a {rec['events']:,}-event aggregate"
              f" (no snapshots, its default): p50 {f(rec['p50_ms'])} ms, p99 {f(rec['p99_ms'])}"
              f" ms over {rec['samples']} random N (building it: {f(rec['build_events_per_s'])}"
              f" events/s, 1,000 a save). Ours, the realistic hot party at a random `known_at`"
              f" over HTTP: p50 {f(hot.get('p50_ms'), 2)} ms, p99 {f(hot.get('p99_ms'), 2)} ms."
              ]  # fmt: skip
    L += _background(r.get("background") or {})
    if r.get("service_log_problems"):
        L += ["", "The service's log (warnings and errors, at most 5):", ""]
        L += [f"* `{ln[:200]}`" for ln in r["service_log_problems"][:5]]
    return "\n".join(L) + "\n"


def _background(phases: dict[str, Any]) -> list[str]:
    """What else ran during each phase (bench/watch.py)."""
    if not phases:
        return []
    L = ["", "#### What else ran during each phase", "",
         "The machine's CPU busy and stolen by its host (% of all cores' time, from /proc/stat),"
         " and each autovacuum task of PostgreSQL seen running (sampled each half second).",
         "",
         "| phase | seconds | CPU busy | CPU stolen | autovacuum seen (seconds) |",
         "|---|---:|---:|---:|---|"]  # fmt: skip
    for name, x in phases.items():
        vac = "; ".join(f"{k} {f(v, 1)}" for k, v in x["autovacuum"].items()) or "-"
        L.append(f"| {name} | {f(x['seconds'], 1)} | {f(x['busy_pct'], 1)} % "
                 f"| {f(x['steal_pct'], 1)} % | {vac} |")  # fmt: skip
    return L


def write_doc(section: str) -> None:
    """Replace the marked section of docs/PERFORMANCE.md, keeping the rest of the file."""
    block = f"{START}\n{section}{END}"
    text = DOC.read_text()
    if START in text and END in text and text.index(START) < text.index(END):
        head, _, rest = text.partition(START)
        _, _, tail = rest.partition(END)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOC.write_text(text)
