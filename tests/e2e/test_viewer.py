"""The viewer at / in a real browser (Debian's Chromium, driven by Playwright).

Against `annals serve --load-example`: the timeline, the plan family and the state on
2025-11-28 as the page draws them; the date slider and `known_at` changing what is drawn; an
event's sources on a click; an event posted over HTTP appearing without a reload and without
a request to /v1/timeline; and no request to any other host. Saves the screenshots in docs/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.e2e.conftest import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
DOCS = Path(__file__).resolve().parents[2] / "docs"
WAIT = 10_000  # ms, for every auto-waiting expectation

US_PLAN = '[data-testid="plan-card"][data-subject="plan/us-28-point-plan"]'
RUSSIA = '[data-testid="party-card"][data-subject="party/russia"]'
RUSSIA_ON_DONBAS = f'{RUSSIA} [data-on="issue/donbas"] [data-field="stance"]'
UPDATE = '[data-testid="family-version"][data-plan="plan/us-updated-settlement-proposal"]'
ROOT = '[data-testid="family-version"][data-plan="plan/us-28-point-plan"]'
EPR = '[data-testid="family-version"][data-plan="plan/european-parliament-resolution-2025-11-27"]'


@pytest.fixture
def browser() -> Iterator[Browser]:
    """Debian's Chromium; skips where it is not installed (`playwright install` can't run)."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium not found at /usr/bin/chromium: apt-get install chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Opened:
    """A page on the viewer with what it reported: script errors and every request made."""

    def __init__(self, browser: Browser, url: str, width: int, height: int, scale: float = 1):
        self.page = browser.new_page(
            viewport={"width": width, "height": height}, device_scale_factor=scale
        )
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)
        expect(self.page.get_by_role("heading", level=1)).to_have_text("Annals")


def item(page: Page, sequence: int) -> Locator:
    """The timeline item drawing the event of that sequence (its vis-timeline element)."""
    return page.locator(f'.vis-item:has([data-testid="timeline-item"][data-sequence="{sequence}"])')


def shown(page: Page, day: str) -> None:
    """Wait until the state and the family of `day` are on the page."""
    expect(page.get_by_test_id("state")).to_have_attribute("data-at", day, timeout=WAIT)
    expect(page.get_by_test_id("family")).to_have_attribute("data-at", day, timeout=WAIT)


def test_viewer_draws_the_story_follows_the_controls_and_updates_live(
    service_on_db: Service, browser: Browser
) -> None:
    host = urlsplit(service_on_db.url).netloc
    viewer = Opened(browser, f"{service_on_db.url}/?at=2025-11-28", 1280, 900)
    page = viewer.page
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live", timeout=WAIT)
    shown(page, "2025-11-28")

    # The timeline: events as points, meetings as ranges, grouped under display names,
    # styled by confidence, what lies after the date faded, a marker at the date.
    expect(item(page, 24)).to_contain_text("United States proposes US 28-point peace plan")
    expect(item(page, 24)).to_have_class(re.compile(r"\bvis-point\b.*\bconf-confirmed\b"))
    expect(item(page, 37)).to_have_class(re.compile(r"\bvis-range\b.*\bconf-reported\b"))
    expect(item(page, 37)).to_have_class(re.compile(r"\bafter-date\b"))  # Moscow, 2 Dec
    expect(item(page, 36)).not_to_have_class(re.compile(r"\bafter-date\b"))
    labels = page.locator(".vis-labelset .vis-label")
    expect(labels.filter(has_text="Updated US settlement proposal")).to_have_count(1)
    expect(labels.filter(has_text="US-Russia high-level negotiations in Moscow")).to_have_count(1)
    marker = page.locator(".vis-custom-time-marker")
    expect(marker).to_have_text("28 Nov 2025")

    # The family: 28 -> 19, 24, the EPR and the classified update (22 is the 28's revision).
    versions = page.get_by_test_id("family-version")
    expect(versions).to_have_count(5)
    expect(page.locator(f'{ROOT} [data-field="points"]')).to_have_text("28 → 22 points")
    expect(page.locator(f'{ROOT} [data-field="classified"]')).to_have_text("Not classified")
    expect(page.locator(f'{UPDATE} [data-field="classified"]')).to_have_text(
        "Classified · withheld from Ukraine, European Union"
    )
    expect(page.locator(UPDATE)).to_have_attribute("data-generation", "1")

    # The state cards agree: the 28-point plan was cut to 22 and was not classified.
    plan = page.locator(US_PLAN)
    expect(plan.locator('[data-field="points"]')).to_have_text("22")
    expect(plan.locator('[data-field="classified"]')).to_have_text("Not classified")
    expect(page.locator(RUSSIA_ON_DONBAS)).to_have_text("conditional")

    # The slider moves the date: the marker, the fading, the family's stances follow.
    slider = page.get_by_label("Move through time")
    slider.focus()
    for _ in range(4):
        slider.press("ArrowRight")
    expect(page.get_by_label("Date", exact=True)).to_have_value("2025-12-02")
    shown(page, "2025-12-02")
    expect(marker).to_have_text("2 Dec 2025")
    expect(item(page, 37)).not_to_have_class(re.compile(r"\bafter-date\b"))
    expect(page.locator(f'{EPR} [data-party="party/russia"] [data-field="stance"]')).to_have_text(
        "rejects"
    )
    expect(page.locator(RUSSIA_ON_DONBAS)).to_have_text("demands")
    for _ in range(4):
        slider.press("ArrowLeft")
    shown(page, "2025-11-28")
    expect(item(page, 37)).to_have_class(re.compile(r"\bafter-date\b"))

    # known_at: what the log held at sequence 35, before the Axios update was recorded.
    known = page.get_by_label("Known at")
    known.fill("35")
    known.press("Enter")
    expect(page.get_by_test_id("timeline")).to_have_attribute("data-known", "35", timeout=WAIT)
    expect(marker).to_have_text("28 Nov 2025 · known at #35")
    expect(item(page, 36)).to_have_count(0, timeout=WAIT)
    expect(item(page, 24)).to_have_count(1)
    expect(versions).to_have_count(4, timeout=WAIT)
    expect(page.locator(UPDATE)).to_have_count(0)
    known.fill("")
    known.press("Enter")
    expect(page.get_by_test_id("timeline")).to_have_attribute("data-known", "", timeout=WAIT)
    expect(item(page, 36)).to_have_count(1, timeout=WAIT)
    expect(versions).to_have_count(5, timeout=WAIT)

    # A click shows the event with its sources.
    item(page, 36).click()
    detail = page.get_by_test_id("event-detail")
    expect(detail).to_contain_text("United States proposes Updated US settlement proposal")
    expect(detail.get_by_test_id("sources")).to_contain_text("Axios")
    expect(detail.get_by_test_id("sources")).to_contain_text("bne IntelliNews")
    detail.get_by_role("button", name="Close the event").click()
    expect(detail).to_be_hidden()

    page.locator("body").click(position={"x": 5, "y": 5})  # no focus ring in the screenshot
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "viewer-2025-11-28.png"), full_page=True)

    phone = Opened(browser, f"{service_on_db.url}/?at=2025-11-28", 390, 844, scale=2)
    shown(phone.page, "2025-11-28")
    expect(phone.page.get_by_test_id("connection")).to_have_attribute(
        "data-state", "live", timeout=WAIT
    )
    expect(item(phone.page, 30)).to_be_visible()
    width = phone.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width}px)"
    phone.page.locator("#timeline-heading").scroll_into_view_if_needed()
    phone.page.evaluate(
        "window.scrollBy(0, document.querySelector('#timeline').getBoundingClientRect().top - 8)"
    )
    phone.page.screenshot(path=str(DOCS / "viewer-phone.png"))
    phone.page.close()
    assert phone.errors == []

    # A link names its view: the confidence floor, and the plan whose family shows (an id
    # that is no plan's is ignored).
    epr = "plan/european-parliament-resolution-2025-11-27"
    for named, picked in ((epr, epr), ("party/russia", "plan/us-28-point-plan")):
        linked = Opened(
            browser, f"{service_on_db.url}/?at=2025-11-28&min_confidence=reported&plan={named}",
            1280, 900,
        )  # fmt: skip
        shown(linked.page, "2025-11-28")
        expect(linked.page.locator("#min-confidence")).to_have_value("reported")
        expect(linked.page.locator("#family-plan")).to_have_value(picked, timeout=WAIT)
        linked.page.close()
        assert linked.errors == []

    # An event posted over HTTP is drawn from its stream message alone.
    before = len(viewer.requests)
    event = {
        "specversion": "1.0",
        "id": "viewer-live-1",
        "source": "urn:annals:test:viewer",
        "type": "position.stated",
        "subject": "party/russia",
        "time": "2025-11-28",
        "confidence": "confirmed",
        "data": {"on": "issue/donbas", "stance": "rejects", "summary": "Posted by the test."},
    }
    r = httpx.post(f"{service_on_db.url}/v1/events", json=event, timeout=10)
    assert r.status_code == 201, r.text
    sequence = r.json()["sequence"]
    live = page.locator(f'[data-testid="live-event"][data-sequence="{sequence}"]')
    expect(live).to_contain_text("Russia rejects Donbas", timeout=WAIT)
    expect(page.get_by_test_id("live-announcer")).to_contain_text(f"#{sequence}", timeout=WAIT)
    expect(page.locator(RUSSIA_ON_DONBAS)).to_have_text("rejects", timeout=WAIT)
    expect(page.get_by_test_id("state")).to_have_attribute("data-sequence", str(sequence))
    expect(page.get_by_test_id("family")).to_have_attribute("data-sequence", str(sequence))
    expect(page.locator("#head-sequence")).to_have_text(str(sequence))
    while_live = [urlsplit(u) for u in viewer.requests[before:]]
    print("requests while a live event arrives:", [f"{u.path}?{u.query}" for u in while_live])
    assert not [u for u in while_live if u.path == "/v1/timeline"]
    live.get_by_role("button").click()  # brings it into view on the timeline, and opens it
    expect(item(page, sequence)).to_contain_text("Russia rejects Donbas", timeout=WAIT)
    expect(item(page, sequence)).to_have_class(re.compile(r"\bis-live\b.*\bvis-selected\b"))
    expect(detail).to_contain_text("Posted by the test.")

    # A correction arriving live replaces what the item says; a click shows both versions.
    original = httpx.get(f"{service_on_db.url}/v1/events/pt25-036", timeout=10).json()
    fixed = {**original["data"], "summary": "Corrected by the test."}
    correction = {
        "id": "viewer-fix-1",
        "source": "urn:annals:test:viewer",
        "type": "event.corrected",
        "subject": original["subject"],
        "time": "2025-11-28",
        "data": {"event": "pt25-036", "data": fixed},
    }
    r = httpx.post(f"{service_on_db.url}/v1/events", json=correction, timeout=10)
    assert r.status_code == 201, r.text
    expect(
        page.locator(f'[data-testid="live-event"][data-sequence="{sequence + 1}"]')
    ).to_be_visible(timeout=WAIT)
    item(page, 36).click()
    expect(detail).to_contain_text("Corrected by the test.")
    expect(detail.get_by_test_id("corrections")).to_contain_text(
        "Corrected by viewer-fix-1", timeout=WAIT
    )
    expect(detail.get_by_test_id("corrections")).to_contain_text("The updated settlement proposal")

    # A correction arriving live that moves the time is drawn as the service's timeline shows
    # it; a retraction arriving live takes its target off the timeline.
    moved = {**event, "id": "viewer-fix-2", "type": "event.corrected", "time": "2025-11-29"}
    moved["data"] = {"event": "viewer-live-1", "data": event["data"], "time": "2025-11-27"}
    r = httpx.post(f"{service_on_db.url}/v1/events", json=moved, timeout=10)
    assert r.status_code == 201, r.text
    expect(
        page.locator(f'[data-testid="live-event"][data-sequence="{sequence + 2}"]')
    ).to_be_visible(timeout=WAIT)
    item(page, sequence).click()
    expect(detail.locator('time[datetime^="2025-11-27"]')).to_have_count(1, timeout=WAIT)
    retraction = {**moved, "id": "viewer-retract-1", "type": "event.retracted"}
    retraction["data"] = {"event": "viewer-live-1", "reason": "the test"}
    r = httpx.post(f"{service_on_db.url}/v1/events", json=retraction, timeout=10)
    assert r.status_code == 201, r.text
    expect(item(page, sequence)).to_have_count(0, timeout=WAIT)

    # The timeline asks only for the window in view, a page at a time.
    for u in map(urlsplit, viewer.requests):
        if u.path == "/v1/timeline":
            q = parse_qs(u.query)
            assert int(q["limit"][0]) <= 250
            assert q["limit"] == ["1"] or ("from" in q and "to" in q) or "cursor" in q, u.query
    others = [u for u in viewer.requests if urlsplit(u).netloc != host]
    assert others == [], f"requests to other hosts: {others}"
    assert viewer.errors == []
