"""Squall from Python: run a scenario, read its records, judge and report a run directory.

::

    import harness as squall

    result = squall.run("scenarios/ecommerce-peak.yaml", out="runs/peak")
    result.verdict                      # Verdict.FAIL
    result.summary.metrics["latency.p95"]
    result.requests()                   # one row per arrival, as a DataFrame
    result.report()                     # path of report.html

A scenario is a file, a :class:`~harness.scenario.model.Scenario` (built from typed
objects or dicts), or a mapping. Bad input raises :class:`~harness.errors.InputError`
with every problem named by its field path, as ``squall validate`` prints them.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from harness.engines import Mode
from harness.errors import InputError
from harness.execution import execute, execute_replications, rescore
from harness.gates.spec import Gate, parse_gate
from harness.records.rundir import RunDir
from harness.scenario.loader import load_scenario, validate_data
from harness.scenario.model import Scenario
from harness.scenario.yamlio import Document
from harness.scoring.model import Summary, Verdict

__all__ = ["RunResult", "judge", "report", "run"]

ScenarioLike = Scenario | Mapping[str, Any] | str | Path


@dataclass(frozen=True)
class RunResult:
    """A finished run: its summary, and its run directory's records on demand."""

    summary: Summary
    directory: Path

    @property
    def verdict(self) -> Verdict:
        return self.summary.verdict

    @property
    def passed(self) -> bool:
        return self.summary.verdict is Verdict.PASS

    def requests(self) -> pd.DataFrame:
        """One row per arrival (see :mod:`harness.records.schema`)."""
        return self._table("requests")

    def spans(self) -> pd.DataFrame:
        """One row per agent / LLM / tool call attempt."""
        return self._table("spans")

    def timeseries(self) -> pd.DataFrame:
        """The system's state at each sampling step."""
        return self._table("timeseries")

    def events(self) -> list[dict[str, Any]]:
        """Fault starts and ends, scaling, breaker transitions, in order."""
        lines = RunDir(self.directory).events.read_text().splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def report(self) -> Path:
        """The run's ``report.html`` (rendered now if the run had none)."""
        path = RunDir(self.directory).report
        if not path.exists():
            render(self.directory, self.summary)
        return path

    def gate_table(self) -> str:
        """The gates as aligned text, for a failing test's message."""
        rows = [(g.status.value.upper(), g.name, g.shown(), g.reason) for g in
                self.summary.gates]
        width = max((len(r[1]) for r in rows), default=0)
        lines = [f"{s:12} {n:{width}}  value {v}{'  (' + why + ')' if why else ''}"
                 for s, n, v, why in rows]
        return "\n".join([f"{self.summary.scenario}: {self.verdict.value.upper()}", *lines,
                          *(f"note: {m}" for m in self.summary.missing)])

    def _table(self, name: str) -> pd.DataFrame:
        frame: pd.DataFrame = pd.read_parquet(RunDir(self.directory).table(name))
        return frame


def _scenario(scenario: ScenarioLike, overrides: Sequence[str]) -> tuple[Scenario, Path | None]:
    if isinstance(scenario, str | Path):
        path = Path(scenario)
        return load_scenario(path, overrides), path.parent
    if isinstance(scenario, Scenario):
        if overrides:
            data = scenario.model_dump(mode="python", by_alias=True, exclude_unset=True)
            return validate_data(Document(data, {}, "<scenario>"), overrides), None
        return scenario, None
    if isinstance(scenario, Mapping):
        return validate_data(Document(dict(scenario), {}, "<scenario>"), overrides), None
    raise InputError(f"a scenario is a file, a Scenario or a mapping, not "
                     f"{type(scenario).__name__}")


def _gates(gates: Sequence[str | Gate]) -> list[Gate]:
    out = []
    for gate in gates:
        try:
            out.append(gate if isinstance(gate, Gate) else parse_gate(gate))
        except ValueError as exc:
            raise InputError(str(exc), source=f"gate {gate!r}") from None
    return out


def run(scenario: ScenarioLike, *, mode: Mode | str = Mode.SIM, out: str | Path | None = None,
        seed: int | None = None, overrides: Sequence[str] = (),
        gates: Sequence[str | Gate] = (), replications: int = 1, warmup: float = 0.0,
        report: bool = False, overwrite: bool = False) -> RunResult:
    """Run ``scenario`` and score it. ``out`` is the run directory (a new temporary one
    when None: yours to keep or delete); ``overrides`` are ``--set`` style
    ``PATH=VALUE`` strings; ``gates`` are added to the scenario's."""
    parsed, source_dir = _scenario(scenario, overrides)
    directory = Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="squall-run-"))
    extra = _gates(gates)
    if out is None:
        overwrite = True  # the directory was made empty for this run
    common: dict[str, Any] = {"mode": mode, "out": directory, "seed": seed,
                              "source_dir": source_dir, "overrides": overrides,
                              "gates": extra, "warmup": warmup, "overwrite": overwrite,
                              "report": render if report else None,
                              "command": ["python", "harness.run"]}
    if replications > 1:
        summary = execute_replications(parsed, replications=replications, **common)
    else:
        summary = execute(parsed, **common)
    return RunResult(summary, directory)


def render(directory: Path, summary: Summary | None = None) -> Path:
    """Render a run directory's ``report.html`` (imports the renderer on first use)."""
    from reports.render import render_report

    return render_report(directory, summary)


def judge(directory: str | Path, *, gates: Sequence[str | Gate] = (),
          report: bool = False) -> RunResult:
    """Score an existing run directory from its records and judge its gates (and
    ``gates``); with ``report``, render its report too."""
    directory = Path(directory)
    summary = rescore(directory, gates=_gates(gates), report=render if report else None)
    return RunResult(summary, directory)


def report(directory: str | Path) -> Path:
    """Score a run directory and (re-)render its ``report.html``; its path."""
    return RunDir(judge(directory, report=True).directory).report
