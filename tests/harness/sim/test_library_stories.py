"""Each library scenario that tells a story — what goes wrong, and the one change that
fixes it (a ``squall run … --set …`` block in its opening comment) — does what it says:
it fails its gates as shipped and passes them with the change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.execution import execute
from harness.scenario import load_scenario
from reports.render import render_report
from tests.conftest import library
from tests.harness.sim.stories import story
from tests.harness.sim.test_library_runs import check_summary

STORIES = [(p, s) for p in library() if (s := story(p)) is not None]


def test_the_library_tells_its_stories() -> None:
    names = {p.stem for p, _ in STORIES}
    assert {"ecommerce-peak", "month-end-close", "telecom-diagnostics", "hr-delegation",
            "doc-bursts", "healthcare-triage", "diurnal-day"} <= names


@pytest.mark.parametrize(("path", "fix"), STORIES, ids=lambda v: getattr(v, "stem", ""))
def test_a_story_fails_as_shipped_and_passes_with_its_one_change(
        path: Path, fix: list[str], tmp_path: Path) -> None:
    shipped = execute(load_scenario(path), mode="sim", out=tmp_path / "shipped",
                      source_dir=path.parent, progress=False, report=render_report)
    check_summary(path, json.loads((tmp_path / "shipped" / "summary.json").read_text()),
                  tmp_path / "shipped")
    assert shipped.verdict.value == "fail", [g.name for g in shipped.gates if not g.passed]
    fixed = execute(load_scenario(path, fix), mode="sim", out=tmp_path / "fixed",
                    source_dir=path.parent, overrides=fix, progress=False)
    failing = [f"{g.name} ({g.shown()})" for g in fixed.gates if not g.passed]
    assert fixed.verdict.value == "pass", failing
