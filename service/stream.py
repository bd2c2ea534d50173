"""Live delivery over SSE: every client wakes with the process's one Listener.

The notification only says "the log grew"; each client then reads the log itself from its
own last sequence, so nothing is skipped or sent twice, whichever process appended.
A client that reads slowly only delays itself: nothing is buffered per client.
Each message is what a page shows (SPEC §5): the event, its headline and the display names
of the subjects it concerns, with no `event:` name so `EventSource.onmessage` gets all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Final

import msgspec
from litestar.response import ServerSentEventMessage

from events import store
from events.envelope import StoredEvent
from events.headline import headline, name_of
from events.vocabulary import type_matches
from events.writer import DATABASE_ERRORS
from queries.names import display_names
from service.listener import RECONNECT_SECONDS, Listener

log = logging.getLogger("annals.stream")
BATCH: Final = 500


async def follow(
    read: Callable[[int], AbstractAsyncContextManager[Any]],
    listener: Listener,
    after: int,
    *,
    subject: str | None,
    type_: str | None,
    keepalive: float,
    max_bytes: int | None = None,
) -> AsyncIterator[ServerSentEventMessage]:
    """The log after `after`, then every event as it commits, as SSE messages (id = sequence),
    read in pages of at most BATCH events and about `max_bytes` bytes.

    `read(n)` lends a connection holding at least sequence n (`Services.acquire_read`): on
    a streaming replica, which replays NOTIFY never, the listener hears the primary and
    the read waits for the replica to replay what was announced (or reads the primary).
    """
    enc = msgspec.json.Encoder()
    loop = asyncio.get_running_loop()
    last, last_sent = after, loop.time()
    yield ServerSentEventMessage(data=None, comment=f"annals stream after {after}", retry=2000)
    while True:
        generation = listener.generation
        try:
            async with read(listener.latest) as conn:
                page = await store.read_log(conn, last, BATCH, subject=subject, max_bytes=max_bytes)
                shown = [ev for ev in page if _wanted(ev.type, type_)]
                concerns = await store.stored_concerns(conn, [ev.sequence for ev in shown])
                names = (
                    await display_names(
                        conn, {s for c in concerns.values() for s in c}, page[-1].sequence
                    )
                    if shown
                    else {}
                )
        except DATABASE_ERRORS:
            yield ServerSentEventMessage(data=None, comment="database unavailable, retrying")
            await asyncio.sleep(RECONNECT_SECONDS)
            continue
        for ev in shown:
            last_sent = loop.time()
            message = live(ev, concerns[ev.sequence], names)
            yield ServerSentEventMessage(data=enc.encode(message).decode(), id=ev.sequence)
        if page:  # a page may end early (by bytes): only an empty one means caught up
            last = page[-1].sequence
            continue
        idle = loop.time() - last_sent
        if idle >= keepalive:
            last_sent = loop.time()
            yield ServerSentEventMessage(data=None, comment="keep-alive")
            idle = 0
        await listener.wait(generation, keepalive - idle)


def _wanted(type_: str, wanted: str | None) -> bool:
    """The `type` filter: an exact type, or a prefix ending in a dot (`plan.`)."""
    return type_matches(wanted, type_)


def live(ev: StoredEvent, concerns: list[str], names: dict[str, str]) -> dict[str, Any]:
    """A stream message's data: the stored event, its headline, and a display name for every
    subject it concerns as stored (the introducing name, else one made from the slug)."""
    body: dict[str, Any] = msgspec.structs.asdict(ev)
    body["headline"] = headline(ev.type, ev.subject, ev.data)
    body["names"] = {s: names.get(s) or name_of(s) for s in sorted(concerns)}
    return body
