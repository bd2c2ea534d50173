"""What a live stream message carries (SPEC §5): no event name, the event, headline, names."""

from __future__ import annotations

import json
from typing import Any

import httpx

from service.stream import follow
from service.wiring import Services


async def messages(svc: Services, after: int, count: int, **filters: Any) -> list[Any]:
    got: list[Any] = []
    stream = follow(
        svc.acquire_read,
        svc.listener,  # type: ignore[arg-type]
        after,
        subject=filters.get("subject"),
        type_=filters.get("type_"),
        keepalive=5,
    )
    async for m in stream:
        if m.data is not None:
            got.append(m)
        if len(got) == count:
            break
    return got


async def test_a_message_has_no_event_name_and_carries_headline_and_names(
    example: httpx.AsyncClient, services: Services
) -> None:
    [moscow] = await messages(services, 36, 1)  # pt25-037, the Moscow meeting
    assert moscow.event is None and moscow.id == 37
    body = json.loads(moscow.data)
    assert body["id"] == "pt25-037" and body["sequence"] == 37 and body["hash"]
    assert body["headline"].startswith("US-Russia high-level negotiations in Moscow")
    assert body["names"] == {
        "meeting/moscow-2025-12-02": "US-Russia high-level negotiations in Moscow",
        "party/united-states": "United States",
        "party/russia": "Russia",
        "party/vladimir-putin": "Vladimir Putin",
        "plan/us-updated-settlement-proposal": "Updated US settlement proposal",
        "issue/crimea": "Crimea",
        "issue/donbas": "Donbas",
        "issue/recognition": "Recognition",
    }


async def test_custom_types_and_type_filters_reach_the_client_the_same_way(
    example: httpx.AsyncClient, services: Services
) -> None:
    note = {"id": "n1", "type": "x-note", "time": "2025-12-01", "subject": "party/ukraine"}
    assert (
        await example.post("/v1/events", json={**note, "data": {"text": "hi"}})
    ).status_code == 201
    [custom] = await messages(services, 52, 1)
    body = json.loads(custom.data)
    assert custom.event is None and body["type"] == "x-note"
    assert body["names"] == {"party/ukraine": "Ukraine"}
    plans = await messages(services, 0, 3, type_="plan.")
    assert [m.id for m in plans] == [24, 25, 26]
    assert all(json.loads(m.data)["type"].startswith("plan.") for m in plans)


async def test_a_retractions_names_are_the_subjects_it_concerns_as_stored(
    example: httpx.AsyncClient, services: Services
) -> None:
    """A retraction concerns every subject its target concerns (the `subject` filter finds it
    there), so its message names them all, not only its own subject."""
    stated = {
        "id": "s1", "type": "position.stated", "time": "2025-12-01", "subject": "party/ukraine",
        "data": {"on": "issue/crimea", "stance": "rejects"},
    }  # fmt: skip
    retracted = {
        "id": "s1-r", "type": "event.retracted", "time": "2025-12-02",
        "data": {"event": "s1", "reason": "misreported"},
    }  # fmt: skip
    for ev in (stated, retracted):
        assert (await example.post("/v1/events", json=ev)).status_code == 201
    [_, retraction] = await messages(services, 52, 2, subject="issue/crimea")
    body = json.loads(retraction.data)
    assert body["type"] == "event.retracted"
    assert body["names"] == {"party/ukraine": "Ukraine", "issue/crimea": "Crimea"}
