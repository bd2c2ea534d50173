"""Sizing the embedded server's memory never stops it from starting."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from service import embedded


def _running(srv: object) -> dict[str, str]:
    out = embedded._psql(srv, "SELECT name, setting FROM pg_settings WHERE name = 'shared_buffers'")
    return dict(line.split("|") for line in out.splitlines() if line)


def _overcommits() -> bool:
    """Whether the kernel maps any amount of memory (vm.overcommit_memory = 1)."""
    try:
        return Path("/proc/sys/vm/overcommit_memory").read_text().strip() == "1"
    except OSError:
        return False


@pytest.mark.skipif(_overcommits(), reason="this kernel maps any amount: nothing refuses 4 TB")
def test_a_machine_that_refuses_the_memory_gets_a_server_with_its_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """4 TB of shared buffers is a valid setting no machine here can map: the restart
    fails, the setting is taken back, and the server starts with what it had."""
    os.chmod(tmp_path, 0o755)  # the embedded server may run as another user
    monkeypatch.setattr(
        embedded,
        "memory_settings",
        lambda ram: {"shared_buffers": "4194304MB", "effective_cache_size": "8192MB"},
    )
    caplog.set_level(logging.WARNING, logger="annals.database")
    srv = embedded.server(tmp_path / "pgdata", "delete")
    try:
        assert _running(srv) == {"shared_buffers": "16384"}  # 128 MB in 8 kB pages
        assert "shared_buffers" not in (tmp_path / "pgdata" / "postgresql.auto.conf").read_text()
        assert "it runs with the settings it had" in caplog.text
    finally:
        srv.cleanup()
    assert not (tmp_path / "pgdata").exists()
