"""Webhooks across processes: SIGKILL in the middle of deliveries, and several service
processes on one database delivering one event at a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from tests.e2e.conftest import ANNALS, Service
from tests.receiver import Receiver

pytestmark = pytest.mark.timeout(240)  # service restarts are slow on a loaded machine

EVENTS = 120


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def append(url: str, first: int, n: int) -> list[int]:
    """Append n x-note events in one batch; their sequences."""
    batch = [
        {"id": f"hook-{i}", "type": "x-note", "time": "2025-11-27", "data": i}
        for i in range(first, first + n)
    ]
    r = httpx.post(f"{url}/v1/events", json=batch, timeout=30)
    assert r.status_code == 201, r.text
    return [e["sequence"] for e in r.json()]


def subscribe(url: str, receiver: Receiver) -> dict[str, Any]:
    r = httpx.post(f"{url}/v1/subscriptions", json={"url": receiver.url}, timeout=10)
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def delivered(url: str, sub_id: str) -> int:
    r = httpx.get(f"{url}/v1/subscriptions/{sub_id}", timeout=10)
    assert r.status_code == 200, r.text
    n: int = r.json()["delivered"]
    return n


def acknowledged_at_least(receiver: Receiver, n: int) -> bool:
    return len(receiver.acknowledged()) >= n


def first_arrivals(seqs: list[int]) -> list[int]:
    """Each sequence at its first arrival, in arrival order (later copies dropped)."""
    seen: set[int] = set()
    return [s for s in seqs if not (s in seen or seen.add(s))]  # type: ignore[func-returns-value]


def test_sigkill_in_the_middle_of_deliveries_skips_nothing_and_keeps_order(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANNALS_WEBHOOK_BACKOFF", "0.1")
    svc = Service(["--database-url", db_url], tmp_path / "annals.log").start()
    try:
        with Receiver(script=[500, 500], delay=0.01) as receiver:
            sub = subscribe(svc.url, receiver)
            seqs = append(svc.url, 0, EVENTS)
            kills = []
            for at in (EVENTS // 4, EVENTS // 2):
                wait_for(partial(acknowledged_at_least, receiver, at), 60, f"{at} deliveries")
                kills.append(len(receiver.ids()))
                svc.stop(signal.SIGKILL)
                svc.start()
            seqs += append(svc.url, EVENTS, 10)  # and more after the last restart
            wait_for(lambda: delivered(svc.url, sub["id"]) == seqs[-1], 60, "every delivery")
            got = receiver.sequences()
            for _id, headers, body, _status in receiver.seen:
                event = Webhook(sub["secret"]).verify(body, headers)
                assert headers["webhook-id"] == f"{sub['id']}:{event['sequence']}"
    finally:
        svc.stop()
    copies = len(got) - len(set(got))
    print(
        f"\nwebhooks: {len(seqs)} events, SIGKILL after {kills} requests, {len(got)} requests "
        f"received ({copies} repeated: 2 failures answered 500, the rest redelivered after a "
        "kill), first arrivals in sequence order"
    )
    assert got[:3] == [seqs[0]] * 3  # failed twice, then acknowledged
    assert first_arrivals(got) == seqs  # nothing skipped, nothing overtaken


def test_two_service_processes_deliver_each_event_once_one_at_a_time(
    db_url: str, tmp_path: Path
) -> None:
    # Two `annals serve` processes rather than `--workers 2`: the same question (one worker
    # per database, whatever process it runs in) without uvicorn's supervisor, which
    # restarts workers slow to start on a loaded machine (tests/e2e/test_workers.py).
    one = Service(["--database-url", db_url], tmp_path / "one.log").start()
    try:
        two = Service(["--database-url", db_url], tmp_path / "two.log").start()
        try:
            with Receiver(delay=0.01) as receiver:
                sub = subscribe(one.url, receiver)
                seqs = append(two.url, 0, 40) + append(one.url, 40, 40)
                wait_for(lambda: delivered(two.url, sub["id"]) == seqs[-1], 60, "deliveries")
                one.stop()  # whichever delivered, the other takes over (or goes on)
                seqs += append(two.url, 80, 20)
                wait_for(lambda: delivered(two.url, sub["id"]) == seqs[-1], 60, "deliveries")
        finally:
            two.stop()
    finally:
        one.stop()
    assert receiver.sequences() == seqs  # each once, in order: one process at a time
    assert receiver.most_in_flight == 1


def annals(db_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ANNALS, "--database-url", db_url, "subscriptions", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )


def test_the_cli_adds_lists_and_removes_subscriptions(db_url: str) -> None:
    added = annals(db_url, "add", "http://127.0.0.1:9/hook", "--type", "plan.", "--after", "3")
    assert added.returncode == 0, added.stderr
    sub = json.loads(added.stdout)
    assert sub["secret"].startswith("whsec_") and sub["types"] == ["plan."]
    assert sub["after"] == 3
    listed = annals(db_url, "list")
    assert listed.returncode == 0, listed.stderr
    shown = json.loads(listed.stdout)["subscriptions"]
    assert [(s["id"], s["delivered"], s["pending"]) for s in shown] == [(sub["id"], 3, 0)]
    assert "secret" not in shown[0]
    bad = annals(db_url, "add", "http://127.0.0.1:9/", "--type", "nope")
    assert bad.returncode == 2 and "$.types[0]" in bad.stderr
    # With tokens configured, a loopback target is refused here too.
    tokens = "ops:" + "0" * 64 + ":admin"
    refused = annals(db_url, "add", "http://127.0.0.1:9/", ANNALS_TOKENS=tokens)
    assert refused.returncode == 2 and "ANNALS_WEBHOOK_ALLOW_PRIVATE" in refused.stderr
    assert annals(db_url, "remove", sub["id"]).returncode == 0
    assert annals(db_url, "remove", sub["id"]).returncode == 1
    assert json.loads(annals(db_url, "list").stdout) == {"subscriptions": []}
