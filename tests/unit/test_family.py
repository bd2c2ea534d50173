"""A plan's family assembled from plan states (projections/family.py): no database."""

from __future__ import annotations

from typing import Any

import projections
from events.timeparse import parse_at
from projections.family import assemble, next_generation
from projections.plan import PlanState
from tests.unit._builders import Log


def states_of(log: Log, at: str = "2026-01-01") -> dict[str, PlanState]:
    every = projections.project_all(log.events, at=parse_at(at))
    return {k: v for k, v in every.items() if isinstance(v, PlanState)}


def propose(log: Log, plan: str, time: str, based_on: str | None = None, **more: Any) -> None:
    data: dict[str, Any] = {"title": plan, "sponsor": "party/s", **more}
    if based_on:
        data["based_on"] = based_on
    log.add("plan.proposed", plan, time, data)


def test_the_family_is_the_plan_then_its_descendants_generation_by_generation() -> None:
    log = Log()
    propose(log, "plan/root", "2025-11-20")
    propose(log, "plan/b", "2025-11-24", "plan/root")
    propose(log, "plan/a", "2025-11-23", "plan/root")
    propose(log, "plan/a-child", "2025-11-25", "plan/a")
    propose(log, "plan/stranger", "2025-11-25")
    family = assemble("plan/root", states_of(log))
    assert [(v.id, v.generation) for v in family.versions] == [
        ("plan/root", 0),
        ("plan/a", 1),  # proposed before plan/b in valid time
        ("plan/b", 1),
        ("plan/a-child", 2),
    ]
    assert family.versions[3].based_on == "plan/a"
    assert not family.truncated


def test_a_version_carries_classification_and_stances() -> None:
    log = Log()
    propose(log, "plan/root", "2025-11-20", points=28)
    propose(log, "plan/update", "2025-11-28", "plan/root")
    log.add(
        "plan.classified",
        "plan/update",
        "2025-11-27",
        {"ordered_by": "party/t", "withheld_from": ["party/u", "party/e"]},
    )
    log.add("position.stated", "party/r", "2025-11-29", {"on": "plan/update", "stance": "rejects"})
    [root, update] = assemble("plan/root", states_of(log)).versions
    assert (root.classified, root.points) == (False, 28)
    assert update.classified and update.withheld_from == ["party/u", "party/e"]
    assert update.stances["party/r"].stance == "rejects"


def test_the_walk_follows_only_what_counts_at_the_date() -> None:
    log = Log()
    propose(log, "plan/root", "2025-11-20")
    propose(log, "plan/later", "2025-12-01", "plan/root")
    states = states_of(log, at="2025-11-30")
    assert next_generation(states, ["plan/root"]) == []
    assert [v.id for v in assemble("plan/root", states).versions] == ["plan/root"]


def test_next_generation_skips_plans_already_in_the_family() -> None:
    log = Log()
    propose(log, "plan/a", "2025-11-20")
    propose(log, "plan/b", "2025-11-21", "plan/a")
    propose(log, "plan/a", "2025-11-22", "plan/b")  # restated on its own descendant: a cycle
    states = states_of(log)
    assert states["plan/b"].derived == ["plan/a"]
    assert next_generation(states, ["plan/b"]) == []
    assert [v.id for v in assemble("plan/a", states).versions] == ["plan/a", "plan/b"]
