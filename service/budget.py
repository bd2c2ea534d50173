"""A concurrency budget for heavy reads: a few run at once, a few wait briefly, the rest
are told to come back (503 with Retry-After), so writes and health checks keep the CPU,
the memory and the pool."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class Busy(Exception):
    """No place for a heavy read now: the client should come back (503 with Retry-After)."""


class Ticket:
    """One admitted read; `release` gives its place back (once, however often called)."""

    __slots__ = ("_budget", "_held")

    def __init__(self, budget: Budget) -> None:
        self._budget, self._held = budget, True

    def release(self) -> None:
        """Give the place back."""
        if self._held:
            self._held = False
            self._budget._release()


class Budget:
    """At most `running` reads at once; up to `queued` more wait at most `wait` seconds
    each for a place; past either bound the request is refused at once with 503.

    Per process and per event loop (asyncio primitives), like the pool it protects.
    """

    def __init__(self, running: int, queued: int, wait: float) -> None:
        if running < 1 or queued < 0 or wait < 0:
            raise ValueError("a budget needs running >= 1, queued >= 0 and wait >= 0")
        self.running, self.queued, self.wait = running, queued, wait
        self._slots = asyncio.Semaphore(running)
        self.waiting = 0  # how many wait for a place now
        self.busy = 0  # how many hold one now

    async def admit(self) -> Ticket:
        """A place, or Busy when the queue is full or the wait runs out."""
        if self._slots.locked() and self.waiting >= self.queued:
            raise Busy(f"{self.busy} heavy reads are running and {self.waiting} waiting")
        self.waiting += 1
        try:
            async with asyncio.timeout(self.wait):
                await self._slots.acquire()
        except TimeoutError:
            raise Busy(f"no place for a heavy read within {self.wait:g} s") from None
        finally:
            self.waiting -= 1
        self.busy += 1
        return Ticket(self)

    def _release(self) -> None:
        self.busy -= 1
        self._slots.release()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold a place for the body of the `async with` (a handler, a query and its
        encoding)."""
        ticket = await self.admit()
        try:
            yield
        finally:
            ticket.release()

    async def streamed(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Admit now (so a refusal is a 503 before any byte is sent), and hold the place
        until `chunks` ends, fails or the client goes away."""
        ticket = await self.admit()
        return _holding(chunks, ticket)


async def _holding(chunks: AsyncIterator[bytes], ticket: Ticket) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        ticket.release()
