"""The single writer: group commit of concurrent appends, in one global order.

Why commit order equals sequence order (and readers never skip an event): every appending
transaction, in every process, first takes one transaction-scoped advisory lock
(APPEND_LOCK), then reads the head of the log and numbers its events head+1, head+2, ...
The lock is released only after the commit is visible, so the next writer reads a head
that includes ours. A sequence number is therefore never handed out while a smaller one is
still uncommitted, and a reader paging by `sequence > N` cannot overtake a late commit —
the failure that Postgres event stores built on `bigserial` (where numbers are taken
before commit, in any order) have shipped.

Throughput: a request does not pay a transaction of its own. The writer task takes every
request waiting at that moment, opens one transaction, validates the requests one after
another against the log and the group's pending overlay (so one bad request fails alone
and its neighbours still commit), writes the accepted rows with one COPY per table, and
commits once. Each request is answered only after the commit that holds it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Final

import asyncpg
import msgspec

from events.accept import Appended, Conflict, Head, Precondition, Ready, accept, prepare
from events.append import BEGIN, CHANNEL, commit_statement, flush, prefetch, read_head_and_clock
from events.envelope import Draft, FieldError, InvalidEvent
from events.overlay import Pending

MAX_GROUP_EVENTS: Final = 20_000  # events per group transaction (a request is never split)
# What a database that is gone, or a connection it left broken, raises. InternalClientError
# belongs here: when PostgreSQL shuts down, an idle pooled connection receives the FATAL
# before its socket closes, and the next query on it fails with "cannot switch to state ...;
# another operation is in progress" (the pool then drops that connection on release).
DATABASE_ERRORS: Final = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


class Unavailable(Exception):
    """The database could not be reached or failed: nothing in this request was stored."""


class _Request(msgspec.Struct):
    readies: Sequence[Ready]
    preconditions: Sequence[Precondition]
    echo: bool
    future: asyncio.Future[Appended]


class Writer:
    """Collects appends from concurrent requests and commits them in groups."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 5.0) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._queue: asyncio.Queue[_Request] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    @property
    def pool(self) -> asyncpg.Pool:
        """The pool it writes through (an import reads the head and stored hashes on it)."""
        return self._pool

    def start(self) -> None:
        """Start the writer task on the running loop."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="annals-writer")

    async def stop(self) -> None:
        """Stop taking work; requests still queued are answered Unavailable."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while not self._queue.empty():
            req = self._queue.get_nowait()
            if not req.future.done():
                req.future.set_exception(Unavailable("the service is shutting down"))

    async def append(
        self,
        drafts: Sequence[Draft],
        preconditions: Sequence[Precondition] = (),
        echo: bool = True,
    ) -> Appended:
        """Append one request's events, all or nothing, once its group has committed.
        Without `echo` the answer counts the events but does not show them (an import)."""
        # The per-event work that does not depend on the place in the log runs here, in
        # the caller's task: outside the lock, while the writer's group is in the database.
        readies = [prepare(d) for d in drafts]
        fut: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Request(readies, preconditions, echo, fut))
        return await fut

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            size = len(group[0].readies)
            while not self._queue.empty() and size < MAX_GROUP_EVENTS:
                req = self._queue.get_nowait()
                group.append(req)
                size += len(req.readies)
            try:
                await self._commit(group)
            except asyncio.CancelledError:
                for req in group:
                    if not req.future.done():
                        req.future.set_exception(Unavailable("the service is shutting down"))
                raise
            except DATABASE_ERRORS as e:
                for req in group:
                    if not req.future.done():
                        req.future.set_exception(Unavailable(str(e) or type(e).__name__))
            except Exception as e:  # a bug must not kill the writer: fail this group only
                for req in group:
                    if not req.future.done():
                        req.future.set_exception(e)

    async def _commit(self, group: list[_Request]) -> None:
        try:
            results = await self._transaction(group)
        except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError) as e:
            # Input the checks let through but the database refuses. Nothing of the group
            # was committed: find the culprit by committing each request on its own.
            if len(group) > 1:
                for req in group:
                    await self._commit([req])
                return
            refused = InvalidEvent([FieldError("$", f"the database refused it: {e}")])
            results = [(group[0], refused)]
        # Answer only after the commit: an acknowledged event is a durable event.
        for req, result in results:
            if req.future.done():
                continue
            if isinstance(result, BaseException):
                req.future.set_exception(result)
            else:
                req.future.set_result(result)

    async def _transaction(
        self, group: list[_Request]
    ) -> list[tuple[_Request, Appended | BaseException]]:
        results: list[tuple[_Request, Appended | BaseException]] = []
        async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
            # The transaction by hand, to save round trips: BEGIN travels with the lock
            # (one simple-protocol message, two statements) and pg_notify with the COMMIT.
            # The head is read in a statement of its own, after the lock: see
            # read_head_and_clock. A failure anywhere rolls back; should the connection be
            # too broken for that, the pool rolls back (or drops it) on release.
            try:
                await conn.execute(BEGIN)
                head, recorded_at = await read_head_and_clock(conn)
                # What the log holds for every request of the group, in one query per kind
                # of question (ids, retraction/correction targets, preconditions).
                known = await prefetch(conn, [(r.readies, r.preconditions) for r in group])
                pending = Pending()
                for req in group:
                    result: Appended | BaseException
                    try:
                        result, head = accept(
                            head, recorded_at, req.readies, req.preconditions, pending, known,
                            req.echo,
                        )  # fmt: skip
                    except (InvalidEvent, Conflict) as e:
                        result = e  # this request alone fails; it left nothing in `pending`
                    results.append((req, result))
                await flush(conn, pending)
                # The event_concerns rows, the NOTIFY and the COMMIT in one message.
                await conn.execute(commit_statement(pending, head.sequence))
            except BaseException:
                with contextlib.suppress(*DATABASE_ERRORS):
                    await conn.execute("ROLLBACK")
                raise
        return results


__all__ = ["CHANNEL", "DATABASE_ERRORS", "Head", "Unavailable", "Writer"]
