"""One LISTEN connection per process that says when the log may have grown (live streams,
the projector and the webhook worker wait on it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Final

import asyncpg

from events.writer import CHANNEL, DATABASE_ERRORS

log = logging.getLogger("annals.listener")
RECONNECT_SECONDS: Final = 1.0


class Listener:
    """Keeps a LISTEN connection open (reconnecting) and signals when the log grows."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self.generation = 0  # bumped on every wake; read it before looking at the log
        self.latest = 0  # the newest sequence a notification named (what a replica must hold)

    def start(self) -> None:
        """Start listening in the background."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="annals-listen")

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait(self, since: int, seconds: float) -> None:
        """Return once the log may have grown after generation `since`, or after `seconds`.

        Taking the generation before reading the log closes the lost-wakeup race: a
        notification that lands between the read and this wait still ends the wait.
        """
        # asyncio.timeout, not wait_for: on Python 3.11, wait_for returns the inner result
        # when a cancellation lands as the inner wait completes, and the cancelled caller
        # (a stopping projector) carries on for ever.
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._changed.wait_for(lambda: self.generation != since)

    async def _wake(self) -> None:
        async with self._changed:
            self.generation += 1
            self._changed.notify_all()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        with contextlib.suppress(ValueError):
            self.latest = max(self.latest, int(str(payload)))
        asyncio.get_running_loop().create_task(self._wake())

    async def _run(self) -> None:
        while True:
            try:
                conn = await asyncpg.connect(self._url, timeout=5)
            except DATABASE_ERRORS as e:
                log.warning("stream listener cannot connect (%s); retrying", type(e).__name__)
                await asyncio.sleep(RECONNECT_SECONDS)
                continue
            try:
                await conn.add_listener(CHANNEL, self._on_notify)
                await self._wake()  # anything appended while we were away
                while not conn.is_closed():
                    await asyncio.sleep(RECONNECT_SECONDS)
                    await conn.execute("SELECT 1")  # notices a dead connection
            except DATABASE_ERRORS as e:  # anything else escaping would end live delivery
                log.warning("stream listener lost its connection (%s)", type(e).__name__)
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()
            await self._wake()
