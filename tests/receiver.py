"""A webhook receiver for tests: a tiny HTTP server on 127.0.0.1, in a thread."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """A webhook receiver that answers `script` statuses in turn (then 204), recording every
    whole request and when it arrived (one cut short by its sender is no delivery); with
    `hold`, it answers nothing until the test sets `held`; each answer takes `delay` seconds."""

    def __init__(
        self, script: list[int] | None = None, hold: bool = False, delay: float = 0.0
    ) -> None:
        self.script = list(script or [])
        self.delay = delay
        self.held = threading.Event()
        if not hold:
            self.held.set()
        self.arrived: list[float] = []
        self.in_flight = 0
        self.most_in_flight = 0  # requests answered at once, at most
        self.seen: list[tuple[str, dict[str, str], bytes, int]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["content-length"])
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: nothing was delivered
                    self.close_connection = True
                    return
                with receiver.lock:
                    receiver.arrived.append(time.monotonic())
                    receiver.in_flight += 1
                    receiver.most_in_flight = max(receiver.most_in_flight, receiver.in_flight)
                receiver.held.wait(30)
                time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.in_flight -= 1
                    status = receiver.script.pop(0) if receiver.script else 204
                    receiver.seen.append(
                        (self.headers["webhook-id"], dict(self.headers), body, status)
                    )
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.held.set()
        self.server.shutdown()
        self.server.server_close()

    def ids(self) -> list[str]:
        with self.lock:
            return [s[0] for s in self.seen]

    def acknowledged(self) -> list[str]:
        with self.lock:
            return [s[0] for s in self.seen if 200 <= s[3] < 300]

    def sequences(self) -> list[int]:
        """The sequence of every request, in the order they arrived."""
        return [int(i.rsplit(":", 1)[1]) for i in self.ids()]
