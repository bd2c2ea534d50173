"""Keys from configuration: a key file, retired keys, the development key, bad files."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from events.heads import key_id
from service.settings import Settings
from service.signing import DEV_KEY, KeyConfigError, load


def settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings.from_env(data_dir=tmp_path / "data", tokens=(), **kw)


def pem(key: Ed25519PrivateKey, path: Path) -> str:
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return str(path)


def test_the_development_key_is_made_once_private_and_kept(tmp_path: Path) -> None:
    s = settings(tmp_path)
    assert load(s, create=False).signer is None  # the CLI never writes one
    first = load(s, create=True)
    path = tmp_path / "data" / DEV_KEY
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load(s, create=False)
    assert first.signing_id == again.signing_id
    assert first.accepted.keys() == {first.signing_id}


def test_a_configured_key_signs_and_retired_keys_are_accepted(tmp_path: Path) -> None:
    new, old = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    old_pub = tmp_path / "old.pub.pem"
    old_pub.write_bytes(
        old.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    other = Ed25519PrivateKey.generate()
    s = settings(
        tmp_path,
        signing_key_file=pem(new, tmp_path / "new.pem"),
        verify_key_files=(str(old_pub), pem(other, tmp_path / "other.pem")),
    )
    ring = load(s, create=True)
    assert ring.signing_id == key_id(new.public_key())
    assert set(ring.accepted) == {key_id(k.public_key()) for k in (new, old, other)}
    assert not (tmp_path / "data" / DEV_KEY).exists()  # configured: no development key
    assert set(ring.public_pem()) == set(ring.accepted)


def test_bad_key_files_are_named_by_variable_and_path(tmp_path: Path) -> None:
    (tmp_path / "junk.pem").write_text("not a key")
    ec = generate_private_key(SECP256R1())
    (tmp_path / "ec.pem").write_bytes(
        ec.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    for name, says in [
        ("junk.pem", "cannot read an unencrypted PEM key"),
        ("ec.pem", "not an Ed25519 key"),
        ("missing.pem", "cannot read an unencrypted PEM key"),
    ]:
        path = str(tmp_path / name)
        with pytest.raises(
            KeyConfigError, match=re.escape(f"ANNALS_SIGNING_KEY_FILE={path}: {says}")
        ):
            load(settings(tmp_path, signing_key_file=path), create=True)
    with pytest.raises(KeyConfigError, match=r"ANNALS_VERIFY_KEY_FILES=.*cannot read a PEM"):
        load(settings(tmp_path, verify_key_files=(str(tmp_path / "junk.pem"),)), create=True)
