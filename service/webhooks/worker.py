"""The webhook delivery worker: one per deployment, one task per subscription.

Every service process runs a `Deliveries`; only the one holding a session-level advisory
lock delivers, the others stand by and take over when its connection ends (the process
died, or the database dropped it). The lock's connection is the worker's own and carries
all of its queries, so a worker that lost it cannot go on recording progress. Deliveries
use their own HTTP client with a deadline per attempt: a slow or silent receiver holds up
only its own subscription, never an append.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import httpx
import msgspec

from events import locks
from events import subscriptions as store
from events.subscriptions import Subscription
from service import metrics
from service.database import connect
from service.exports import ndjson
from service.listener import Listener
from service.settings import Settings
from service.webhooks import rules, targets

log = logging.getLogger("annals.webhooks")

STANDBY_SECONDS: Final = 2.0  # how often a standing-by process asks for the lock
POLL_SECONDS: Final = 1.0  # how soon new and deleted subscriptions are noticed
IDLE_SECONDS: Final = 5.0  # a caught-up subscription looks again even without a NOTIFY
BATCH: Final = 100  # events read ahead per subscription
GAUGE_SECONDS: Final = 1.0  # the pending gauge is recounted at most this often
MAX_ERROR: Final = 500  # characters of an error kept in last_error


class Deliveries:
    """Runs in the background of a service process; delivers while it holds the lock."""

    def __init__(self, url: str, settings: Settings, listener: Listener | None) -> None:
        self._url = url
        self._settings = settings
        self._listener = listener
        self._task: asyncio.Task[None] | None = None
        self.leading = False

    def start(self) -> None:
        """Start standing by (and delivering once this process holds the lock)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="annals-webhooks")

    async def stop(self) -> None:
        """Stop; closing the connection hands the lock to another process."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._hold_and_lead()
            except Exception as e:  # a lost database or a bug: stand by again, never die
                log.warning("webhook delivery stopped (%r); standing by", e)
            await asyncio.sleep(STANDBY_SECONDS)

    async def _hold_and_lead(self) -> None:
        conn = await connect(self._url, connect_timeout=self._settings.db_timeout)
        try:
            while True:  # standing by until the lock is free
                if await locks.try_hold(conn, locks.DELIVERIES_LOCK):
                    break
                await asyncio.sleep(STANDBY_SECONDS)
            log.info("this process delivers webhooks")
            self.leading = True
            timeout = httpx.Timeout(self._settings.webhook_timeout)
            # No redirects (a 3xx is retried like any other non-2xx): following one would
            # reach a target that the request-forgery check never saw.
            async with httpx.AsyncClient(
                timeout=timeout, follow_redirects=False, trust_env=False
            ) as client:
                await _Leader(conn, client, self._settings, self._listener).run()
        finally:
            if self.leading:  # another process reports pending deliveries from now on
                metrics.WEBHOOK_PENDING.clear()
            self.leading = False
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5):
                    await conn.close()


class _Leader:
    """What the process holding the lock does: one task per subscription."""

    def __init__(
        self, conn: Any, client: httpx.AsyncClient, settings: Settings, listener: Listener | None
    ) -> None:
        self.conn = conn
        self.db = asyncio.Lock()  # one connection: its queries take turns
        self.client = client
        self.settings = settings
        self.listener = listener

    async def run(self) -> None:
        """Start and end subscription tasks as subscriptions come and go; any database
        error ends them all (the TaskGroup), and the process stands by again."""
        tasks: dict[str, asyncio.Task[None]] = {}
        async with asyncio.TaskGroup() as group:
            while True:
                async with self.db:
                    subs = await store.list_all(self.conn)
                live = {s.id for s in subs}
                for sub in subs:
                    if sub.id not in tasks:
                        tasks[sub.id] = group.create_task(self._deliver(sub), name=sub.id)
                for gone in [i for i in tasks if i not in live or tasks[i].done()]:
                    tasks.pop(gone).cancel()
                    if gone not in live:
                        metrics.forget_subscription(gone)
                await asyncio.sleep(POLL_SECONDS)

    async def _wait_for_appends(self, generation: int) -> None:
        if self.listener is None:
            await asyncio.sleep(IDLE_SECONDS)
        else:
            await self.listener.wait(generation, IDLE_SECONDS)

    async def _deliver(self, sub: Subscription) -> None:
        """Deliver the subscription's events in sequence order, each until acknowledged;
        return when the subscription is gone."""
        cursor, head, counted = sub.delivered, -1, 0.0
        stale = True  # the pending gauge needs counting again
        failing = _Retry(sub.failures, sub.next_attempt_at)
        while True:
            generation = self.listener.generation if self.listener else 0
            async with self.db:
                events, reach = await store.read_matching(self.conn, sub, cursor, BATCH)
            stale = stale or bool(events) or reach != head
            head = reach
            for ev in events:
                if not await self._until_acknowledged(sub, ev.sequence, ndjson([ev]), failing):
                    return
                cursor = ev.sequence
            if reach > cursor:  # skipped events the subscription does not match
                async with self.db:
                    if not await store.advance(self.conn, sub.id, reach):
                        return
                cursor = reach
            # Counting costs a scan of what is pending: at most once a second, when it moved.
            if stale and time.monotonic() - counted >= GAUGE_SECONDS:
                stale, counted = False, time.monotonic()
                await self._count_pending(sub, cursor)
            if len(events) < BATCH:
                await self._wait_for_appends(generation)

    async def _count_pending(self, sub: Subscription, cursor: int) -> None:
        async with self.db:
            n = await store.pending(self.conn, msgspec.structs.replace(sub, delivered=cursor))
        metrics.WEBHOOK_PENDING.labels(sub.id).set(n)

    async def _until_acknowledged(
        self, sub: Subscription, sequence: int, body: bytes, failing: _Retry
    ) -> bool:
        """Attempt one event until a 2xx, backing off between failures; False when the
        subscription is gone."""
        while True:
            if failing.at is not None:
                await asyncio.sleep(max(0.0, (failing.at - datetime.now(UTC)).total_seconds()))
            error = await self._attempt(sub, sequence, body)
            if error is None:
                failing.failures, failing.at = 0, None
                async with self.db:
                    return await store.advance(self.conn, sub.id, sequence)
            failing.failures += 1
            wait = rules.backoff(failing.failures, self.settings.webhook_backoff)
            failing.at = datetime.now(UTC) + timedelta(seconds=wait)
            metrics.WEBHOOK_FAILURES.labels(sub.id).inc()
            log.info("webhook %s:%d failed (%s); retry in %.1f s", sub.id, sequence, error, wait)
            async with self.db:
                alive = await store.record_failure(
                    self.conn, sub.id, failing.failures, error[:MAX_ERROR], failing.at
                )
            if not alive:
                return False
            await self._count_pending(sub, sequence - 1)

    async def _attempt(self, sub: Subscription, sequence: int, body: bytes) -> str | None:
        """POST one event; None when acknowledged, else what went wrong."""
        refused = await targets.refusal(sub.url, self.settings)
        if refused is not None:
            return f"refused: {refused}"
        headers = rules.headers(sub.id, sub.secret, sequence, body, datetime.now(UTC))
        seconds = self.settings.webhook_timeout
        try:
            async with (
                asyncio.timeout(seconds),
                self.client.stream("POST", sub.url, content=body, headers=headers) as answer,
            ):
                status = answer.status_code  # the body is never read: only the status counts
        except TimeoutError:
            return f"no answer within {seconds:g} s"
        except Exception as e:  # any failure of one receiver is that receiver's, retried
            return f"{type(e).__name__}: {e}"
        return None if rules.acknowledged(status) else f"HTTP {status}"


class _Retry:
    """The failures of the event a subscription is waiting on, and when to try again."""

    def __init__(self, failures: int, at: datetime | None) -> None:
        self.failures = failures
        self.at = at
