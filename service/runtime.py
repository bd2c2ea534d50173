"""How a process of Annals runs: on uvloop, with the garbage collector settled after start-up."""

from __future__ import annotations

import gc
from collections.abc import Coroutine
from typing import Any, Final, TypeVar

import uvloop

T = TypeVar("T")

# How many more objects may be made than freed before the youngest generation is collected
# (Python's default: 700). A request frees nearly every object it makes by reference
# counting, but 64 requests in flight hold thousands at once: at 700 a collection mostly
# finds the objects of requests still running and moves them into older generations, which
# are then collected in turn.
YOUNG_THRESHOLD: Final = 20_000


def settle() -> None:
    """Leave what start-up built (the app, its routes and schemas, the modules) out of every
    collection from now on, and collect the young generation less often.

    Every full collection otherwise walks the whole start-up heap (hundreds of thousands of
    objects that live as long as the process), and 64 appending clients bring one about
    every second. What is made later is still collected; a cycle of garbage waits for at
    most YOUNG_THRESHOLD more objects.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a command's or the follower's `main` to its end: the collector settled (what is
    imported is what start-up built), then on a new uvloop event loop, the loop uvicorn and
    granian serve on, whose sockets and callbacks cost less than asyncio's own loop's."""
    settle()
    return uvloop.run(main)
