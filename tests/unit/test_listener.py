"""The listener's wait gives up when its task is cancelled, whatever else happens then."""

from __future__ import annotations

import asyncio

import pytest

from service.listener import Listener


async def test_a_wait_cancelled_as_the_log_grows_is_still_cancelled() -> None:
    """The projector and every stream wait here; a service stops by cancelling them. A
    notification landing in the same loop turn as the cancellation must not swallow it,
    or the stopping process waits for ever on a task that keeps following the log."""
    listener = Listener("postgresql://127.0.0.1:9/never-connected")
    waiting = asyncio.create_task(listener.wait(0, 60.0))
    for _ in range(5):  # the wait takes the condition, then releases it to sleep on it
        await asyncio.sleep(0)
    await listener._wake()  # a notification: the waiter is woken and will return
    waiting.cancel()  # ... and, in the same turn, the service stops
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(asyncio.shield(waiting), 2.0)
