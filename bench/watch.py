"""What else the machine did while each bench phase ran: PostgreSQL's autovacuum workers
(sampled each half second) and the CPU time the host took from this machine (steal)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path
from typing import Any, Final

import asyncpg

SAMPLE_S: Final = 0.5
BETWEEN: Final = "between phases"
_WORKERS: Final = (
    "SELECT datname, query FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'"
)


def cpu_ticks() -> list[int]:
    """/proc/stat's first line: user, nice, system, idle, iowait, irq, softirq, steal."""
    with contextlib.suppress(OSError, ValueError):
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
        return [int(x) for x in fields]
    return [0] * 8


def table_of(query: str) -> str:
    """'autovacuum: VACUUM ANALYZE public.events (to prevent wraparound)' -> 'VACUUM ANALYZE
    events'."""
    what = query.removeprefix("autovacuum: ").split(" (", 1)[0]
    return what.replace("public.", "")


class Watch:
    """Samples in the background; `mark` starts a phase's account, `summary` gives them."""

    def __init__(self) -> None:
        self.current = BETWEEN
        self.phases: dict[str, dict[str, Any]] = {}
        self._since = time.perf_counter()
        self._ticks = cpu_ticks()
        self._task: asyncio.Task[None] | None = None

    async def start(self, admin_url: str) -> None:
        self._task = asyncio.create_task(self._sample(await asyncpg.connect(admin_url)))

    async def stop(self) -> None:
        self.mark(BETWEEN)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _account(self, name: str) -> dict[str, Any]:
        return self.phases.setdefault(
            name, {"seconds": 0.0, "ticks": [0] * 8, "autovacuum": Counter()}
        )

    def mark(self, name: str) -> None:
        """Close the running phase's account (its wall time and CPU ticks); start `name`'s."""
        now, ticks = time.perf_counter(), cpu_ticks()
        acc = self._account(self.current)
        acc["seconds"] += now - self._since
        acc["ticks"] = [a + b - c for a, b, c in zip(acc["ticks"], ticks, self._ticks, strict=True)]
        self.current, self._since, self._ticks = name, now, ticks

    async def _sample(self, db: asyncpg.Connection) -> None:
        try:
            while True:
                rows = await db.fetch(_WORKERS)
                acc = self._account(self.current)
                for r in rows:
                    acc["autovacuum"][f"{r['datname']}: {table_of(r['query'] or '')}"] += SAMPLE_S
                await asyncio.sleep(SAMPLE_S)
        finally:
            with contextlib.suppress(Exception):
                await db.close()

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per phase: seconds, the machine's CPU busy and stolen (% of all its cores' time),
        and the seconds each autovacuum task was seen running."""
        out = {}
        for name, acc in self.phases.items():
            ticks = acc["ticks"]
            total = sum(ticks) or 1
            idle = ticks[3] + ticks[4]
            out[name] = {
                "seconds": round(acc["seconds"], 1),
                "busy_pct": round(100 * (total - idle - ticks[7]) / total, 1),
                "steal_pct": round(100 * ticks[7] / total, 1),
                "autovacuum": {k: round(v, 1) for k, v in acc["autovacuum"].most_common()},
            }
        return out
