"""What every phase of a bench/bench.py run shares: its sizes and caps, the log it generates,
and how latencies are summed up."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import append as ap
import msgspec
import synth

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
