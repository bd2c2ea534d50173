"""Helpers for browser tests across origins: pages served from another 127.0.0.1 port,
Debian's Chromium, and TimelineJS 3 installed from npm into a git-ignored folder."""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]  # fmt: skip
TIMELINEJS = "@knight-lab/timelinejs@3.9.10"  # 3.9.11 on npm ships no dist/js
NPM_DIR = ROOT / ".tools" / "timelinejs"  # .tools/ is git-ignored
TIMELINEJS_DIST = NPM_DIR / "node_modules" / "@knight-lab" / "timelinejs" / "dist"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def static_origin(directory: Path) -> Iterator[str]:
    """Serve `directory` on a free 127.0.0.1 port (another origin than the service's);
    yields its origin and stops the server on exit."""
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


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


def timelinejs_dist() -> Path:
    """TimelineJS 3's built files, installed with npm on first use (never from a CDN)."""
    if not (TIMELINEJS_DIST / "js" / "timeline.js").exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm not found: apt-get install nodejs npm (.ci/run does)")
        NPM_DIR.mkdir(parents=True, exist_ok=True)
        args = ["install", "--prefix", str(NPM_DIR), "--no-audit", "--no-fund"]
        subprocess.run(
            [npm, *args, "--ignore-scripts", "--no-save", TIMELINEJS],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return TIMELINEJS_DIST
