"""Settings from ANNALS_* variables: a variable left unset takes the field's default, a bad
one is refused naming the variable."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from service.settings import Settings


@pytest.fixture
def bare(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in [n for n in __import__("os").environ if n.startswith("ANNALS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("ANNALS_DATA_DIR", str(tmp_path))


def test_unset_variables_take_the_fields_defaults(bare: None, tmp_path: Path) -> None:
    got = Settings.from_env()
    for field in msgspec.structs.fields(Settings):
        if field.name != "data_dir":
            assert getattr(got, field.name) == field.default, field.name


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("ANNALS_PORT", "eighty"),
        ("ANNALS_READ_WAIT", "soon"),
        ("ANNALS_PAGE_FACTS", "0"),
        ("ANNALS_WEBHOOK_BACKOFF", "-1"),
        ("ANNALS_PUBLIC_READS", "maybe"),
    ],
)
def test_a_bad_variable_is_refused_naming_it(
    bare: None, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable):
        Settings.from_env()


def test_a_set_variable_is_read(bare: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANNALS_PORT", "8123")
    monkeypatch.setenv("ANNALS_READ_WAIT", "0.5")
    monkeypatch.setenv("ANNALS_PUBLIC_READS", "off")
    got = Settings.from_env()
    assert (got.port, got.read_wait, got.public_reads) == (8123, 0.5, False)
