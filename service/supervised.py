"""A worker process that ends with its supervisor, even when the supervisor is SIGKILLed.

granian serves from worker processes under a supervisor, also with one worker. Killed
with SIGKILL, a supervisor cannot stop its workers, and they would go on answering on the
inherited socket: a "crashed" service still acknowledging appends. Linux's parent-death
signal ends them with it, as the single uvicorn process ends.
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
    if not supervisor or not sys.platform.startswith("linux") or os.getpid() == int(supervisor):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != int(supervisor):  # it went before the signal was armed
        os._exit(1)
