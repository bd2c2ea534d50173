"""Where one read's time goes: each step of a subject's state and of a page, timed, and
EXPLAIN ANALYZE of the read model's SQL (queries/model.py), on an existing database.

    python bench/readprofile.py DATABASE_URL [--subject party/r0] [--runs 30]

A profile, not a benchmark: run it against a database `make bench` (or an import) built.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import asyncpg
import msgspec

from queries import answers, assembly, model
from queries.question import Question, ask
from queries.replay import replayed_state


class Steps:
    """Per-step wall times (ms) over several runs."""

    def __init__(self) -> None:
        self.ms: dict[str, list[float]] = defaultdict(list)

    async def time(self, name: str, work: Awaitable[Any]) -> Any:
        t0 = time.perf_counter()
        out = await work
        self.ms[name].append((time.perf_counter() - t0) * 1e3)
        return out

    def sync(self, name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        out = fn()
        self.ms[name].append((time.perf_counter() - t0) * 1e3)
        return out

    def print(self, title: str) -> None:
        print(f"\n{title}")
        for name, v in self.ms.items():
            v = sorted(v)
            p99 = v[min(len(v) - 1, int(0.99 * len(v)))]
            unit = "" if name.startswith("rows:") else " ms"  # counts, not times
            print(
                f"  {name:<34} p50 {statistics.median(v):8.2f}{unit:<3}  p99 {p99:8.2f}{unit:<3}"
                f"  n={len(v)}"
            )


async def one_subject(conn: Any, subject: str, q: Question, steps: Steps) -> None:
    """assembly.states for one subject, step by step, then the JSON it answers with."""
    at, known, floor = q.at, q.known, q.floor
    facts = await steps.time(
        "registers + core (SQL)", model.facts(conn, [subject], known, at, floor)
    )
    selected = assembly.Selected([facts], facts)
    state = steps.sync(
        "assemble (Python)",
        lambda: {s: end for s, (end,) in assembly.assembled([subject], selected, [at])},
    ).get(subject)
    if state is not None:
        steps.sync(
            "shape + JSON (Python)", lambda: msgspec.json.encode(answers.shape(state, known))
        )
    steps.ms["rows: registers"].append(sum(len(f.keys) for f in facts.values()))
    steps.ms["rows: core"].append(sum(len(f.core) for f in facts.values()))


async def explain(conn: Any, sql: str, args: tuple[Any, ...]) -> None:
    rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)
    for r in rows:
        print("    " + r[0])


def random_at(rng: random.Random) -> datetime:
    return datetime(2005, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(7_300))


async def main(url: str, subject: str, runs: int) -> None:
    conn = await asyncpg.connect(url)
    rng = random.Random(3)
    head = int(await conn.fetchval("SELECT max(sequence) FROM events"))
    own = [r[0] for r in await conn.fetch(
        "SELECT sequence FROM event_concerns WHERE subject = $1", subject)]  # fmt: skip
    print(f"log head {head:,}; {subject}: {len(own):,} events concern it")
    for label, pick in (("now", lambda: None), ("known_at", lambda: str(rng.choice(own)))):
        steps = Steps()
        for _ in range(runs):
            at = random_at(rng).date().isoformat()
            q = await steps.time("ask (SQL: head, ensure)", ask(conn, at, pick(), "disputed"))
            await one_subject(conn, subject, q, steps)
        steps.print(f"one subject {subject}, {label}")
    q = await ask(conn, random_at(rng).date().isoformat(), str(rng.choice(own)), "disputed")
    print(f"\nEXPLAIN facts, {subject}, at {q.at:%Y-%m-%d}, known {q.known:,}")
    await explain(conn, *model.facts_statement([subject], q.known, q.at, q.floor))
    q = await ask(conn, random_at(rng).date().isoformat(), None, "disputed")
    print(f"\nEXPLAIN facts, {subject}, at {q.at:%Y-%m-%d}, now ({q.known:,})")
    await explain(conn, *model.facts_statement([subject], q.known, q.at, q.floor))
    # A page of 100 subjects (a prefix walk), step by step.
    steps = Steps()
    for i in range(max(3, runs // 5)):
        known = head if i % 2 == 0 else rng.randrange(1, head)
        q = await ask(conn, random_at(rng).date().isoformat(), str(known), "disputed")
        found = model.subjects(conn, q.known, "party/p1", "", 100)
        ids = [s.subject for s in await steps.time("page ids (SQL)", found)]
        facts = await steps.time(
            "registers + core x100 (SQL)", model.facts(conn, ids, q.known, q.at, q.floor)
        )
        found = await steps.time("states x100 (all)", assembly.states(conn, ids, q))
        steps.sync("JSON x100 (Python)", partial(msgspec.json.encode, list(found.values())))
        steps.ms["rows: registers x100"].append(sum(len(f.keys) for f in facts.values()))
        steps.ms["rows: core x100"].append(sum(len(f.core) for f in facts.values()))
    steps.print("a page of 100 parties (prefix party/p1)")
    print("\nEXPLAIN of that page's facts, as the service runs it")
    await explain(conn, *model.facts_statement(ids, q.known, q.at, q.floor))
    steps = Steps()
    for _ in range(3):
        q = await ask(conn, random_at(rng).date().isoformat(), None, "disputed")
        await steps.time("full replay (SQL + fold)", replayed_state(conn, subject, q))
    steps.print(f"full replay of {subject}, now")
    await conn.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("url")
    p.add_argument("--subject", default="party/r0")
    p.add_argument("--runs", type=int, default=30)
    a = p.parse_args()
    asyncio.run(main(a.url, a.subject, a.runs))
