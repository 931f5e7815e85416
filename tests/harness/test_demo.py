"""`make demo` works, and works again: it replaces its own previous run. (Its live half
takes two minutes of real load: it is run by hand and by the live tests' engine.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli.demo import OUT, demo


def test_the_demo_runs_twice_in_a_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert demo(live=False) == 0
    first = (tmp_path / OUT / "run.json").read_text()
    assert demo(live=False) == 0
    out = capsys.readouterr().out
    assert out.count("sim  report: ") == 2
    assert (tmp_path / OUT / "report.html").exists()
    assert (tmp_path / OUT / "run.json").read_text() != first  # a new run, not the old one
