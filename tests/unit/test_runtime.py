"""The garbage collector of a long-running process: start-up frozen out, young objects
collected less often. Each check runs in a process of its own, since settling changes the
collector of the whole process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from service import runtime


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_what_start_up_built_is_left_out_of_every_collection_and_what_follows_is_not() -> None:
    out = _run(
        """
        import gc
        from service import runtime
        built = [[n] for n in range(1000)]  # lists: objects the collector tracks
        runtime.settle()
        later = [[n] for n in range(1000)]
        tracked = {id(o) for o in gc.get_objects()}
        print(id(built[0]) in tracked, id(later[0]) in tracked, gc.get_freeze_count() >= 1000)
        """
    )
    assert out == "False True True"


def test_the_young_generation_is_collected_less_often_and_the_older_ones_as_before() -> None:
    out = _run(
        """
        import gc
        from service import runtime
        before = gc.get_threshold()
        runtime.settle()
        after = gc.get_threshold()
        print(after[0], after[1:] == before[1:])
        """
    )
    assert out == f"{runtime.YOUNG_THRESHOLD} True"
