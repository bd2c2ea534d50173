"""A connection PostgreSQL broke off is "database unavailable" (503), never a 500.

When PostgreSQL shuts down, an idle pooled connection receives the FATAL before its socket
closes; the next query on it raises asyncpg's InternalClientError ("cannot switch to state
15; another operation (2) is in progress"). tests/e2e/test_db_restart.py meets this by
chance; these pin it down without a database.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, cast

import asyncpg
import pytest

from events.writer import Unavailable, Writer
from service.problems import to_problem

BROKEN = "cannot switch to state 15; another operation (2) is in progress"


class _BrokenConnection:
    async def __aenter__(self) -> Any:
        raise asyncpg.InternalClientError(BROKEN)

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class _BrokenPool:
    def acquire(self, timeout: float | None = None) -> _BrokenConnection:
        return _BrokenConnection()


def test_a_broken_connection_answers_503_with_retry_after() -> None:
    problem = to_problem(asyncpg.InternalClientError(BROKEN))
    assert problem.status_code == 503
    assert problem.headers is not None and problem.headers["Retry-After"]


async def test_the_writer_answers_unavailable_and_keeps_running() -> None:
    writer = Writer(cast(Any, _BrokenPool()))
    writer.start()
    try:
        for _ in range(2):  # the writer task survived the first failure
            with pytest.raises(Unavailable):
                await writer.append([])
    finally:
        await writer.stop()
