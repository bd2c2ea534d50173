"""The pure rules of webhooks: subscriptions, backoff, the signed request, refused targets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from service.access_config import Token
from service.settings import Settings
from service.webhooks import rules, targets
from service.webhooks.rules import InvalidSubscription


def test_backoff_doubles_from_the_base_and_stops_at_ten_minutes() -> None:
    assert [rules.backoff(n, 1.0) for n in range(0, 13)] == [
        0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600,
    ]  # fmt: skip
    assert [rules.backoff(n, 0.1) for n in (1, 2, 3)] == pytest.approx([0.1, 0.2, 0.4])
    assert rules.backoff(10_000, 1.0) == 600  # no overflow after days of failures


def test_only_a_2xx_acknowledges() -> None:
    assert all(rules.acknowledged(s) for s in (200, 202, 204, 299))
    assert not any(rules.acknowledged(s) for s in (100, 199, 300, 301, 404, 429, 500, 503))


def test_a_valid_subscription_is_normalised() -> None:
    got = rules.parse_subscription(
        {"url": "https://cms.example.org/h", "types": ["plan.", "x-note", "plan."], "after": 7}
    )
    assert got == rules.NewSubscription("https://cms.example.org/h", ["plan.", "x-note"], None, 7)
    assert rules.parse_subscription({"url": "http://h/"}).types is None


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ([], ["$"]),
        ({"url": 3}, ["$.url"]),
        ({"url": "https://h/x y"}, ["$.url"]),
        ({"url": "https://h:99999/"}, ["$.url"]),
        ({"url": "mailto:a@b"}, ["$.url"]),
        ({"url": "https://" + "a" * 2050}, ["$.url"]),
        ({"url": "http://a..com/hook"}, ["$.url"]),  # not a domain name (IDNA)
        ({"url": f"https://{'a' * 64}.example.org/"}, ["$.url"]),  # a label over 63
        ({"url": "https://h/", "types": "plan."}, ["$.types"]),
        ({"url": "https://h/", "types": ["plan.", 1, "x-", "nope."]},
         ["$.types[1]", "$.types[2]", "$.types[3]"]),
        ({"url": "https://h/", "subject": "party/Ukraine"}, ["$.subject"]),
        ({"url": "https://h/", "after": True}, ["$.after"]),
        ({"url": "https://h/", "after": 2**63}, ["$.after"]),
        ({"url": "https://h/", "id": "mine", "secret": "s"}, ["$.id", "$.secret"]),
    ],
)  # fmt: skip
def test_every_bad_field_is_named(body: Any, paths: list[str]) -> None:
    with pytest.raises(InvalidSubscription) as e:
        rules.parse_subscription(body)
    assert [err.path for err in e.value.errors] == paths


def test_the_request_verifies_with_standardwebhooks_and_names_the_event() -> None:
    secret = rules.new_secret()
    body = b'{"sequence":41,"type":"x-note"}\n'
    now = datetime.now(UTC)
    headers = rules.headers("ab12", secret, 41, body, now)
    assert headers["webhook-id"] == "ab12:41"
    assert headers["webhook-timestamp"] == str(int(now.timestamp()))
    assert headers["content-type"].startswith("application/cloudevents+json")
    assert Webhook(secret).verify(body, headers) == {"sequence": 41, "type": "x-note"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"41", b"42"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(rules.new_secret()).verify(body, headers)


def test_secrets_and_ids_are_fresh_and_well_formed() -> None:
    secrets = {rules.new_secret() for _ in range(50)}
    assert len(secrets) == 50 and all(s.startswith("whsec_") for s in secrets)
    ids = {rules.new_id() for _ in range(50)}
    assert len(ids) == 50 and all(rules.is_id(i) for i in ids)
    assert not rules.is_id("../etc") and not rules.is_id("A" * 32)


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "172.16.0.1", "192.168.0.1",
     "169.254.169.254", "fe80::1%eth0", "fc00::1", "0.0.0.0", "::", "100.64.0.1",
     "224.0.0.1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "240.0.0.1"],
)  # fmt: skip
def test_private_and_special_addresses_are_refused(address: str) -> None:
    assert rules.refused_address(address)


@pytest.mark.parametrize("address", ["93.184.215.14", "2606:4700::6810:85e5", "8.8.8.8"])
def test_public_addresses_are_not(address: str) -> None:
    assert not rules.refused_address(address)


async def test_a_stored_url_whose_host_is_no_domain_name_is_refused_not_raised() -> None:
    """A subscription stored before its host was checked fails its own deliveries: the
    resolver's UnicodeError must not reach the delivery worker, which serves them all."""
    token = Token(name="ops", sha256="0" * 64, scopes=frozenset({"read"}))
    settings = Settings(data_dir=Path("unused"), tokens=(token,))  # private targets checked
    for url in ("http://a..com/hook", f"https://{'a' * 64}.example.org/"):
        refused = await targets.refusal(url, settings)
        assert refused is not None and "cannot resolve" in refused, (url, refused)
