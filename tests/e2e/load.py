"""Load for the robustness tests: clients that append until acknowledged, and the audit.

Each client names every event itself (`c{client}-{n}`), so a retry after a lost answer is
idempotent: the service answers 200 with the stored event instead of appending it twice.
A client moves on only once its post is acknowledged (201 or 200); connection errors and
503 are retried with the same body; anything else is a failure of the service.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx

from tests.e2e.conftest import ANNALS

REQUEST_TIMEOUT = 15.0  # no request may take this long: a timeout is a hang
BATCH_EVERY = 5  # every fifth post is a batch of BATCH_SIZE events (all or nothing)
BATCH_SIZE = 3


@dataclass(frozen=True)
class Reply:
    """One request and how it ended."""

    what: str  # e.g. "POST /v1/events"
    started: float  # time.monotonic()
    seconds: float
    status: int | None  # None: no HTTP answer at all (connection refused, reset, timeout)
    retry_after: str | None = None
    error: str | None = None


class Recorder:
    """Every request's outcome, from every thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.replies: list[Reply] = []

    def send(
        self, client: httpx.Client, method: str, url: str, what: str, **kw: Any
    ) -> httpx.Response | None:
        """Send one request; None when no HTTP answer came back."""
        t0 = time.monotonic()
        try:
            r = client.request(method, url, **kw)
        except httpx.TransportError as e:
            self._add(Reply(what, t0, time.monotonic() - t0, None, error=type(e).__name__))
            return None
        self._add(
            Reply(what, t0, time.monotonic() - t0, r.status_code, r.headers.get("retry-after"))
        )
        return r

    def _add(self, reply: Reply) -> None:
        with self._lock:
            self.replies.append(reply)

    def snapshot(self) -> list[Reply]:
        with self._lock:
            return list(self.replies)


def event(client: int, n: int) -> dict[str, Any]:
    """The event a client posts as its n-th: the same body on every retry."""
    return {
        "id": f"c{client}-{n}",
        "type": "x-load",
        "time": "2025-12-01",
        "data": {"client": client, "n": n},
    }


class Appender(threading.Thread):
    """One client: posts events (every fifth post a batch) until told to stop.

    Stops when `stop` is set and it has appended at least `at_least` events, or after
    `at_most` events, or at `deadline` (a failure).
    """

    def __init__(
        self,
        number: int,
        base: str,
        recorder: Recorder,
        stop: threading.Event,
        *,
        at_least: int,
        at_most: int,
        deadline: float,  # time.monotonic()
        pause: float = 0.1,  # between retries
    ) -> None:
        super().__init__(name=f"appender-{number}", daemon=True)
        self.number, self.base, self.recorder, self.stop_when = number, base, recorder, stop
        self.at_least, self.at_most, self.deadline, self.pause = at_least, at_most, deadline, pause
        self.acked: dict[str, tuple[int, str]] = {}  # id -> (sequence, hash)
        self.posts = 0
        self.retries = 0
        self.already = 0  # acknowledged with 200: a retry of a post whose answer was lost
        self.failures: list[str] = []

    def run(self) -> None:
        try:
            self._run()
        except Exception as e:  # a bug in the test must fail it, not vanish with the thread
            self.failures.append(f"client {self.number} crashed: {e!r}")

    def _run(self) -> None:
        n = 0
        with httpx.Client(timeout=REQUEST_TIMEOUT) as client:
            while n < self.at_most and not (self.stop_when.is_set() and n >= self.at_least):
                size = BATCH_SIZE if self.posts % BATCH_EVERY == BATCH_EVERY - 1 else 1
                bodies = [event(self.number, n + i) for i in range(size)]
                if not self._post_until_acknowledged(client, bodies, batch=size > 1):
                    return
                n += size

    def _post_until_acknowledged(
        self, client: httpx.Client, bodies: list[dict[str, Any]], *, batch: bool
    ) -> bool:
        self.posts += 1
        ids = [b["id"] for b in bodies]
        while True:
            if time.monotonic() > self.deadline:
                self.failures.append(f"client {self.number}: deadline passed posting {ids}")
                return False
            r = self.recorder.send(
                client,
                "POST",
                f"{self.base}/v1/events",
                "POST /v1/events",
                json=bodies if batch else bodies[0],
            )
            if r is None or r.status_code == 503:
                self.retries += 1
                time.sleep(self.pause)
                continue
            if r.status_code not in (200, 201):
                self.failures.append(f"client {self.number}: {r.status_code} for {ids}: {r.text}")
                return False
            stored = r.json() if batch else [r.json()]
            if [e["id"] for e in stored] != ids:
                self.failures.append(f"client {self.number}: answer names other ids: {stored}")
                return False
            if r.status_code == 200:
                self.already += 1
            for e in stored:
                self.acked[e["id"]] = (e["sequence"], e["hash"])
            return True


def read_log(base: str) -> list[dict[str, Any]]:
    """The whole log over HTTP, page by page."""
    events: list[dict[str, Any]] = []
    after = 0
    with httpx.Client(timeout=30) as client:
        while True:
            page = client.get(f"{base}/v1/events", params={"after": after, "limit": 1000})
            assert page.status_code == 200, page.text
            body = page.json()
            events.extend(body["events"])
            if body["next"] is None:
                return events
            after = int(body["next"])


@dataclass(frozen=True)
class Audit:
    """What the log holds against what the clients were told."""

    acknowledged: int
    found: int
    duplicates: int  # events whose id occurs more than once
    gaps: int  # sequence numbers missing from 1..N (or out of order)
    missing: list[str]  # acknowledged, not in the log
    changed: list[str]  # in the log with another sequence or hash than acknowledged
    unacknowledged: list[str]  # in the log, never acknowledged to anyone

    @property
    def ok(self) -> bool:
        return (
            self.duplicates == 0
            and self.gaps == 0
            and not self.missing
            and not self.changed
            and not self.unacknowledged
            and self.found == self.acknowledged
        )

    def line(self) -> str:
        return (
            f"acknowledged={self.acknowledged} found={self.found} "
            f"duplicates={self.duplicates} gaps={self.gaps} missing={len(self.missing)} "
            f"changed={len(self.changed)} unacknowledged={len(self.unacknowledged)}"
        )


def audit(acked: dict[str, tuple[int, str]], log: list[dict[str, Any]]) -> Audit:
    """Compare the log with every acknowledgement."""
    counts = Counter(e["id"] for e in log)
    sequences = [e["sequence"] for e in log]
    expected = range(1, len(log) + 1)
    gaps = len(set(range(1, max(sequences, default=0) + 1)) - set(sequences))
    if gaps == 0 and sequences != list(expected):
        gaps = sum(1 for a, b in zip(sequences, expected, strict=True) if a != b)
    stored = {e["id"]: (e["sequence"], e["hash"]) for e in log}
    return Audit(
        acknowledged=len(acked),
        found=len(stored),
        duplicates=sum(c - 1 for c in counts.values() if c > 1),
        gaps=gaps,
        missing=sorted(i for i in acked if i not in stored),
        changed=sorted(i for i, v in acked.items() if i in stored and stored[i] != v),
        unacknowledged=sorted(i for i in stored if i not in acked),
    )


def all_acked(clients: list[Appender]) -> dict[str, tuple[int, str]]:
    """Every client's acknowledgements together (ids are per client, so they never clash)."""
    out: dict[str, tuple[int, str]] = {}
    for c in clients:
        out.update(c.acked)
    return out


def verify(database_url: str) -> subprocess.CompletedProcess[str]:
    """`annals verify` on the database, as an operator would run it."""
    return subprocess.run(
        [ANNALS, "--database-url", database_url, "verify"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
