"""Access configuration (SPEC §7): both token forms, hashes only, constant-time lookup."""

from __future__ import annotations

import argparse
import hmac
import json
from pathlib import Path

import pytest

from service import access_config
from service.access_config import (
    Token,
    TokenConfigError,
    hash_token,
    parse_compact,
    parse_file,
    parse_rate,
    tokens_from_env,
)
from service.auth import Access, bearer
from service.auth_cli import add_token_parser
from service.settings import Settings

SECRET = "s3cret-token-value"
DIGEST = hash_token(SECRET)
OTHER = hash_token("another-token")


def token(name: str, digest: str, *scopes: access_config.ScopeName) -> Token:
    return Token(name=name, sha256=digest, scopes=frozenset(scopes))


def test_compact_form_reads_names_hashes_and_scopes() -> None:
    tokens = parse_compact(f" ci:{DIGEST}:write+read , ops:{OTHER}:admin ,")
    assert tokens == [token("ci", DIGEST, "write", "read"), token("ops", OTHER, "admin")]


@pytest.mark.parametrize(
    "entry",
    [
        SECRET,  # a raw token pasted instead of an entry
        f"ci:{DIGEST}",
        f"ci:{SECRET}:write",  # not a hash
        f"ci:{DIGEST}:{SECRET}",  # not a scope
        f"ci:{DIGEST}:",
        f"c i:{DIGEST}:read",
        f":{DIGEST}:read",
    ],
)
def test_bad_compact_entries_are_refused_without_repeating_them(entry: str) -> None:
    with pytest.raises(TokenConfigError) as e:
        parse_compact(entry)
    assert SECRET not in str(e.value)
    assert "entry 1" in str(e.value)


def test_json_file_as_a_list_or_under_tokens(tmp_path: Path) -> None:
    entry = {"name": "ci", "sha256": DIGEST, "scopes": ["write"]}
    listed, wrapped = tmp_path / "a.json", tmp_path / "b.json"
    listed.write_text(json.dumps([entry]))
    wrapped.write_text(json.dumps({"tokens": [entry]}))
    assert parse_file(listed) == parse_file(wrapped) == [token("ci", DIGEST, "write")]


def test_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "tokens.toml"
    path.write_text(f'[[tokens]]\nname = "ops"\nsha256 = "{DIGEST}"\nscopes = ["admin", "read"]\n')
    assert parse_file(path) == [token("ops", DIGEST, "admin", "read")]


@pytest.mark.parametrize(
    "text",
    [
        f'[{{"name": "ci", "sha256": "{SECRET}", "scopes": ["write"]}}]',
        f'[{{"name": "ci", "sha256": "{DIGEST}", "scopes": ["{SECRET}"]}}]',
        f'[{{"name": "ci", "token": "{SECRET}", "scopes": ["write"]}}]',
        f'{{"name": "{SECRET}"',  # not JSON at all
        f'"{SECRET}"',
    ],
)
def test_bad_files_are_refused_without_repeating_secrets(tmp_path: Path, text: str) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(text)
    with pytest.raises(TokenConfigError) as e:
        parse_file(path)
    assert SECRET not in str(e.value)
    assert str(path) in str(e.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TokenConfigError, match=r"nowhere\.json"):
        parse_file(tmp_path / "nowhere.json")


def test_file_and_variable_combine(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps([{"name": "ci", "sha256": DIGEST, "scopes": ["write"]}]))
    env = {"ANNALS_TOKENS_FILE": str(path), "ANNALS_TOKENS": f"ops:{OTHER}:admin"}
    assert [t.name for t in tokens_from_env(env)] == ["ci", "ops"]
    assert tokens_from_env({}) == ()


@pytest.mark.parametrize(
    "compact", [f"ci:{DIGEST}:read,ci:{OTHER}:write", f"a:{DIGEST}:read,b:{DIGEST.upper()}:write"]
)
def test_duplicate_names_or_hashes_are_refused(compact: str) -> None:
    with pytest.raises(TokenConfigError):
        tokens_from_env({"ANNALS_TOKENS": compact})


def test_settings_read_the_access_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANNALS_TOKENS_FILE", raising=False)
    monkeypatch.setenv("ANNALS_TOKENS", f"ci:{DIGEST}:write")
    monkeypatch.setenv("ANNALS_PUBLIC_READS", "0")
    monkeypatch.setenv("ANNALS_WRITE_RATE", "100/second")
    s = Settings.from_env(data_dir="/tmp")
    assert s.tokens == (token("ci", DIGEST, "write"),)
    assert s.public_reads is False
    assert s.write_rate == ("second", 100)


def test_settings_default_to_open_public_and_unlimited(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ANNALS_TOKENS", "ANNALS_TOKENS_FILE", "ANNALS_PUBLIC_READS", "ANNALS_WRITE_RATE"):
        monkeypatch.delenv(name, raising=False)
    s = Settings.from_env(data_dir="/tmp")
    assert (s.tokens, s.public_reads, s.write_rate) == ((), True, None)


@pytest.mark.parametrize(
    ("text", "rate"),
    [("3/minute", ("minute", 3)), ("100 / seconds", ("second", 100)), ("1/DAY", ("day", 1))],
)
def test_write_rate_forms(text: str, rate: access_config.Rate) -> None:
    assert parse_rate(text) == rate


@pytest.mark.parametrize("text", ["3", "0/second", "x/minute", "3/fortnight", "-1/second"])
def test_bad_write_rates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="ANNALS_WRITE_RATE"):
        parse_rate(text)


@pytest.mark.parametrize(
    ("header", "credentials"),
    [
        (f"Bearer {SECRET}", SECRET),
        (f"bearer   {SECRET} ", SECRET),
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer ", None),
        (f"Basic {SECRET}", None),
    ],
)
def test_bearer_credentials(header: str | None, credentials: str | None) -> None:
    assert bearer(header) == credentials


def test_lookup_finds_the_token_whose_hash_matches() -> None:
    access = Access([token("ci", DIGEST, "write"), token("ops", OTHER, "admin")])
    found = access.lookup(SECRET)
    assert found is not None and found.name == "ci"
    assert access.lookup("another-token") == token("ops", OTHER, "admin")


def test_lookup_matches_hashes_configured_in_upper_case() -> None:
    access = Access([token("ci", DIGEST.upper(), "write")])
    assert access.lookup(SECRET) is not None


def test_lookup_of_an_unknown_token_is_none() -> None:
    access = Access([token("ci", DIGEST, "write")])
    assert access.lookup("guess") is None
    assert access.lookup(DIGEST) is None  # the hash itself is not a token


@pytest.mark.parametrize("presented", [SECRET, "another-token", "guess"])
def test_lookup_compares_every_entry_in_constant_time(
    monkeypatch: pytest.MonkeyPatch, presented: str
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def compare(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", compare)  # as service.auth sees it
    tokens = [token("ci", DIGEST, "write"), token("ops", OTHER, "admin"), token("x", "0" * 64)]
    Access(tokens).lookup(presented)
    # One comparison per entry whether the first, the second or none matched, always of
    # hashes (32 bytes), never of the presented token itself.
    assert len(calls) == 3
    assert all(len(a) == len(b) == 32 for a, b in calls)


def test_no_tokens_is_open_mode(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="annals.auth"):
        access = Access.from_settings(Settings.from_env(data_dir="/tmp", tokens=[]))
    assert access.open
    assert "OPEN" in caplog.text


def test_token_new_prints_a_token_whose_hash_is_in_the_config_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    p = argparse.ArgumentParser()
    add_token_parser(p.add_subparsers(dest="command"))
    args = p.parse_args(["token", "new", "ci", "--scopes", "write,read"])
    assert args.fn(args, None) == 0
    out, err = capsys.readouterr()
    new = out.strip()
    assert len(new) >= 43  # secrets.token_urlsafe(32)
    assert f"ci:{hash_token(new)}:read+write" in err
    assert new not in err
    [configured] = parse_compact(f"ci:{hash_token(new)}:read+write")
    assert Access([configured]).lookup(new) == configured


def test_token_new_refuses_unknown_scopes(capsys: pytest.CaptureFixture[str]) -> None:
    p = argparse.ArgumentParser()
    add_token_parser(p.add_subparsers(dest="command"))
    args = p.parse_args(["token", "new", "ci", "--scopes", "write,root"])
    assert args.fn(args, None) == 2
    out, _ = capsys.readouterr()
    assert out == ""
