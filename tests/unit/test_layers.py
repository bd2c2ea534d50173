"""The arrows of docs/ARCHITECTURE.md that imports can check, each in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys


def loads(module: str, prefix: str) -> bool:
    """Whether importing `module` loads any module named `prefix` or under it."""
    code = (
        f"import sys, {module}; "
        f"print(any(m == {prefix!r} or m.startswith({prefix + '.'!r}) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


def test_the_cli_does_not_load_the_http_layer() -> None:
    """`annals import`, `export`, `state` … start without Litestar or the API modules."""
    assert loads("service.app", "litestar")  # the check can see an import
    assert not loads("service.cli", "litestar")
    assert not loads("service.cli", "service.api")


def test_the_read_side_and_the_log_do_not_import_the_service() -> None:
    for module in ("queries.answers", "queries.projector", "events.writer", "projections.facts"):
        assert not loads(module, "service"), module
