"""The arrows of docs/ARCHITECTURE.md that imports can check, each in a fresh interpreter."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path


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
    read_side = ("queries.answers", "queries.export_questions", "queries.projector")
    for module in (*read_side, "events.writer", "projections.facts"):
        assert not loads(module, "service"), module


_SQL = re.compile(r"\b(SELECT|INSERT INTO|DELETE FROM|ANALYZE|VACUUM)\b|\bUPDATE \w+ SET\b")


def sql_in(path: Path) -> list[str]:
    """The string constants of a module that read as SQL."""
    tree = ast.parse(path.read_text())
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and _SQL.search(n.value)
    ]


def test_sql_lives_with_the_store_or_the_read_model() -> None:
    """No SQL in the controllers, the importer or the wiring: they call events/ and
    queries/, where the statements are."""
    root = Path(__file__).resolve().parents[2]
    assert sql_in(root / "events" / "store.py")  # the check can see a statement
    modules = [*sorted((root / "service" / "api").glob("*.py"))]
    modules += [root / "service" / "importer.py", root / "service" / "wiring.py"]
    found = {p.name: s for p in modules if (s := sql_in(p))}
    assert not found, found


def imports_of(path: Path) -> set[str]:
    """The modules (and `from` modules' names) a module imports."""
    out: set[str] = set()
    for n in ast.walk(ast.parse(path.read_text())):
        if isinstance(n, ast.Import):
            out |= {a.name for a in n.names}
        elif isinstance(n, ast.ImportFrom) and n.module:
            out |= {n.module, *(f"{n.module}.{a.name}" for a in n.names)}
    return out


def test_the_read_controllers_ask_the_read_side() -> None:
    """The answers', timeline's and exports' controllers reach the database only through a
    question of queries/ (one call each), never through the log's store."""
    api = Path(__file__).resolve().parents[2] / "service" / "api"
    assert "events.store" in imports_of(api / "events.py")  # the check can see the import
    for name in ("answers.py", "timeline.py", "exports.py"):
        assert "events.store" not in imports_of(api / name), name
