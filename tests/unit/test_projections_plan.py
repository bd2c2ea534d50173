"""Plan folds: Given events, When folded, Then the plan's state."""

from __future__ import annotations

from typing import Any

from projections import PlanState, ProvisionEntry, Revision, project, stance_fields
from tests.unit._builders import Log

PROPOSAL: dict[str, Any] = {
    "title": "28-point plan",
    "sponsor": "party/us",
    "kind": "framework",
    "points": 28,
    "summary": "Draft peace framework",
    "provisions": [
        {"id": "1", "text": "Sovereignty confirmed"},
        {"id": "21", "text": "Territories", "issues": ["issue/donbas"]},
    ],
}


def plan(log: Log, subject: str = "plan/p") -> PlanState:
    state = project(subject, log.events, at=None)
    assert isinstance(state, PlanState)
    return state


def proposed(log: Log, **extra: Any) -> None:
    log.add("plan.proposed", "plan/p", "2025-11-19", {**PROPOSAL, **extra})


def test_proposal_sets_the_plan_as_proposed_at_revision_zero() -> None:
    log = Log()
    proposed(log)

    state = plan(log)

    assert (state.title, state.kind, state.sponsor, state.status, state.points) == (
        "28-point plan",
        "framework",
        "party/us",
        "proposed",
        28,
    )
    assert (state.summary, state.revision, state.based_on) == ("Draft peace framework", 0, None)
    assert [p.id for p in state.provisions] == ["1", "21"]
    assert state.provisions[1] == ProvisionEntry(
        id="21", text="Territories", issues=["issue/donbas"]
    )
    assert state.history == [
        Revision(
            revision=0,
            event="e1",
            time="2025-11-19T00:00:00Z",
            confidence="confirmed",
            points=28,
            title="28-point plan",
            summary="Draft peace framework",
            by="party/us",
            provisions_added=state.provisions,
            provisions_removed=[],
        )
    ]
    assert state.facts["status"].event == "e1"


def test_proposal_defaults_to_kind_plan() -> None:
    log = Log()
    log.add("plan.proposed", "plan/p", "2025-11-19", {"title": "T", "sponsor": "party/us"})

    assert plan(log).kind == "plan"


def test_revision_counts_and_changes_only_what_it_states() -> None:
    log = Log()
    proposed(log)
    log.add(
        "plan.revised",
        "plan/p",
        "2025-11-23",
        {
            "by": "party/ukraine",
            "points": 19,
            "provisions_removed": ["21"],
            "provisions_added": [{"id": "22", "text": "Freeze the line"}],
        },
    )
    rev = log.add("plan.revised", "plan/p", "2025-11-24", {"title": "19-point plan"})

    state = plan(log)

    assert (state.revision, state.points, state.title, state.summary) == (
        2,
        19,
        "19-point plan",
        "Draft peace framework",
    )
    assert [p.id for p in state.provisions] == ["1", "22"]
    assert [(h.revision, h.points, h.title, h.by) for h in state.history] == [
        (0, 28, "28-point plan", "party/us"),
        (1, 19, "28-point plan", "party/ukraine"),
        (2, 19, "19-point plan", None),
    ]
    assert state.history[1].provisions_removed == ["21"]
    assert [p.id for p in state.history[1].provisions_added] == ["22"]
    assert state.facts["title"].event == rev.id
    assert state.facts["points"].event == "e2"


def test_added_provision_with_an_existing_id_replaces_it_in_place() -> None:
    log = Log()
    proposed(log)
    log.add(
        "plan.revised",
        "plan/p",
        "2025-11-23",
        {"provisions_added": [{"id": "1", "text": "Sovereignty, amended"}]},
    )

    assert plan(log).provisions[0] == ProvisionEntry(id="1", text="Sovereignty, amended", issues=[])


def test_reproposal_restates_the_plan_and_joins_history() -> None:
    log = Log()
    proposed(log)
    log.add("plan.presented", "plan/p", "2025-11-20", {"by": "party/us", "to": ["party/ukraine"]})
    log.add("plan.proposed", "plan/p", "2025-11-21", {"title": "Restated", "sponsor": "party/us"})

    state = plan(log)

    assert (state.title, state.points, state.provisions, state.status) == (
        "Restated",
        None,
        [],
        "presented",
    )
    assert [h.revision for h in state.history] == [0, 0]


def test_plan_based_on_another_is_listed_as_derived_from_it() -> None:
    log = Log()
    proposed(log)
    log.add(
        "plan.proposed",
        "plan/eu",
        "2025-11-23",
        {
            "title": "European counter-plan",
            "sponsor": "party/eu",
            "kind": "counterproposal",
            "based_on": "plan/p",
        },
    )

    assert plan(log).derived == ["plan/eu"]
    assert plan(log, "plan/eu").based_on == "plan/p"


def test_classification_withholds_plan_from_named_parties() -> None:
    log = Log()
    proposed(log)
    log.add(
        "plan.classified",
        "plan/p",
        "2025-11-20",
        {"ordered_by": "party/us", "withheld_from": ["party/eu", "party/uk"]},
    )

    state = plan(log)

    assert (state.classified, state.classified_by, state.withheld_from) == (
        True,
        "party/us",
        ["party/eu", "party/uk"],
    )
    assert state.status == "proposed"


def test_declassification_clears_the_flag_and_the_withheld_list() -> None:
    log = Log()
    proposed(log)
    log.add(
        "plan.classified",
        "plan/p",
        "2025-11-20",
        {"ordered_by": "party/us", "withheld_from": ["party/eu"]},
    )
    off = log.add("plan.declassified", "plan/p", "2025-11-22", {"by": "party/us"})

    state = plan(log)

    assert (state.classified, state.withheld_from, state.classified_by) == (False, [], "party/us")
    assert state.facts["classified"].event == off.id


def test_presentations_accumulate_audience_presenters_and_meetings() -> None:
    log = Log()
    proposed(log)
    log.add(
        "plan.presented",
        "plan/p",
        "2025-11-20",
        {"by": "party/us", "to": ["party/ukraine"], "meeting": "meeting/kyiv"},
    )
    log.add(
        "plan.presented",
        "plan/p",
        "2025-11-21",
        {"by": "party/ukraine", "to": ["party/eu", "party/ukraine"]},
    )

    state = plan(log)

    assert state.status == "presented"
    assert state.presented_to == ["party/ukraine", "party/eu"]
    assert state.presented_by == ["party/us", "party/ukraine"]
    assert state.presented_at == ["meeting/kyiv"]


def test_supersession_names_the_successor_on_both_plans() -> None:
    log = Log()
    proposed(log)
    log.add("plan.proposed", "plan/q", "2025-11-23", {"title": "19", "sponsor": "party/us"})
    done = log.add("plan.superseded", "plan/p", "2025-11-24", {"by_plan": "plan/q"})

    state = plan(log)

    assert (state.status, state.superseded_by) == ("superseded", "plan/q")
    assert state.facts["superseded_by"].event == done.id
    assert plan(log, "plan/q").supersedes == ["plan/p"]


def test_presenting_a_superseded_plan_keeps_it_superseded() -> None:
    log = Log()
    proposed(log)
    log.add("plan.superseded", "plan/p", "2025-11-24", {"by_plan": "plan/q"})
    log.add("plan.presented", "plan/p", "2025-11-25", {"by": "party/us", "to": ["party/eu"]})

    state = plan(log)

    assert state.status == "superseded"
    assert state.presented_to == ["party/eu"]


def test_stances_on_the_plan_come_from_positions_stated_on_it() -> None:
    log = Log()
    proposed(log)
    log.add("position.stated", "party/russia", "2025-11-21", {"on": "plan/p", "stance": "supports"})
    log.add(
        "position.stated", "party/ukraine", "2025-11-21", {"on": "plan/p", "stance": "considering"}
    )
    log.add(
        "position.stated", "party/ukraine", "2025-11-22", {"on": "issue/x", "stance": "rejects"}
    )

    state = plan(log)

    assert {k: stance_fields(s).stance for k, s in state.stances.items()} == {
        "party/russia": "supports",
        "party/ukraine": "considering",
    }


def test_plan_only_mentioned_by_a_position_has_no_status_but_its_stances() -> None:
    log = Log()
    log.add("position.stated", "party/eu", "2025-11-21", {"on": "plan/ghost", "stance": "opposes"})

    state = plan(log, "plan/ghost")

    assert (state.status, state.title) == (None, None)
    assert list(state.stances) == ["party/eu"]


def test_revision_before_any_proposal_applies_without_a_status() -> None:
    log = Log()
    log.add("plan.revised", "plan/p", "2025-11-23", {"points": 19})

    state = plan(log)

    assert (state.status, state.revision, state.points) == (None, 1, 19)


def test_plan_is_unknown_when_nothing_concerning_it_counts() -> None:
    log = Log()
    log.add("plan.proposed", "plan/p", "2025-11-19", PROPOSAL, confidence="disputed")

    assert project("plan/p", log.events, at=None, min_confidence="unconfirmed") is None
    assert project("plan/other", log.events, at=None) is None
