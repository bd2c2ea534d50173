"""The viewer's state panel on a log with more parties than one page, in a real browser: it
reads /v1/state a kind and a bounded page at a time, every answer at one sequence, and
"Show more" reads on until every party is shown exactly once."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
from playwright.sync_api import Browser, Response, expect

from tests.e2e.conftest import Service
from tests.e2e.test_viewer import WAIT, browser, shown

__all__ = ["browser"]  # the fixture, used by name
ADDED = 230  # parties registered by the test: with the example's, three pages of 100
DAY = "2025-11-28"


def registered(n: int) -> dict[str, object]:
    return {
        "specversion": "1.0",
        "id": f"viewer-pages-{n}",
        "source": "urn:annals:test:viewer-pages",
        "type": "party.registered",
        "subject": f"party/pages-test-{n:03d}",
        "time": "2025-11-01",
        "confidence": "confirmed",
        "data": {"name": f"Test party {n:03d}", "kind": "organization"},
    }


def state_reads(urls: list[str]) -> list[dict[str, list[str]]]:
    """The query parameters of each /v1/state request among `urls`."""
    return [parse_qs(u.query) for u in map(urlsplit, urls) if u.path == "/v1/state"]


def parties_on(url: str, day: str) -> set[str]:
    """Every party the API knows on `day`, walking /v1/state's pages."""
    found: set[str] = set()
    params: dict[str, str | int] = {"at": day, "kind": "party", "limit": 10_000}
    while True:
        doc = httpx.get(f"{url}/v1/state", params=params, timeout=30).json()
        found.update(p["id"] for p in doc["parties"])
        if doc["next"] is None:
            return found
        params["cursor"] = doc["next"]


def test_the_state_panel_reads_a_page_at_a_time_and_shows_more_on_request(
    service_on_db: Service, browser: Browser
) -> None:
    r = httpx.post(
        f"{service_on_db.url}/v1/events", json=[registered(n) for n in range(ADDED)], timeout=30
    )
    assert r.status_code == 201, r.text
    expected = parties_on(service_on_db.url, DAY)
    assert len(expected) > ADDED  # the example's parties and the test's

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    answers: list[Response] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda q: requests.append(q.url))
    page.on(
        "response", lambda a: answers.append(a) if urlsplit(a.url).path == "/v1/state" else None
    )
    page.goto(f"{service_on_db.url}/?at={DAY}")
    shown(page, DAY)

    # The first reads: one per kind, each a bounded page.
    firsts = state_reads(requests)
    assert {q.get("kind", ["none"])[0] for q in firsts} == {"plan", "meeting", "party"}, firsts
    assert all(int(q["limit"][0]) <= 250 and "cursor" not in q for q in firsts), firsts

    cards = page.get_by_test_id("party-card")
    more = page.get_by_role("button", name=re.compile(r"^Show up to \d+ more parties$"))
    expect(more).to_be_visible()
    first = cards.count()
    assert 0 < first < len(expected)
    expect(page.locator("#parties-count")).to_have_text(f"({first} shown, more to load)")

    clicks = 0
    while more.is_visible():
        before = cards.count()
        more.click()
        clicks += 1
        expect(cards).not_to_have_count(before, timeout=WAIT)
        assert clicks < 10, "Show more never ends"
    expect(page.locator("#parties-count")).to_have_text(f"({len(expected)})", timeout=WAIT)
    assert clicks >= 2  # 100 subject ids a page: the walk takes three pages or more
    ids = cards.evaluate_all("cards => cards.map(c => c.dataset.subject)")
    assert len(ids) == len(set(ids)) == len(expected)
    assert set(ids) == expected

    # The pages after the first continue the walk with its cursor; every answer the page got
    # (the first reads, the later pages) is at one sequence, the one the panel says it shows.
    reads = state_reads(requests)
    assert sum(1 for q in reads if "cursor" in q and q["kind"] == ["party"]) == clicks
    sequences = {a.json()["sequence"] for a in answers}
    state_sequence = page.get_by_test_id("state").get_attribute("data-sequence")
    assert sequences == {int(state_sequence or 0)}, sequences
    assert len(answers) == len(reads)

    # A live event refreshes the view shown: as many parties as were loaded, read anew.
    event = {**registered(ADDED), "type": "position.stated", "subject": "party/pages-test-000"}
    event["data"] = {"on": "issue/donbas", "stance": "neutral"}
    r = httpx.post(f"{service_on_db.url}/v1/events", json=event, timeout=10)
    assert r.status_code == 201, r.text
    state = page.get_by_test_id("state")
    expect(state).to_have_attribute("data-sequence", str(r.json()["sequence"]), timeout=WAIT)
    expect(page.locator("#parties-count")).to_have_text(f"({len(expected)})")
    expect(more).to_be_hidden()

    # Another view starts over: the first page again, "Show more" back.
    page.get_by_label("Minimum confidence").select_option("confirmed")
    expect(page.locator("#parties-count")).to_have_text(
        re.compile(r"shown, more to load"), timeout=WAIT
    )
    expect(more).to_be_visible()
    assert errors == []
