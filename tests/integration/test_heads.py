"""Signed heads: a head saved from GET /v1/head catches what the chain alone cannot — a
truncated log, a tail rewritten with every hash recomputed (docs/SECURITY.md, "Signed heads").

The database is changed behind the service's back as in test_tamper.py. Signatures are also
checked here independently, with cryptography's Ed25519PublicKey.verify over the documented
bytes, using the public key the service publishes and the one in its key file.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from service.settings import Settings
from service.signing import DEV_KEY
from tests.integration.test_tamper import behind_the_back, party, rehash

Client = httpx.AsyncClient
ANNALS = str(Path(sys.executable).parent / "annals")
EVENTS = 6


@pytest.fixture
async def saved(client: Client, tmp_path: Path) -> dict[str, Any]:
    """Six events, then the head as a client saves it (also written to a file)."""
    for n in range(1, EVENTS + 1):
        r = await client.post("/v1/events", json=party(n))
        assert r.status_code == 201, r.text
    r = await client.get("/v1/head")
    assert r.status_code == 200, r.text
    head: dict[str, Any] = r.json()
    (tmp_path / "head.json").write_text(json.dumps(head))
    return head


async def cli_verify(
    settings: Settings, head_file: Path, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """`annals verify --head FILE` on the test's database and data directory."""
    assert settings.database_url is not None
    proc = await asyncio.create_subprocess_exec(
        ANNALS,
        "--database-url",
        settings.database_url,
        "--data-dir",
        str(settings.data_dir),
        "verify",
        "--head",
        str(head_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    assert b"Traceback" not in err, err.decode()
    return proc.returncode, " ".join(out.decode().split())


def signed_message(head: dict[str, Any]) -> bytes:
    """The documented bytes, built here from the answer (not by events/heads.py)."""
    when = head["recordedtime"] or ""
    return (
        f"annals-head-v1\n{head['sequence']}\n{head['hash']}\n{when}\n{head['key_id']}\n".encode()
    )


async def test_the_head_is_the_newest_event_signed_over_the_documented_bytes(
    saved: dict[str, Any], client: Client, settings: Settings
) -> None:
    newest = (await client.get("/v1/events", params={"after": EVENTS - 1})).json()["events"][0]
    assert (saved["sequence"], saved["hash"]) == (EVENTS, newest["hash"])
    assert saved["recordedtime"].startswith(newest["recordedtime"].rstrip("Z")[:19])
    keys = (await client.get("/v1/head/keys")).json()
    assert keys["signing"] == saved["key_id"]
    published = {k["key_id"]: k["public_key"] for k in keys["keys"]}
    public = load_pem_public_key(published[saved["key_id"]].encode())
    assert isinstance(public, Ed25519PublicKey)
    public.verify(base64.b64decode(saved["signature"]), signed_message(saved))
    # the same key as the one kept in the data directory (development mode)
    private = load_pem_private_key((settings.data_dir / DEV_KEY).read_bytes(), None)
    assert isinstance(private, Ed25519PrivateKey)
    assert private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw) == public.public_bytes(
        Encoding.Raw, PublicFormat.Raw
    )


async def test_a_good_head_is_accepted_while_the_log_grows(
    saved: dict[str, Any], client: Client, settings: Settings, tmp_path: Path
) -> None:
    r = await client.post("/v1/events", json=party(EVENTS + 1))
    assert r.status_code == 201
    params = {"sequence": saved["sequence"], "hash": saved["hash"]}
    v = (await client.get("/v1/verify", params=params)).json()
    print(f"GET /v1/verify?sequence&hash -> {v}")
    assert v == {
        "ok": True,
        "checked": EVENTS + 1,
        "head": EVENTS + 1,
        "first_broken": None,
        "saved": {"sequence": EVENTS, "hash": saved["hash"], "prefix": True, "diverges": None},
    }
    code, out = await cli_verify(settings, tmp_path / "head.json")
    print(f"annals verify --head -> exit {code}: {out}")
    assert code == 0
    assert f"ok: the log begins with the saved head (sequence {EVENTS}" in out


async def test_a_truncation_is_caught_by_a_saved_head(
    saved: dict[str, Any],
    client: Client,
    conn: asyncpg.Connection,
    settings: Settings,
    tmp_path: Path,
) -> None:
    await behind_the_back(
        conn,
        "DELETE FROM event_concerns WHERE sequence >= 5",
        "DELETE FROM events WHERE sequence >= 5",
    )
    plain = (await client.get("/v1/verify")).json()
    print(f"GET /v1/verify -> {plain}")
    assert plain == {"ok": True, "checked": 4, "head": 4, "first_broken": None}  # blind to it
    params = {"sequence": saved["sequence"], "hash": saved["hash"]}
    v = (await client.get("/v1/verify", params=params)).json()
    print(f"GET /v1/verify?sequence={saved['sequence']}&hash=… -> {v}")
    assert v["ok"] is False
    assert v["saved"] == {
        "sequence": EVENTS,
        "hash": saved["hash"],
        "prefix": False,
        "diverges": {
            "sequence": 5,
            "reason": "the log ends at sequence 4, before the saved head's 6: "
            "events 5 to 6 were removed",
        },
    }
    code, out = await cli_verify(settings, tmp_path / "head.json")
    print(f"annals verify --head head.json -> exit {code}: {out}")
    assert code == 1
    assert out == (
        "NOT A PREFIX: the saved head (sequence 6) is not the start of this log; it stops "
        "being one at sequence 5: the log ends at sequence 4, before the saved head's 6: "
        "events 5 to 6 were removed"
    )


async def test_a_truncation_refilled_with_new_events_is_caught(
    saved: dict[str, Any], client: Client, conn: asyncpg.Connection
) -> None:
    """Removing the tail and appending others in its place: same length, another log."""
    await behind_the_back(
        conn,
        "DELETE FROM event_concerns WHERE sequence >= 5",
        "DELETE FROM events WHERE sequence >= 5",
    )
    for n in (50, 51, 52):
        assert (await client.post("/v1/events", json=party(n))).status_code == 201
    params = {"sequence": saved["sequence"], "hash": saved["hash"]}
    v = (await client.get("/v1/verify", params=params)).json()
    assert v["first_broken"] is None and v["head"] == 7
    assert v["ok"] is False and v["saved"]["diverges"]["sequence"] == EVENTS


async def test_a_rehashed_tail_is_caught_by_a_saved_head(
    saved: dict[str, Any],
    client: Client,
    conn: asyncpg.Connection,
    settings: Settings,
    tmp_path: Path,
) -> None:
    await behind_the_back(
        conn, """UPDATE events SET data = '{"name":"X","kind":"state"}' WHERE sequence = 3"""
    )
    for seq in range(3, EVENTS + 1):
        new = await rehash(conn, seq)
        await behind_the_back(
            conn,
            ("UPDATE events SET hash = $1 WHERE sequence = $2", new, seq),
            ("UPDATE events SET predecessor_hash = $1 WHERE sequence = $2", new, seq + 1),
        )
    assert (await client.get("/v1/verify")).json()["ok"] is True  # consistent again
    params = {"sequence": saved["sequence"], "hash": saved["hash"]}
    v = (await client.get("/v1/verify", params=params)).json()
    print(f"GET /v1/verify?sequence&hash -> {v}")
    assert v["ok"] is False
    assert v["saved"]["diverges"] == {
        "sequence": EVENTS,
        "reason": f"sequence {EVENTS} has another hash than the saved head: the log up to it "
        "was rewritten and its hashes recomputed",
    }
    code, out = await cli_verify(settings, tmp_path / "head.json")
    print(f"annals verify --head -> exit {code}: {out}")
    assert code == 1
    assert f"it stops being one at sequence {EVENTS}: sequence {EVENTS} has another hash" in out


async def test_a_bad_signature_is_refused(
    saved: dict[str, Any], settings: Settings, tmp_path: Path
) -> None:
    forged = {**saved, "sequence": EVENTS - 1}  # a head the service never signed
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    code, out = await cli_verify(settings, tmp_path / "forged.json")
    print(f"annals verify --head forged.json -> exit {code}: {out}")
    assert code == 2
    assert out == (
        f"REFUSED: {tmp_path / 'forged.json'}: the signature does not verify under key "
        f"{saved['key_id']}"
    )
    other = Ed25519PrivateKey.generate()
    (tmp_path / "other.pem").write_bytes(
        other.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    code, out = await cli_verify(
        settings, tmp_path / "head.json", {"ANNALS_SIGNING_KEY_FILE": str(tmp_path / "other.pem")}
    )
    print(f"annals verify --head (another key configured) -> exit {code}: {out}")
    assert code == 2
    assert f"key_id {saved['key_id']} is not one of the accepted keys" in out


async def test_a_head_signed_by_a_retired_key_is_accepted_after_rotation(
    saved: dict[str, Any], settings: Settings, tmp_path: Path
) -> None:
    """Rotation: a new signing key, the old public key kept in ANNALS_VERIFY_KEY_FILES."""
    old = load_pem_private_key((settings.data_dir / DEV_KEY).read_bytes(), None)
    (tmp_path / "old.pub.pem").write_bytes(
        old.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    new = Ed25519PrivateKey.generate()
    (tmp_path / "new.pem").write_bytes(
        new.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    rotated = {
        "ANNALS_SIGNING_KEY_FILE": str(tmp_path / "new.pem"),
        "ANNALS_VERIFY_KEY_FILES": str(tmp_path / "old.pub.pem"),
    }
    code, out = await cli_verify(settings, tmp_path / "head.json", rotated)
    print(f"annals verify --head (rotated) -> exit {code}: {out}")
    assert code == 0, out


async def test_a_saved_head_needs_both_parameters_and_well_formed_ones(
    saved: dict[str, Any], client: Client
) -> None:
    r = await client.get("/v1/verify", params={"sequence": 3})
    assert r.status_code == 422 and r.json()["type"].endswith("bad-parameter"), r.text
    assert r.json()["errors"] == [
        {"path": "hash", "message": "a saved head needs both sequence and hash"}
    ]
    r = await client.get("/v1/verify", params={"hash": saved["hash"]})
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "sequence"
    r = await client.get("/v1/verify", params={"sequence": 3, "hash": "XYZ"})
    assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"
    r = await client.get("/v1/verify", params={"sequence": -1, "hash": saved["hash"]})
    assert r.status_code == 400
