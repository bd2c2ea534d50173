"""Browsers on other origins (SPEC §6, §7), in Debian's Chromium against `annals serve`:
a page elsewhere reads, follows the stream and cannot write; a configured origin writes;
TimelineJS 3 (from npm) renders the export with markup in names and titles as text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Dialog, expect

from tests.conftest import EXAMPLE_EVENTS
from tests.e2e.conftest import Service
from tests.e2e.cross_origin import browser, static_origin, timelinejs_dist

__all__ = ["browser"]
WAIT = 15_000  # ms
PAYLOAD = '<img src=x onerror="window.__pwned=1;alert(1)">'
PLAN = '<img src=x onerror="window.__pwned=2;alert(2)"> plan'
TIMELINE_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>TimelineJS elsewhere</title>
<link rel="stylesheet" href="tjs/css/timeline.css"><script src="tjs/js/timeline.js"></script>
</head><body><div id="timeline-embed" style="width: 100%; height: 640px"></div>
<script>
  const src = new URLSearchParams(location.search).get("src");
  // script_path: languages from this copy, not the default CDN; font: null, the page's own
  const script_path = new URL("tjs/js/", location.href).href;
  window.timeline = new TL.Timeline("timeline-embed", src, {script_path, font: null});
</script></body></html>
"""


class Origins:
    """The service and two pages' origins: `desk` is configured, `elsewhere` is not."""

    def __init__(self, service: Service, desk: str, elsewhere: str) -> None:
        self.service, self.desk, self.elsewhere = service, desk, elsewhere


@pytest.fixture
def origins(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Origins]:
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "index.html").write_text("<!doctype html><title>another origin</title>")
    with static_origin(pages) as desk, static_origin(pages) as elsewhere:
        monkeypatch.setenv("ANNALS_CORS_ORIGINS", desk)
        service = Service(["--database-url", db_url], tmp_path / "annals.log")
        service.start("--load-example")
        try:
            yield Origins(service, desk, elsewhere)
        finally:
            service.stop()


READ_AND_WRITE = """async (base) => {
  const read = await fetch(`${base}/v1/plans/us-28-point-plan?at=2025-11-28&known_at=44`);
  const plan = await read.json();
  const out = {status: read.status, etag: read.headers.get("ETag"), points: plan.points};
  const note = {type: "x-note", time: "2025-11-30", data: {text: "from a page"}};
  for (const [name, type] of [["json", "application/json"], ["simple", "text/plain"]]) {
    try {
      const w = await fetch(`${base}/v1/events`,
        {method: "POST", headers: {"content-type": type}, body: JSON.stringify(note)});
      out[name] = `answered ${w.status} ${w.headers.get("Location")}`;
    } catch (e) {
      out[name] = `blocked (${e.name})`;
    }
  }
  return out;
}"""

FOLLOW = """(base) => {
  window.received = [];
  const stream = new EventSource(`${base}/v1/stream`);
  const keep = (m) => window.received.push([m.lastEventId, JSON.parse(m.data).type]);
  stream.onmessage = keep;  // SPEC §5: messages without an event name
  stream.addEventListener("x-note", keep);  // a stream that names messages by type
  return new Promise((resolve) => { stream.onopen = () => resolve(stream.readyState); });
}"""


def test_a_page_elsewhere_reads_and_follows_but_only_a_configured_origin_writes(
    origins: Origins, browser: Browser
) -> None:
    base = origins.service.url
    page = browser.new_page()
    page.goto(f"{origins.elsewhere}/index.html")
    out: dict[str, Any] = page.evaluate(READ_AND_WRITE, base)
    print(f"\npage on {origins.elsewhere} (not configured): {out}")
    assert (out["status"], out["points"]) == (200, 22)
    assert out["etag"]  # exposed to the page
    assert out["json"].startswith("blocked") and out["simple"].startswith("blocked")
    log = httpx.get(f"{base}/v1/events", params={"after": EXAMPLE_EVENTS}).json()["events"]
    assert log == []  # neither write was stored: preflight refused, simple request 403

    assert page.evaluate(FOLLOW, base) == 1  # EventSource.OPEN, across origins
    posted = httpx.post(f"{base}/v1/events", json={"type": "x-note", "time": "2025-11-30",
                        "data": {"text": "live"}}).json()  # fmt: skip
    page.wait_for_function("window.received.length > 0", timeout=WAIT)
    assert page.evaluate("window.received") == [[str(posted["sequence"]), "x-note"]]

    desk = browser.new_page()
    desk.goto(f"{origins.desk}/index.html")
    out = desk.evaluate(READ_AND_WRITE, base)
    print(f"page on {origins.desk} (ANNALS_CORS_ORIGINS): {out}")
    assert out["json"].startswith("answered 201 /v1/events/")  # Location is exposed
    assert out["simple"].startswith("answered 415")  # readable: a problem, not a CORS wall


def test_timelinejs_renders_markup_in_names_and_titles_as_text(
    origins: Origins, browser: Browser, tmp_path: Path
) -> None:
    base = origins.service.url
    for event in (
        {"type": "party.registered", "subject": "party/evil", "time": "2025-11-20",
         "data": {"name": PAYLOAD, "kind": "state"}},
        {"type": "plan.proposed", "subject": "plan/evil", "time": "2025-11-21",
         "data": {"title": PLAN, "sponsor": "party/evil", "summary": PAYLOAD,
                  "sources": [{"outlet": PAYLOAD, "url": "javascript:alert(1)"}]}},
    ):  # fmt: skip
        assert httpx.post(f"{base}/v1/events", json=event).status_code == 201
    pages = tmp_path / "tjs-pages"
    pages.mkdir()
    (pages / "timeline.html").write_text(TIMELINE_PAGE)
    (pages / "tjs").symlink_to(timelinejs_dist(), target_is_directory=True)
    with static_origin(pages) as elsewhere:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        dialogs: list[str] = []
        elsewhere_requests: list[str] = []

        def dismiss(d: Dialog) -> None:
            dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dismiss)
        page.on("request", lambda r: elsewhere_requests.append(r.url))
        src = f"{base}/v1/export/timelinejs?from=2025-11-15"
        page.goto(f"{elsewhere}/timeline.html?src={src}")
        groups = page.locator(".tl-timegroup-message")
        expect(groups.filter(has_text=PAYLOAD)).to_have_count(1, timeout=WAIT)  # the party
        expect(groups.filter(has_text=PLAN)).to_have_count(1)  # the plan
        expect(groups.filter(has_text=re.compile(r"^Russia$"))).to_have_count(1)  # not ids
        headlines = page.locator(".tl-timemarker .tl-headline")
        expect(headlines.filter(has_text=f"{PAYLOAD} registered as a state")).to_have_count(1)
        page.evaluate("window.timeline.goToId('" + _plan_id(base) + "')")
        slide = page.locator(".tl-slide-content", has_text=f"proposes {PLAN}")
        expect(slide.locator(".tl-headline")).to_be_visible(timeout=WAIT)
        expect(slide.locator(".annals-sources")).to_have_text(f"Source: {PAYLOAD}")
        page.wait_for_timeout(500)  # time for any injected onerror to have fired
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert dialogs == []
        assert page.locator("#timeline-embed img[src='x']").count() == 0
        page.screenshot(path=str(tmp_path / "timelinejs.png"))
    others = [u for u in elsewhere_requests if not u.startswith((elsewhere, base, "data:"))]
    assert others == []  # TimelineJS from npm, nothing from a CDN


def _plan_id(base: str) -> str:
    events = httpx.get(f"{base}/v1/timeline", params={"subject": "plan/evil"}).json()["events"]
    return str(events[0]["id"])
