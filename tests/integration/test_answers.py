"""The answers of the example timeline, asked over HTTP against a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx

from queries import pages
from service.app import create_app
from service.database import create_pool
from service.wiring import Services
from tests.conftest import EXAMPLE_EVENTS

Client = httpx.AsyncClient
US_PLAN = "/v1/plans/us-28-point-plan"
UPDATE = "/v1/plans/us-updated-settlement-proposal"


async def get(c: Client, path: str, **params: Any) -> Any:
    r = await c.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_us_plan_points_before_and_after_it_was_cut(example: Client) -> None:
    before = await get(example, US_PLAN, at="2025-11-21")
    after = await get(example, US_PLAN, at="2025-11-27")
    assert (before["points"], before["revision"]) == (28, 0)
    assert (after["points"], after["revision"]) == (22, 1)
    assert after["facts"]["points"]["event"] == "pt25-030"
    assert [h["points"] for h in after["history"]] == [28, 22]


async def test_classification_and_whom_it_withholds_from(example: Client) -> None:
    # The 27 November order classifies the updated proposal, not the 28-point plan.
    assert (await get(example, US_PLAN, at="2025-11-28"))["classified"] is False
    update = await get(example, UPDATE, at="2025-11-28")
    assert update["classified"] is True and update["based_on"] == "plan/us-28-point-plan"
    assert update["withheld_from"] == ["party/ukraine", "party/european-union"]
    assert update["classified_by"] == "party/donald-trump"
    assert (await example.get(UPDATE, params={"at": "2025-11-26"})).status_code == 404


async def test_russia_stance_on_donbas_changes_with_the_29_november_statement(
    example: Client,
) -> None:
    on_28 = (await get(example, "/v1/parties/russia", at="2025-11-28"))["positions"]
    on_30 = (await get(example, "/v1/parties/russia", at="2025-11-30"))["positions"]
    assert on_28["issue/donbas"]["stance"] == "conditional"
    assert on_30["issue/donbas"]["stance"] == "demands"
    assert on_30["issue/donbas"]["event"] == "pt25-038"
    assert on_30["issue/donbas"]["since"] == "2025-11-29T00:00:00Z"
    issue = await get(example, "/v1/issues/donbas", at="2025-11-30")
    assert issue["stances"]["party/russia"]["stance"] == "demands"


async def test_meetings_scheduled_as_of_1_december(example: Client) -> None:
    state = await get(example, "/v1/state", at="2025-12-01")
    scheduled = {m["id"]: m for m in state["meetings"] if m["status"] == "scheduled"}
    assert set(scheduled) == {"meeting/moscow-2025-12-02", "meeting/washington-2025-12"}
    assert scheduled["meeting/moscow-2025-12-02"]["starts"] == "2025-12-02"
    moscow = scheduled["meeting/moscow-2025-12-02"]
    assert "party/vladimir-putin" in moscow["participants"]
    assert "party/jared-kushner" not in moscow["participants"]  # the team, not a confirmed guest
    assert "plan/us-updated-settlement-proposal" in moscow["agenda"]


async def test_diff_from_26_to_30_november_lists_what_changed(example: Client) -> None:
    d = await get(example, "/v1/diff", **{"from": "2025-11-26", "to": "2025-11-30"})
    changes = {(c["subject"], c["field"]): c for c in d["changes"]}
    classified = changes[("plan/us-updated-settlement-proposal", "classified")]
    assert (classified["before"], classified["after"], classified["event"]) == (
        None, True, "pt25-032",
    )  # fmt: skip
    assert ("plan/us-28-point-plan", "classified") not in changes
    donbas = changes[("party/russia", "positions.issue/donbas")]
    assert donbas["before"]["stance"] == "conditional"
    assert donbas["after"]["stance"] == "demands"
    assert ("meeting/moscow-2025-12-02", "status") in changes
    assert ("plan/us-28-point-plan", "points") not in changes  # cut before the 26th
    assert d["sequence"] == EXAMPLE_EVENTS
    assert (d["known_at"], d["min_confidence"]) == (None, "disputed")  # what it was asked


async def test_min_confidence_confirmed_drops_what_the_article_only_reports(
    example: Client,
) -> None:
    everything = await get(example, "/v1/parties/united-states", at="2025-11-30")
    confirmed = await get(
        example, "/v1/parties/united-states", at="2025-11-30", min_confidence="confirmed"
    )
    assert everything["positions"]["issue/crimea"]["stance"] == "offers"
    assert everything["positions"]["issue/crimea"]["confidence"] == "reported"
    assert confirmed["positions"]["issue/crimea"]["stance"] == "rejects"
    state = await get(example, "/v1/state", at="2025-12-01", min_confidence="confirmed")
    assert "meeting/moscow-2025-12-02" not in {m["id"] for m in state["meetings"]}


async def test_a_retraction_is_gone_now_but_present_when_known_at_is_before_it(
    example: Client,
) -> None:
    r = await example.post(
        "/v1/events",
        json={
            "type": "event.retracted",
            "subject": "party/russia",
            "time": "2025-12-05",
            "data": {"event": "pt25-038", "reason": "misattributed quote (test)"},
        },
    )
    assert r.status_code == 201, r.text
    retraction_seq = r.json()["sequence"]
    now = await get(example, "/v1/parties/russia", at="2025-11-30")
    assert now["positions"]["issue/donbas"]["event"] != "pt25-038"
    back_then = await get(
        example, "/v1/parties/russia", at="2025-11-30", known_at=str(retraction_seq - 1)
    )
    assert back_then["positions"]["issue/donbas"]["event"] == "pt25-038"
    assert back_then["sequence"] == retraction_seq - 1


async def test_a_correction_replaces_data_and_time_at_any_at(example: Client) -> None:
    r = await example.post(
        "/v1/events",
        json={
            "type": "event.corrected",
            "subject": "plan/us-28-point-plan",
            "time": "2025-12-03",
            "data": {
                "event": "pt25-030",
                "time": "2025-11-22",
                "data": {"by": "party/donald-trump", "points": 21},
            },
        },
    )
    assert r.status_code == 201, r.text
    plan = await get(example, US_PLAN, at="2025-11-23")
    assert plan["points"] == 21
    assert plan["facts"]["points"]["time"] == "2025-11-22T00:00:00Z"


async def test_known_at_pins_the_answer_forever(example: Client) -> None:
    r = await example.get(US_PLAN, params={"at": "2025-11-28", "known_at": "40"})
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    etag = r.headers["etag"]
    assert etag.startswith('"')
    again = await example.get(
        US_PLAN, params={"at": "2025-11-28", "known_at": "40"}, headers={"if-none-match": etag}
    )
    assert again.status_code == 304
    await example.post("/v1/events", json={"type": "x-note", "time": "2025-11-20", "data": 1})
    later = await example.get(US_PLAN, params={"at": "2025-11-28", "known_at": "40"})
    assert later.headers["etag"] == etag
    moving = await example.get(US_PLAN, params={"at": "2025-11-28"})
    assert moving.headers["cache-control"] == "no-cache"


async def test_a_pages_etag_names_its_question_so_revalidating_it_reads_no_page(
    example: Client, monkeypatch: Any
) -> None:
    """A state or diff page's ETag is a function of its question, resolved (its sequence
    among it), and of the code: `If-None-Match` naming it is answered 304 before the page
    is read, however large the page, and a page as known now changes its tag with the log."""
    asks = {
        "/v1/state": {"at": "2025-11-28", "limit": "3"},
        "/v1/diff": {"from": "2025-11-20", "to": "2025-11-30", "limit": "3"},
    }
    tags: dict[str, list[str]] = {}
    for path, params in asks.items():
        for known in ("40", None):
            r = await example.get(path, params={**params, **({"known_at": known} if known else {})})
            assert r.status_code == 200, r.text
            tags.setdefault(path, []).append(r.headers["etag"])
    assert len({t for ts in tags.values() for t in ts}) == 4, tags  # every question its own

    def read(*_: Any, **__: Any) -> None:
        raise AssertionError("a page was read to answer a conditional GET its tag matches")

    with monkeypatch.context() as m:
        m.setattr("queries.pages.page_subjects", read)
        for path, params in asks.items():
            pinned, now = tags[path]
            for known, tag in (("40", pinned), (None, now)):
                again = await example.get(
                    path,
                    params={**params, **({"known_at": known} if known else {})},
                    headers={"if-none-match": f'"other", {tag}'},
                )
                assert again.status_code == 304, (path, again.text)
                assert again.headers["etag"] == tag
    await example.post("/v1/events", json={"type": "x-note", "time": "2025-11-20", "data": 1})
    for path, params in asks.items():
        later = await example.get(path, params=params)
        assert later.headers["etag"] != tags[path][1]  # known now: the log grew
        fixed = await example.get(path, params={**params, "known_at": "40"})
        assert fixed.headers["etag"] == tags[path][0]
        assert fixed.headers["cache-control"] == "public, max-age=31536000, immutable"


async def test_a_pages_document_is_freed_after_its_bytes_are_sent(
    services: Services, monkeypatch: Any
) -> None:
    """Freeing a page's document (millions of objects on a page of megabytes) takes
    milliseconds: it happens once the answer's last bytes are sent, not before."""
    seen: list[str] = []

    class Held(list[int]):
        def __del__(self) -> None:
            seen.append("freed")

    async def document(*_: Any) -> dict[str, Any]:
        return {"parties": Held([1])}

    monkeypatch.setattr("queries.answers.state_document", document)
    app = create_app(svc=services)

    async def watched(scope: Any, receive: Any, send: Any) -> None:
        async def sending(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                seen.append("sent")

        await app(scope, receive, sending)

    transport = httpx.ASGITransport(app=watched)
    async with httpx.AsyncClient(transport=transport, base_url="http://annals.test") as c:
        r = await c.get("/v1/state")
    assert r.status_code == 200 and r.json() == {"parties": [1]}, r.text
    assert seen == ["sent", "freed"]


async def test_a_page_reads_on_a_spare_connection_only_when_the_pool_has_one_now(
    example: Client, services: Services, monkeypatch: Any
) -> None:
    """A page's pieces are also read on a spare connection of the primary, lent only when
    the pool has one idle or may open one and keeps another for the requests that never
    wait for the heavy-read budget (writes among them): a page never waits for it."""
    assert services.settings.database_url is not None
    pool = await create_pool(services.settings.database_url, min_size=1, max_size=3)
    small = Services(services.settings, pool, services.writer, services.listener)
    try:
        async with pool.acquire(), small.spare_read() as spare:
            assert spare is not None  # the pool opens its second, and may open a third
            async with small.spare_read() as none:
                assert none is None  # the last one stays for writes: no waiting
        assert pool.get_idle_size() == pool.get_size() == 2  # given back
        async with pool.acquire(), pool.acquire(), small.spare_read() as none:
            assert none is None  # one left, idle: it stays for writes
    finally:
        await pool.close()
    lent: list[Any] = []
    walked = pages.page_subjects

    async def page_subjects(*args: Any) -> Any:
        lent.append(args[-1])
        return await walked(*args)

    monkeypatch.setattr(pages, "page_subjects", page_subjects)
    for path in ("/v1/state", "/v1/diff?from=2025-11-20&to=2025-11-30"):
        assert (await example.get(path)).status_code == 200
    assert len(lent) == 2 and all(spare is not None for spare in lent), lent


async def test_known_at_as_a_timestamp_counts_only_what_was_recorded_by_then(
    example: Client, services: Services
) -> None:
    head = (await get(example, "/v1/events", after=EXAMPLE_EVENTS - 1))["events"][0]
    r = await example.post(
        "/v1/events",
        json={
            "type": "position.stated", "subject": "party/ukraine", "time": "2025-11-20",
            "data": {"on": "issue/crimea", "stance": "considering"},
        },
    )  # fmt: skip
    assert r.status_code == 201
    then = await get(example, "/v1/parties/ukraine", at="2025-11-30", known_at=head["recordedtime"])
    now = await get(example, "/v1/parties/ukraine", at="2025-11-30")
    assert then["sequence"] == EXAMPLE_EVENTS
    assert then["positions"]["issue/crimea"]["stance"] == "demands"
    # Backdated to the 20th, but later in valid time than Ukraine's 2022 stance: it wins now.
    assert now["positions"]["issue/crimea"]["stance"] == "considering"


async def test_unknown_subject_is_404_and_bad_parameters_name_themselves(example: Client) -> None:
    assert (await example.get("/v1/plans/no-such-plan")).status_code == 404
    assert (await example.get("/v1/parties/russia", params={"at": "2013-01-01"})).status_code == 404
    bad_at = await example.get("/v1/state", params={"at": "yesterday"})
    assert bad_at.status_code in (400, 422)
    assert bad_at.json()["errors"][0]["path"] == "at"
    bad_conf = await example.get("/v1/state", params={"min_confidence": "maybe"})
    assert bad_conf.status_code == 400
    assert "min_confidence" in bad_conf.text
    bad_known = await example.get("/v1/state", params={"known_at": "soon"})
    assert bad_known.status_code in (400, 422)
    assert bad_known.json()["errors"][0]["path"] == "known_at"
    assert (await example.get("/v1/diff", params={"from": "2025-11-26"})).status_code == 400
