"""GET /v1/stream against real processes: live delivery, resume, and across processes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import EXAMPLE_EVENTS
from tests.e2e.conftest import Service


def read_events(
    url: str,
    count: int,
    headers: dict[str, str] | None = None,
    during: Any = None,
    deadline: float = 60,
) -> list[tuple[int, dict[str, Any]]]:
    """Read `count` SSE events (id, data); run `during()` once the stream is open."""
    got: list[tuple[int, dict[str, Any]]] = []
    with httpx.stream("GET", url, headers=headers or {}, timeout=deadline) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        if during is not None:
            threading.Thread(target=during, daemon=True).start()
        ev_id = None
        start = time.monotonic()
        # Our messages are one `id:` and one `data:` line, with no `event:` name (SPEC §5):
        # the data line ends one (waiting for the blank line would wait on the line
        # decoder's buffering).
        for line in r.iter_lines():
            assert not line.startswith("event:"), line
            if line.startswith("id: "):
                ev_id = int(line[4:])
            elif line.startswith("data: ") and ev_id is not None:
                got.append((ev_id, json.loads(line[6:])))
                ev_id = None
                if len(got) >= count:
                    break
            assert time.monotonic() - start < deadline, f"only {len(got)} events in time"
    return got


def post(base: str, n: int) -> None:
    body = {"id": f"live-{n}", "type": "x-note", "time": "2025-12-01", "data": {"n": n}}
    assert httpx.post(f"{base}/v1/events", json=body, timeout=10).status_code == 201


def test_stream_resumes_after_last_event_id_then_goes_live(service_on_db: Service) -> None:
    base = service_on_db.url
    head = EXAMPLE_EVENTS
    got = read_events(
        f"{base}/v1/stream", 5, {"Last-Event-ID": str(head - 4)}, during=lambda: post(base, 1)
    )
    assert [s for s, _ in got] == list(range(head - 3, head + 2))
    assert got[-1][1]["id"] == "live-1"
    assert (got[-1][1]["headline"], got[-1][1]["names"]) == ("Note", {})


def test_resume_across_a_restart_skips_nothing_and_repeats_nothing(
    service_on_db: Service,
) -> None:
    base = service_on_db.url
    first = read_events(f"{base}/v1/stream", 3, {"Last-Event-ID": "0"})
    assert [s for s, _ in first] == [1, 2, 3]
    service_on_db.stop()
    service_on_db.start()
    post(service_on_db.url, 2)
    rest = read_events(f"{service_on_db.url}/v1/stream", EXAMPLE_EVENTS - 2, {"Last-Event-ID": "3"})
    assert [s for s, _ in rest] == list(range(4, EXAMPLE_EVENTS + 2))
    assert rest[-1][1]["id"] == "live-2"
    print(
        f"sse resume: read ids {[s for s, _ in first]}, service restarted, one event posted; "
        f"Last-Event-ID: 3 gave ids {rest[0][0]}..{rest[-1][0]} ({len(rest)} events, "
        f"{len({s for s, _ in rest})} distinct, none skipped), the last one {rest[-1][1]['id']!r}"
    )


def test_an_event_appended_through_one_process_reaches_a_client_of_another(
    service_on_db: Service, db_url: str, tmp_path: Path
) -> None:
    other = Service(["--database-url", db_url], tmp_path / "other.log").start()
    try:
        got = read_events(
            f"{other.url}/v1/stream?type=x-note", 1, during=lambda: post(service_on_db.url, 3)
        )
    finally:
        other.stop()
    assert got[0][0] == EXAMPLE_EVENTS + 1 and got[0][1]["data"] == {"n": 3}


def test_stream_filters_by_subject(service_on_db: Service) -> None:
    got = read_events(
        f"{service_on_db.url}/v1/stream?subject=party/jared-kushner", 2, {"Last-Event-ID": "0"}
    )
    assert all("party/jared-kushner" in json.dumps(d["data"]) + str(d["subject"]) for _, d in got)
    assert all(d["names"]["party/jared-kushner"] == "Jared Kushner" for _, d in got)
