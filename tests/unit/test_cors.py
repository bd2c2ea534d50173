"""The cross-origin rule of SPEC §7, without HTTP."""

from __future__ import annotations

import pytest

from service.access_config import CorsConfigError, parse_origins
from service.cors import Policy

DESK = "https://desk.example"
POLICY = Policy(frozenset({DESK}))


def as_dict(headers: list[tuple[str, str]]) -> dict[str, str]:
    return dict(headers)


def test_origins_are_normalised_and_anything_else_refused() -> None:
    assert parse_origins(" https://Desk.Example:443 , http://localhost:5173,") == (
        DESK,
        "http://localhost:5173",
    )
    assert parse_origins("") == ()
    for bad in ("*", "null", "https://desk.example/", "desk.example", "ftp://x", "https://a/b"):
        with pytest.raises(CorsConfigError):
            parse_origins(bad)


def test_reads_from_anywhere_answer_star_and_expose_what_clients_need() -> None:
    h = as_dict(POLICY.response("https://elsewhere.example", "annals.example"))
    assert h["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in h
    for name in ("ETag", "Location", "Retry-After", "Annals-Known-At"):
        assert name in h["Access-Control-Expose-Headers"]
    assert h["Vary"] == "Origin"  # a configured list makes the answer depend on Origin
    assert "Vary" not in as_dict(Policy().response(None, None))


def test_a_configured_origin_gets_its_own_origin_and_credentials() -> None:
    h = as_dict(POLICY.response(DESK, "annals.example"))
    assert h["Access-Control-Allow-Origin"] == DESK
    assert h["Access-Control-Allow-Credentials"] == "true"


def test_writes_only_from_configured_origins_the_service_itself_or_no_browser() -> None:
    assert POLICY.may("POST", DESK, "annals.example")
    assert POLICY.may("POST", None, "annals.example")  # curl, an SDK: no Origin
    assert POLICY.may("POST", "http://annals.example:8000", "annals.example:8000")  # the viewer
    assert not POLICY.may("POST", "https://evil.example", "annals.example")
    assert not POLICY.may("DELETE", "null", "annals.example")
    assert POLICY.may("GET", "https://evil.example", "annals.example")


def test_preflights_allow_writes_and_authorization_only_to_configured_origins() -> None:
    asked = "authorization, content-type, ce-id"
    trusted = as_dict(POLICY.preflight(DESK, "annals.example", asked))
    assert "POST" in trusted["Access-Control-Allow-Methods"]
    assert trusted["Access-Control-Allow-Headers"] == asked
    other = as_dict(POLICY.preflight("https://evil.example", "annals.example", asked))
    assert other["Access-Control-Allow-Methods"] == "GET"
    assert "authorization" not in other["Access-Control-Allow-Headers"].lower()
    assert "Last-Event-ID" in other["Access-Control-Allow-Headers"]
