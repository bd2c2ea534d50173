"""The read model's follower: a process of its own beside each service process.

Its Python work (~170 µs an event) would otherwise share one core with the appends and the
live streams; apart, it runs on another. docs/ARCHITECTURE.md, "Kept current".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Final

import asyncpg

from events import locks
from queries import projector
from service import runtime
from service.database import create_pool
from service.listener import Listener
from service.supervised import die_with

log = logging.getLogger("annals.follower")
URL_ENV: Final = "ANNALS_FOLLOWER_URL"  # the database, resolved by the service (not argv: ps)
PARENT_ENV: Final = "ANNALS_FOLLOWER_PARENT"
RESTART_SECONDS: Final = 1.0
STOP_SECONDS: Final = 5.0


@contextlib.asynccontextmanager
async def running(url: str) -> AsyncIterator[None]:
    """Run a follower process for as long as the block runs; start it again if it ends."""
    env = {**os.environ, URL_ENV: url, PARENT_ENV: str(os.getpid())}

    async def keep() -> None:
        while True:
            try:
                # A session of its own: Ctrl-C signals the terminal's process group, and
                # the follower would end before its service process and look crashed. The
                # service process stops it (SIGTERM); its death ends it (die_with).
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "service.follower", env=env,
                    stdin=asyncio.subprocess.DEVNULL, start_new_session=True,
                )  # fmt: skip
            except OSError as e:  # questions still catch the read model up themselves
                log.warning("cannot start the read model follower (%s); trying again", e)
                await asyncio.sleep(RESTART_SECONDS)
                continue
            try:
                code = await proc.wait()
            except asyncio.CancelledError:
                await _stop(proc)
                raise
            log.warning("read model follower exited with %s; starting it again", code)
            await asyncio.sleep(RESTART_SECONDS)

    task = asyncio.get_running_loop().create_task(keep(), name="annals-follower")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if it has not gone within STOP_SECONDS."""
    if proc.returncode is not None:
        return
    proc.terminate()
    try:
        async with asyncio.timeout(STOP_SECONDS):
            await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def follow(url: str) -> None:
    """Take the follower's lock, then keep the read model up with the log until cancelled."""
    lock = await asyncpg.connect(url)
    try:
        # One follower follows at a time, whatever the number of service processes: the
        # others wait here and take over when its holder goes.
        await locks.hold(lock, locks.FOLLOWER_LOCK)
        pool = await create_pool(url, min_size=1, max_size=1)
        listener = Listener(url)
        listener.start()
        try:
            await projector.follow(pool.acquire, listener.wait, lambda: listener.generation)
        finally:
            await listener.stop()
            await pool.close()
    finally:
        await lock.close()


def main() -> int:
    """`python -m service.follower`, started by a service process (`running`)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    die_with(int(os.environ[PARENT_ENV]))

    async def go() -> None:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await follow(os.environ[URL_ENV])

    runtime.run(go())
    return 0


if __name__ == "__main__":
    sys.exit(main())
