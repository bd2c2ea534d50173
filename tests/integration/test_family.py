"""GET /v1/plans/{slug}/family on the example timeline, against a real PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx

Client = httpx.AsyncClient
FAMILY = "/v1/plans/us-28-point-plan/family"
UPDATE = "plan/us-updated-settlement-proposal"


async def family(c: Client, **params: Any) -> dict[str, Any]:
    r = await c.get(FAMILY, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["id"]: v for v in doc["versions"]}


async def test_the_28_point_plan_and_its_versions_on_28_november(example: Client) -> None:
    doc = await family(example, at="2025-11-28")
    assert [v["id"] for v in doc["versions"]] == [
        "plan/us-28-point-plan",
        "plan/geneva-19-point-plan",
        "plan/eu-24-point-plan",
        "plan/european-parliament-resolution-2025-11-27",
        UPDATE,
    ]
    versions = by_id(doc)
    root = versions["plan/us-28-point-plan"]
    assert (root["generation"], root["points"], root["revision"]) == (0, 22, 1)
    assert [h["points"] for h in root["history"]] == [28, 22]
    assert root["classified"] is False and root["withheld_from"] == []
    update = versions[UPDATE]
    assert update["based_on"] == "plan/us-28-point-plan" and update["generation"] == 1
    assert update["classified"] is True
    assert update["classified_by"] == "party/donald-trump"
    assert update["withheld_from"] == ["party/ukraine", "party/european-union"]
    assert update["sponsor"] == "party/united-states"
    assert versions["plan/eu-24-point-plan"]["sponsor"] == "party/european-union"
    assert versions["plan/geneva-19-point-plan"]["points"] == 19


async def test_stances_towards_each_version_follow_the_date(example: Client) -> None:
    on_28 = by_id(await family(example, at="2025-11-28"))
    on_30 = by_id(await family(example, at="2025-11-30"))
    epr = "plan/european-parliament-resolution-2025-11-27"
    assert on_28[epr]["stances"] == {}
    assert on_30[epr]["stances"]["party/russia"]["stance"] == "rejects"
    assert on_30[epr]["stances"]["party/russia"]["confidence"] == "unconfirmed"


async def test_the_family_before_the_update_and_as_known_before_it(example: Client) -> None:
    before = await family(example, at="2025-11-26")
    assert [v["id"] for v in before["versions"]] == [
        "plan/us-28-point-plan",
        "plan/geneva-19-point-plan",
        "plan/eu-24-point-plan",
    ]
    known_35 = await family(example, at="2025-12-03", known_at="35")
    assert UPDATE not in by_id(known_35) and known_35["sequence"] == 35
    confirmed = await family(example, at="2025-12-03", min_confidence="confirmed")
    assert UPDATE not in by_id(confirmed)  # Axios-reported


async def test_a_pinned_family_is_immutable_and_answers_304(example: Client) -> None:
    r = await example.get(FAMILY, params={"at": "2025-11-28", "known_at": "52"})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    again = await example.get(
        FAMILY,
        params={"at": "2025-11-28", "known_at": "52"},
        headers={"If-None-Match": r.headers["etag"]},
    )
    assert again.status_code == 304
    moving = await example.get(FAMILY, params={"at": "2025-11-28"})
    assert moving.headers["cache-control"] == "no-cache"


async def test_unknown_plans_and_bad_parameters_are_problems(example: Client) -> None:
    for path in ("/v1/plans/no-such-plan/family", "/v1/plans/Bad_Slug/family"):
        r = await example.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("application/problem+json")
    early = await example.get(FAMILY, params={"at": "2025-11-01"})
    assert early.status_code == 404
    r = await example.get(FAMILY, params={"at": "yesterday"})
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "at"


async def test_the_family_of_a_derived_plan_is_that_plan_and_below(example: Client) -> None:
    r = await example.get(
        f"/v1/{UPDATE.replace('plan/', 'plans/')}/family", params={"at": "2025-12-03"}
    )
    assert r.status_code == 200
    [only] = r.json()["versions"]
    assert only["id"] == UPDATE and only["based_on"] == "plan/us-28-point-plan"


async def test_the_family_route_leaves_every_subject_answer_in_place(example: Client) -> None:
    for path in ("/v1/plans/us-28-point-plan", "/v1/parties/russia", "/v1/issues/donbas"):
        assert (await example.get(path, params={"at": "2025-11-28"})).status_code == 200, path
    r = await example.get("/v1/parties/russia/family")
    assert r.status_code == 404 and "only plans" in r.json()["detail"]
