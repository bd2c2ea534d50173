"""The viewer at / in a real browser (Debian's Chromium, driven by Playwright).

Against `annals serve --load-example`: the state on 2025-11-28 as the page shows it, the
date slider and field kept in sync from the keyboard, and an event posted over HTTP that
appears without a reload. Saves the screenshots in docs/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

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


def open_viewer(
    browser: Browser, url: str, width: int, height: int, scale: float = 1
) -> tuple[Page, list[str]]:
    """A fresh page on the viewer, and the script errors and console errors it reports."""
    page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=scale)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Annals")
    return page, errors


def show_date(page: Page, day: str) -> None:
    """Type a date into the date field and wait until the state of that date is shown."""
    page.get_by_label("Date", exact=True).fill(day)
    expect(page.get_by_test_id("state")).to_have_attribute("data-at", day, timeout=WAIT)


def test_viewer_shows_the_state_on_a_date_and_updates_live(
    service_on_db: Service, browser: Browser
) -> None:
    page, errors = open_viewer(browser, f"{service_on_db.url}/", 1280, 900)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live", timeout=WAIT)
    expect(page.get_by_test_id("event").first).to_contain_text(
        "United States registered as a state", timeout=WAIT
    )

    show_date(page, "2025-11-28")
    expect(page.locator("#state-date")).to_have_text("28 November 2025")
    plan = page.locator(US_PLAN)
    expect(plan.locator('[data-field="points"]')).to_have_text("22", timeout=WAIT)
    expect(plan.locator('[data-field="status"]')).to_have_text("proposed")
    expect(plan.locator('[data-field="classified"]')).to_contain_text("Classified")
    expect(plan.get_by_test_id("classified-flag")).to_be_visible()
    withheld = plan.locator('[data-field="withheld_from"]')
    expect(withheld).to_contain_text("Ukraine")
    expect(withheld).to_contain_text("European Union")
    expect(page.locator(RUSSIA_ON_DONBAS)).to_have_text("conditional", timeout=WAIT)

    # Something short of confirmed says so in words, not by colour alone.
    moscow = page.locator('[data-testid="meeting-card"][data-subject="meeting/moscow-2025-12-02"]')
    expect(moscow).to_have_attribute("data-confidence", "reported")
    expect(moscow.locator(".card-head .badge")).to_have_text("reported")

    # The slider and the field move together, from the keyboard.
    slider = page.get_by_label("Move through time")
    slider.focus()
    slider.press("ArrowRight")
    expect(page.get_by_label("Date", exact=True)).to_have_value("2025-11-29")
    slider.press("ArrowLeft")
    expect(page.get_by_label("Date", exact=True)).to_have_value("2025-11-28")
    expect(page.get_by_test_id("state")).to_have_attribute("data-at", "2025-11-28", timeout=WAIT)
    expect(page.locator(RUSSIA_ON_DONBAS)).to_have_text("conditional", timeout=WAIT)
    page.locator("body").click(position={"x": 5, "y": 5})  # no focus ring in the screenshot

    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "viewer-2025-11-28.png"), full_page=True)

    phone, phone_errors = open_viewer(
        browser, f"{service_on_db.url}/?at=2025-11-28", 390, 844, scale=2
    )
    expect(phone.get_by_test_id("state")).to_have_attribute("data-at", "2025-11-28", timeout=WAIT)
    expect(phone.locator(RUSSIA_ON_DONBAS)).to_have_text("conditional", timeout=WAIT)
    expect(phone.get_by_test_id("connection")).to_have_attribute("data-state", "live", timeout=WAIT)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width}px)"
    phone.screenshot(path=str(DOCS / "viewer-phone.png"))
    phone.close()
    assert phone_errors == []

    # An event posted over HTTP shows up without a reload, and the state follows it.
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
    expect(page.get_by_test_id("timeline")).to_contain_text("Russia rejects Donbas")
    expect(page.get_by_test_id("live-announcer")).to_contain_text(f"#{sequence}", timeout=WAIT)
    expect(page.locator(RUSSIA_ON_DONBAS)).to_have_text("rejects", timeout=WAIT)
    expect(page.get_by_test_id("state")).to_have_attribute("data-sequence", str(sequence))
    expect(page.locator("#head-sequence")).to_have_text(str(sequence))
    expect(page.get_by_label("Date", exact=True)).to_have_value("2025-11-28")

    assert errors == []
