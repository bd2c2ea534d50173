"""The viewer when reads are not public (ANNALS_PUBLIC_READS=0), in a real browser: the page
asks for a token, then reads and follows the live stream with it. Also: the viewer's
content security policy holds (no violation reported) while it works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from service.access_config import hash_token
from tests.conftest import EXAMPLE_EVENTS
from tests.e2e.conftest import Service
from tests.e2e.test_viewer import RUSSIA_ON_DONBAS, WAIT, Opened, browser, shown

__all__ = ["browser"]  # the fixture, used by name
READER, WRITER = "viewer-read-token-51", "viewer-write-token-52"


@pytest.fixture
def private_service(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Service]:
    """`annals serve --load-example` with tokens configured and reads for token holders."""
    monkeypatch.setenv("ANNALS_PUBLIC_READS", "0")
    monkeypatch.setenv(
        "ANNALS_TOKENS", f"reader:{hash_token(READER)}:read,writer:{hash_token(WRITER)}:write"
    )
    svc = Service(["--database-url", db_url], tmp_path / "annals.log")
    svc.start("--load-example")
    yield svc
    svc.stop()


def test_the_viewer_asks_for_a_token_and_reads_with_it(
    private_service: Service, browser: Browser
) -> None:
    assert httpx.get(f"{private_service.url}/v1/state").status_code == 401
    viewer = Opened(browser, f"{private_service.url}/?at=2025-11-28", 1280, 900)
    page, errors = viewer.page, viewer.errors
    form = page.get_by_test_id("token-form")
    expect(form).to_be_visible(timeout=WAIT)
    page.get_by_label("Access token").fill("not-the-token")
    page.get_by_test_id("token-submit").click()
    expect(form).to_contain_text("not accepted", timeout=WAIT)
    page.get_by_label("Access token").fill(READER)
    page.get_by_test_id("token-submit").click()
    expect(form).to_be_hidden(timeout=WAIT)
    expect(page.get_by_test_id("state")).to_have_attribute(
        "data-sequence", str(EXAMPLE_EVENTS), timeout=WAIT
    )
    shown(page, "2025-11-28")
    expect(page.locator(RUSSIA_ON_DONBAS)).to_have_text("conditional", timeout=WAIT)
    expect(page.get_by_test_id("connection")).to_have_attribute("data-state", "live", timeout=WAIT)

    event = {
        "id": "private-viewer-1",
        "type": "position.stated",
        "subject": "party/russia",
        "time": "2025-11-28",
        "data": {"on": "issue/donbas", "stance": "rejects", "summary": "Posted by the test."},
    }
    r = httpx.post(
        f"{private_service.url}/v1/events",
        json=event,
        headers={"Authorization": f"Bearer {WRITER}"},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    live = page.locator(f'[data-testid="live-event"][data-sequence="{r.json()["sequence"]}"]')
    expect(live).to_contain_text("Russia rejects Donbas", timeout=WAIT)
    # The refused reads show as failed loads (401); nothing else may go wrong, and no
    # content security policy violation may be reported.
    assert [e for e in errors if "401" not in e] == []
    page.close()
