"""The heavy-read budget: how many run, how many wait, for how long, and the refusal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from service.budget import Budget, Busy
from service.problems import to_problem


async def test_past_running_and_queued_a_read_is_refused_at_once_with_retry_after() -> None:
    budget = Budget(running=2, queued=1, wait=5)
    gate = asyncio.Event()

    async def read() -> None:
        async with budget.slot():
            await gate.wait()

    tasks = [asyncio.create_task(read()) for _ in range(3)]  # 2 run, 1 waits
    await asyncio.sleep(0.01)
    assert (budget.busy, budget.waiting) == (2, 1)
    with pytest.raises(Busy) as refused:
        await asyncio.wait_for(budget.admit(), 0.5)  # at once, not after the 5 s wait
    problem = to_problem(refused.value)
    assert problem.status_code == 503
    assert problem.headers == {"Retry-After": "2"}
    assert problem.title == "Too busy"
    gate.set()
    await asyncio.gather(*tasks)
    assert (budget.busy, budget.waiting) == (0, 0)


async def test_a_waiting_read_gets_the_place_a_finished_one_frees() -> None:
    budget = Budget(running=1, queued=4, wait=5)
    order: list[str] = []

    async def read(name: str, hold: float) -> None:
        async with budget.slot():
            order.append(name)
            await asyncio.sleep(hold)

    await asyncio.gather(read("a", 0.05), read("b", 0), read("c", 0))
    assert order == ["a", "b", "c"]


async def test_a_read_waiting_past_the_wait_is_refused_and_leaves_the_queue() -> None:
    budget = Budget(running=1, queued=4, wait=0.05)
    held = await budget.admit()
    with pytest.raises(Busy, match=r"within 0\.05 s"):
        await budget.admit()
    assert budget.waiting == 0
    held.release()
    held.release()  # once only
    assert budget.busy == 0
    (await budget.admit()).release()


async def test_a_stream_holds_its_place_until_it_ends_or_is_closed() -> None:
    budget = Budget(running=1, queued=0, wait=0)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield b"%d" % i

    stream = await budget.streamed(chunks())
    assert budget.busy == 1  # admitted before the first byte
    with pytest.raises(Busy):
        await budget.admit()
    assert [c async for c in stream] == [b"0", b"1", b"2"]
    assert budget.busy == 0
    stream = await budget.streamed(chunks())
    assert await anext(stream) == b"0"
    await stream.aclose()  # type: ignore[attr-defined]  # the client went away
    assert budget.busy == 0


def test_a_budget_needs_room_for_one() -> None:
    with pytest.raises(ValueError, match="running >= 1"):
        Budget(running=0, queued=0, wait=0)
