"""Processes that end with their parent, even when the parent is SIGKILLed.

granian serves from worker processes under a supervisor, also with one worker. Killed
with SIGKILL, a supervisor cannot stop its workers, and they would go on answering on the
inherited socket: a "crashed" service still acknowledging appends. Linux's parent-death
signal ends them with it, as the single uvicorn process ends; the read model's follower
(service/follower.py) ends with its service process the same way.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Final

SUPERVISOR_PID: Final = "ANNALS_SUPERVISOR_PID"  # set by `annals serve` for its workers
_PR_SET_PDEATHSIG: Final = 1


def die_with_supervisor() -> None:
    """In a worker of `annals serve`: be killed when the supervisor goes (no-op elsewhere)."""
    supervisor = os.environ.get(SUPERVISOR_PID)
    if not supervisor or os.getpid() == int(supervisor):
        return
    die_with(int(supervisor))


def die_with(parent: int) -> None:
    """Be killed when process `parent` (this one's parent) goes, however it goes."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent:  # it went before the signal was armed
        os._exit(1)
