"""Judging a run directory: score its records, evaluate its gates, write its summary.

A directory of replications (``rep-NNN``) is judged replication by replication and
aggregated. Works the same for sim and live runs: only records are read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import InputError
from harness.gates.evaluate import judge, judge_replications
from harness.gates.spec import Gate
from harness.records.reader import read_run
from harness.records.writer import write_json
from harness.scenario.model import Scenario
from harness.scoring.aggregate import aggregate
from harness.scoring.model import Summary
from harness.scoring.score import score_run

__all__ = ["aggregate_into", "judge_dir", "replication_dirs", "scenario_of"]


def scenario_of(out: Path, data: dict[str, Any] | None, meta: dict[str, Any]) -> Scenario:
    """The scenario a run directory was run with (from its scenario.json)."""
    if data is None:
        raise InputError("the run directory has no readable scenario.json: cannot score it",
                         source=str(out))
    return Scenario.model_validate(data, context={"base_dir": meta.get("scenario_dir")})


def replication_dirs(out: Path) -> list[Path]:
    """The replication run directories of an aggregate run directory, in order."""
    return sorted(p for p in out.glob("rep-*") if p.is_dir())


def judge_dir(out: Path, *, gates: Sequence[Gate] = (), scenario: Scenario | None = None,
              baseline: Summary | None = None, warmup: float | None = None,
              write_summary: bool = True) -> Summary:
    """Score ``out`` from its records, judge the scenario's gates and ``gates`` (against
    ``baseline`` for relative ones), and write summary.json unless told not to."""
    if replication_dirs(out) and not (out / "requests.parquet").exists():
        return _judge_replications(out, gates=gates, baseline=baseline, warmup=warmup,
                                   write_summary=write_summary)
    run = read_run(out)
    if scenario is None:
        scenario = scenario_of(out, run.scenario_data, run.meta)
    if warmup is None:
        warmup = float(run.meta.get("warmup_s") or 0.0)
    summary = judge(score_run(run, scenario, warmup=warmup),
                    [*scenario.gate_list(), *gates], baseline)
    if write_summary:
        write_json(out / "summary.json", json.loads(summary.model_dump_json()))
    return summary


def aggregate_into(out: Path, reps: Sequence[Summary], gates: Sequence[Gate],
                   baseline: Summary | None = None, write_summary: bool = True) -> Summary:
    """Aggregate replications' summaries, judge ``gates`` on the aggregate, write it."""
    summary = judge_replications(aggregate(reps), [r.gates for r in reps], gates, baseline)
    if write_summary:
        write_json(out / "summary.json", json.loads(summary.model_dump_json()))
    return summary


def _judge_replications(out: Path, *, gates: Sequence[Gate], baseline: Summary | None,
                        warmup: float | None, write_summary: bool) -> Summary:
    meta_path = out / "run.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    data_path = out / "scenario.json"
    data = json.loads(data_path.read_text()) if data_path.exists() else None
    scenario = scenario_of(out, data, meta)
    reps = [judge_dir(rep, gates=gates, scenario=scenario, warmup=warmup, baseline=baseline,
                      write_summary=write_summary) for rep in replication_dirs(out)]
    return aggregate_into(out, reps, [*scenario.gate_list(), *gates], baseline,
                          write_summary)
