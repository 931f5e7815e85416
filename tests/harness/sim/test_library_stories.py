"""Each library scenario that tells a story — what goes wrong, and the one change that
fixes it (a ``squall run … --set …`` block in its opening comment) — does what it says:
it fails its gates as shipped and passes them with the change."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from harness.execution import execute
from harness.scenario import load_scenario
from tests.conftest import library

#: ``#   squall run scenarios/NAME.yaml …`` and the ``--set`` lines under it
_BLOCK = re.compile(r"^#\s+squall run scenarios/(?P<file>[\w-]+\.yaml)[^\n]*\n"
                    r"(?P<sets>(?:#\s+--set [^\n]+\n)+)", re.MULTILINE)


def story(path: Path) -> list[str] | None:
    """The ``--set`` overrides of the fix a scenario's comment gives, or None."""
    m = _BLOCK.search(path.read_text())
    if m is None or m.group("file") != path.name:
        return None
    overrides = []
    for line in m.group("sets").splitlines():
        words = shlex.split(line.lstrip("#").strip().rstrip("\\").strip())
        overrides += [w for i, w in enumerate(words) if i and words[i - 1] == "--set"]
    return overrides


STORIES = [(p, s) for p in library() if (s := story(p)) is not None]


def test_the_library_tells_its_stories() -> None:
    names = {p.stem for p, _ in STORIES}
    assert {"ecommerce-peak", "month-end-close", "telecom-diagnostics", "hr-delegation",
            "doc-bursts", "healthcare-triage"} <= names


@pytest.mark.parametrize(("path", "fix"), STORIES, ids=lambda v: getattr(v, "stem", ""))
def test_a_story_fails_as_shipped_and_passes_with_its_one_change(
        path: Path, fix: list[str], tmp_path: Path) -> None:
    shipped = execute(load_scenario(path), mode="sim", out=tmp_path / "shipped",
                      source_dir=path.parent, progress=False)
    assert shipped.verdict.value == "fail", [g.name for g in shipped.gates if not g.passed]
    fixed = execute(load_scenario(path, fix), mode="sim", out=tmp_path / "fixed",
                    source_dir=path.parent, overrides=fix, progress=False)
    failing = [f"{g.name} ({g.shown()})" for g in fixed.gates if not g.passed]
    assert fixed.verdict.value == "pass", failing
