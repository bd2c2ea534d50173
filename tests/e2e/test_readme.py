"""The README's curl examples, run against a live service started as `make run` does."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

from tests.e2e.conftest import Service

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands() -> list[str]:
    """Each curl command of the README's 'Try it' block, continuation lines joined."""
    text = README.read_text()
    block = re.search(r"## Try it.*?```sh\n(.*?)```", text, re.S)
    assert block, "README has no '## Try it' sh block"
    commands: list[str] = []
    current: list[str] = []
    for line in block.group(1).splitlines():
        if line.startswith("curl"):
            if current:
                commands.append("\n".join(current))
            current = [line]
        elif current and line and not line.startswith("#"):
            current.append(line)
        elif current:
            commands.append("\n".join(current))
            current = []
    if current:
        commands.append("\n".join(current))
    return commands


def run(cmd: str, base: str) -> Any:
    done = subprocess.run(
        ["bash", "-c", cmd],
        env={**os.environ, "ANNALS": base},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)


def test_readme_examples_answer_as_documented(embedded_service: Service) -> None:
    cmds = readme_commands()
    assert len(cmds) == 10
    base = embedded_service.url
    posted = run(cmds[0], base)
    assert posted["sequence"] > 52 and len(posted["hash"]) == 64 and posted["recordedtime"]
    assert run(cmds[0], base) == posted  # idempotent retry
    log = run(cmds[1], base)
    assert [e["sequence"] for e in log["events"]] == [1, 2, 3, 4, 5]
    before, after = run(cmds[2], base), run(cmds[3], base)
    assert (before["points"], before["classified"]) == (28, False)
    assert (after["points"], after["classified"]) == (22, False)
    family = {v["id"]: v for v in run(cmds[4], base)["versions"]}
    assert len(family) == 5 and family["plan/us-28-point-plan"]["generation"] == 0
    update = family["plan/us-updated-settlement-proposal"]
    assert (update["classified"], update["based_on"]) == (True, "plan/us-28-point-plan")
    assert update["withheld_from"] == ["party/ukraine", "party/european-union"]
    russia_28, russia_30 = run(cmds[5], base), run(cmds[6], base)
    assert russia_28["positions"]["issue/donbas"]["stance"] == "conditional"
    assert russia_30["positions"]["issue/donbas"]["stance"] == "demands"
    diff = run(cmds[7], base)
    assert any(
        c["subject"] == "party/russia" and c["field"] == "positions.issue/donbas"
        for c in diff["changes"]
    )
    state = run(cmds[8], base)
    assert state["sequence"] == 30
    assert all(p["id"] != "meeting/moscow-2025-12-02" for p in state["meetings"])
    assert run(cmds[9], base)["ok"] is True
