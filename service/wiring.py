"""Bootstrap: the one place where settings, the pool and the writer are put together."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import asyncpg

from events import migrate as migrations
from events import store
from events.envelope import BadParameter
from events.writer import Writer
from queries import model
from service import follower, runtime
from service.budget import Budget
from service.database import create_pool
from service.embedded import embedded_url, release_embedded
from service.listener import Listener
from service.settings import Settings
from service.signing import Keyring, load
from service.webhooks.worker import Deliveries

log = logging.getLogger("annals")
POLL_SECONDS: Final = 0.01  # how often a pinned query looks at the replica's head again
SPARE_WAIT_SECONDS: Final = 0.05  # the most a page waits for a spare connection to open
EXAMPLE = Path(__file__).resolve().parent.parent / "data" / "examples" / "peace-talks-2025.ndjson"


@dataclass
class Services:
    """What request handlers need, built once per process."""

    settings: Settings
    pool: Any  # asyncpg.Pool on the primary: writes, preconditions, /v1/verify
    writer: Writer
    listener: Listener | None = None  # wakes live streams; None where nothing streams
    read_pool: Any = None  # asyncpg.Pool on a streaming replica; None: reads use `pool`
    heavy: Budget = field(init=False)  # exports, verify, log pages (service/budget.py)

    def __post_init__(self) -> None:
        s = self.settings
        self.heavy = Budget(s.heavy_reads, s.heavy_queue, s.heavy_wait)

    @functools.cached_property
    def keys(self) -> Keyring:
        """The keys that sign heads and check saved ones (service/signing.py)."""
        return load(self.settings, create=True)

    async def acquire(self) -> Any:
        """A pooled connection, or a clear failure within the configured timeout."""
        return self.pool.acquire(timeout=self.settings.db_timeout)

    @contextlib.asynccontextmanager
    async def acquire_read(self, pin: str | int | None = None) -> AsyncIterator[Any]:
        """A connection for a query that holds everything the query claims to know.

        `pin` is what the answer will be computed as of: a `known_at` text (a sequence or
        a timestamp), a sequence (a cursor's, an export's), or None (the head, whatever
        it is where the query runs). Without a replica this is the primary. With one, the
        replica serves unless it has not replayed the pin yet: then the query waits up to
        `read_wait` seconds for it, and past that goes to the primary. So an answer is
        never older than it says, and an unpinned answer names the replica's head as its
        `sequence` (honest, not necessarily the newest; docs/SCALING.md).

        The check and the query share one connection: behind a pooler or a DNS name
        spreading connections over several replicas, another connection could land on a
        replica that is further behind.
        """
        timeout = self.settings.db_timeout
        if self.read_pool is not None:
            async with self.read_pool.acquire(timeout=timeout) as conn:
                if await self._replica_holds(conn, pin):
                    yield conn
                    return
        async with self.pool.acquire(timeout=timeout) as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def spare_read(self) -> AsyncIterator[Any]:
        """A second connection for a page's pieces (`pages.page_subjects`), or None: the
        primary's, which holds whatever a replica does, so every sequence a page's question
        was asked at; and only one the pool has idle or may open now, so a page never waits
        for it, and only while the pool keeps another so, so writes and single answers
        (which never wait for the heavy-read budget) still find a connection."""
        pool = self.pool
        if pool.get_idle_size() + pool.get_max_size() - pool.get_size() < 2:
            yield None
            return
        try:
            conn = await pool.acquire(timeout=SPARE_WAIT_SECONDS)
        except (TimeoutError, OSError, asyncpg.PostgresError):
            yield None  # taken meanwhile, or not opened: the page reads on one connection
            return
        try:
            yield conn
        finally:
            await pool.release(conn)

    async def _replica_holds(self, replica: Any, pin: str | int | None) -> bool:
        """Whether `replica` answers `pin` exactly as the primary would (waiting a little).

        Answers come from the read model, so the replica must hold it (not only the log)
        up to the pinned sequence.
        """
        if pin is None:
            return True
        text = str(pin)
        try:
            if store.SEQUENCE_TEXT.match(text):  # resolved below only if the replica is behind
                wanted = int(text)
            else:
                known = await store.resolve_known_at(replica, text)
                if not known.pinned:  # past what the replica holds: the primary says where
                    async with self.pool.acquire(timeout=self.settings.db_timeout) as primary:
                        known = await store.resolve_known_at(primary, text)
                wanted = known.sequence
        except BadParameter:
            return True  # the handler names the bad parameter, wherever it runs
        held = await model.checkpoint(replica)
        if held >= wanted:
            return True
        # Behind. A pin past the primary's head too (a sequence not written yet) is
        # answered as of that head: the replica need only reach it.
        async with self.pool.acquire(timeout=self.settings.db_timeout) as primary:
            wanted = (await store.resolve_known_at(primary, str(wanted))).sequence
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.read_wait
        while held < wanted:
            if loop.time() >= deadline:
                log.debug("replica at %d, query pinned to %d: primary", held, wanted)
                return False
            await asyncio.sleep(POLL_SECONDS)
            held = await model.checkpoint(replica)
        return True


def database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's (started if needed)."""
    return settings.database_url or embedded_url(settings.data_dir)


async def _open_read_pool(settings: Settings, primary: Any) -> Any:
    """The replica's pool, refused when it is a copy of some other cluster."""
    assert settings.read_database_url is not None
    try:
        replica = await create_pool(
            settings.read_database_url,
            min_size=1,
            max_size=settings.pool_max,
            connect_timeout=settings.db_timeout,
            replica=True,
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as e:
        raise SystemExit(
            f"annals: cannot reach the read replica ({e}). Fix ANNALS_READ_DATABASE_URL, "
            "or unset it to read from the primary."
        ) from e
    try:
        async with replica.acquire() as r, primary.acquire() as p:
            standby = await store.in_recovery(r)
            same = await store.system_identifier(r) == await store.system_identifier(p)
    except asyncpg.InsufficientPrivilegeError:
        standby = same = True  # cannot tell without pg_monitor; trust the operator
        log.warning("cannot check that the read replica copies the primary (needs pg_monitor)")
    if not same:
        await replica.close()
        raise SystemExit(
            "annals: ANNALS_READ_DATABASE_URL is not a replica of ANNALS_DATABASE_URL "
            "(different system identifiers): its answers would be of another log."
        )
    if not standby:
        log.warning("ANNALS_READ_DATABASE_URL is not a standby: queries go to a primary")
    if not await _schema_replayed(replica, primary, settings.db_timeout):
        await replica.close()
        raise SystemExit(
            "annals: the read replica has not replayed the primary's migrations within "
            f"{settings.db_timeout:g} s: is replication running?"
        )
    return replica


async def _schema_replayed(replica: Any, primary: Any, seconds: float) -> bool:
    """Wait until the replica has the primary's schema: migrations just applied on the
    primary reach a standby like any other write, a moment later."""
    async with primary.acquire() as p:
        wanted = await migrations.newest(p)
    deadline = asyncio.get_running_loop().time() + seconds
    async with replica.acquire() as r:
        while True:
            try:
                if await migrations.newest(r) >= wanted:
                    return True
            except asyncpg.UndefinedTableError:
                pass  # not even the first migration replayed yet
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(POLL_SECONDS)


@contextlib.asynccontextmanager
async def services(
    settings: Settings, *, serve: bool = False, follow: bool = False
) -> AsyncIterator[Services]:
    """Open the pools and start the writer; close them all on exit.

    `serve`: a service process, which also listens for appends (live streams), keeps the
    read model following the log and runs its webhook worker. The CLI needs none of them:
    its questions catch the read model up themselves (`projector.ensure`). `follow`: the
    read model's follower alone, for a command that appends much (an import), so that the
    read model is built beside the appends rather than after them.
    """
    url = await asyncio.to_thread(database_url, settings)
    try:
        pool = await create_pool(
            url, min_size=1, max_size=settings.pool_max, connect_timeout=settings.db_timeout
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as e:
        raise SystemExit(
            f"annals: cannot reach the database ({e}). Start PostgreSQL, fix "
            "ANNALS_DATABASE_URL, or unset it to use the embedded server."
        ) from e
    read_pool = None
    if settings.read_database_url:
        try:
            read_pool = await _open_read_pool(settings, pool)
        except BaseException:
            await pool.close()
            raise
    writer = Writer(pool, acquire_timeout=settings.db_timeout)
    writer.start()
    background: contextlib.AbstractAsyncContextManager[Listener | None]
    if serve:
        background = _serving(url, settings)
    elif follow:
        background = follower.running(url)
    else:
        background = contextlib.nullcontext(None)
    try:
        async with background as listener:
            yield Services(settings, pool, writer, listener, read_pool)
    finally:
        await writer.stop()
        if read_pool is not None:
            await read_pool.close()
        await pool.close()
        await asyncio.to_thread(release_embedded)


@contextlib.asynccontextmanager
async def _serving(url: str, settings: Settings) -> AsyncIterator[Listener]:
    """What a service process runs beside its requests: the listener, the webhook worker
    and the read model's follower (a process of its own); stopped in the reverse order."""
    # NOTIFY is not replayed on a standby: the listener always listens on the primary.
    listener = Listener(url)
    listener.start()
    deliveries = Deliveries(url, settings, listener)
    deliveries.start()
    try:
        async with follower.running(url):
            yield listener
    finally:
        await deliveries.stop()
        await listener.stop()


def run(
    coro: Callable[[Services], Awaitable[int]], settings: Settings, *, follow: bool = False
) -> int:
    """Run one command of the CLI with the services open (pools, writer; `follow`: the
    read model's follower too)."""

    async def main() -> int:
        async with services(settings, follow=follow) as svc:
            return await coro(svc)

    return runtime.run(main())
