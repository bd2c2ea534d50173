"""Python's cyclic garbage collector, set for a long-running process once it has started."""

from __future__ import annotations

import gc
from typing import Final

# Allocations between two collections of the youngest generation (Python's default: 700).
# A request makes a few hundred objects and frees nearly all of them by reference counting,
# so a collection every 700 allocations mostly finds the objects of requests still running
# and moves them into older generations, which are then collected in turn.
YOUNG_THRESHOLD: Final = 20_000


def settle() -> None:
    """Leave what start-up built (the app, its routes and schemas, the modules) out of every
    collection from now on, and collect the young generation less often.

    Every full collection otherwise walks the whole start-up heap (hundreds of thousands of
    objects that live as long as the process), and appends at 64 clients ran one every
    second or so. What starts later is still collected; cycles wait at most YOUNG_THRESHOLD
    allocations longer.
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
