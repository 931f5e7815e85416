"""Every story in the scenario library holds: the scenario fails its gates as shipped, for
the reason its comment gives, and passes with the change its comment names.

The change is read from the comment itself (the ``--set`` of its ``squall run`` line), so
the comment and the behaviour cannot drift apart.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from harness.cli.main import main
from tests.conftest import SCENARIOS

#: The domain scenarios: each tells a story with a fix. (mmc is the theory check; the
#: support day is a trace replay that passes by design.)
STORIES = ["ecommerce-peak", "telecom-diagnostics", "month-end-close"]


def the_fix(path: Path) -> list[str]:
    """The ``--set`` options the scenario's header comment suggests."""
    header = "".join(line[1:] for line in path.read_text().splitlines(keepends=True)
                     if line.startswith("#"))
    found = re.findall(r"--set\s+('[^']*'|\S+)", header)
    assert found, f"{path.name}'s comment names no --set change"
    return [arg for text in found for arg in ("--set", shlex.split(text)[0])]


@pytest.mark.parametrize("name", STORIES)
def test_a_library_story_fails_as_shipped_and_passes_with_its_fix(name: str,
                                                                   tmp_path: Path) -> None:
    path = SCENARIOS / f"{name}.yaml"
    assert main(["run", str(path), "--out", str(tmp_path / "shipped"), "-q",
                 "--no-report"]) == 1
    shipped = json.loads((tmp_path / "shipped" / "summary.json").read_text())
    assert shipped["verdict"] == "fail"
    assert main(["run", str(path), "--out", str(tmp_path / "fixed"), "-q", "--no-report",
                 *the_fix(path)]) == 0
    fixed = json.loads((tmp_path / "fixed" / "summary.json").read_text())
    assert fixed["verdict"] == "pass"
    assert all(g["status"] == "pass" for g in fixed["gates"])


def test_every_scenario_with_gates_is_a_story_or_passes_by_design(tmp_path: Path) -> None:
    gated = sorted(p.stem for p in SCENARIOS.glob("*.yaml") if "gates:" in p.read_text())
    assert set(STORIES) <= set(gated)
    assert set(gated) - set(STORIES) == {"support-day"}
