"""End-to-end fixtures: the `annals` command as a real process on a real port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ANNALS = str(Path(sys.executable).parent / "annals")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Service:
    """A running `annals serve` process."""

    def __init__(self, args: list[str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._args = [*args, "serve", "--port", str(self.port)]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *extra: str, timeout: float = 60) -> Service:
        """Start and wait until /readyz answers 200."""
        with self.log.open("ab") as f:
            self.proc = subprocess.Popen([ANNALS, *self._args, *extra], stdout=f, stderr=f)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"annals exited {self.proc.returncode}: {self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"annals did not become ready: {self.log.read_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the process (SIGTERM: graceful; SIGKILL: a crash) and wait for it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def service_on_db(db_url: str, tmp_path: Path) -> Iterator[Service]:
    """`annals serve --load-example` on the test's fresh database."""
    svc = Service(["--database-url", db_url], tmp_path / "annals.log")
    svc.start("--load-example")
    yield svc
    svc.stop()


@pytest.fixture
def embedded_service(tmp_path: Path) -> Iterator[Service]:
    """`annals serve --load-example` exactly as `make run` does: embedded PostgreSQL."""
    env_dir = tmp_path / "data"
    svc = Service(["--data-dir", str(env_dir)], tmp_path / "annals.log")
    os.environ.pop("ANNALS_DATABASE_URL", None)
    svc.start("--load-example")
    yield svc
    svc.stop()
