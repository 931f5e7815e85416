"""Judging a run directory: score its records, evaluate its gates, write its summary.

A directory of replications (``rep-NNN``) is judged replication by replication and
aggregated. Works the same for sim and live runs: only records are read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import InputError, Problem
from harness.gates.spec import Gate
from harness.judging.evaluate import judge, judge_replications
from harness.outcomes import RunStatus
from harness.records.meta import RunMeta, read_meta
from harness.records.reader import read_json, read_run
from harness.records.rundir import RunDir
from harness.records.writer import write_json
from harness.scenario.checks import gate_problem
from harness.scenario.model import Scenario
from harness.scoring.aggregate import aggregate
from harness.scoring.model import Summary
from harness.scoring.score import score_run

__all__ = [
    "aggregate_into",
    "check_gates",
    "judge_dir",
    "saved",
    "scenario_of",
]


def scenario_of(out: Path, data: dict[str, Any] | None, meta: RunMeta) -> Scenario:
    """The scenario a run directory was run with (from its scenario.json)."""
    if data is None:
        raise InputError("the run directory has no readable scenario.json: cannot score it",
                         source=str(out))
    # A run records its inputs (trace files) inside itself; older runs name the
    # scenario's directory instead.
    base = out if meta.inputs == "run_dir" else meta.scenario_dir
    return Scenario.model_validate(data, context={"base_dir": base, "trusted": True})


def check_gates(scenario: Scenario, gates: Sequence[Gate]) -> None:
    """Extra gates (``--gate``) must name phases, faults and workflows the run has."""
    problems = [Problem(problem, source=f"--gate {g.text}") for g in gates
                if (problem := gate_problem(scenario, g)) is not None]
    if problems:
        raise InputError(problems)


def _attach_counterfactuals(out: Path, summary: Summary) -> None:
    """Each fault's attainment without it, from its counterfactual run, if there is one."""
    for rec in summary.recovery:
        path = RunDir(RunDir(out).counterfactual(rec.fault)).summary
        try:
            alt = Summary.model_validate_json(path.read_text())
        except (OSError, ValueError):
            continue
        rec.attainment_without = alt.sla.attainment
        if alt.sla.attainment is not None and summary.sla.attainment is not None:
            rec.attainment_loss = alt.sla.attainment - summary.sla.attainment


#: The note a re-score leaves when it keeps the summary of intact records.
KEPT = ("summary.json was scored from intact records and is kept, with report.html: "
        "this re-score of damaged records is not saved")


def _save(out: Path, summary: Summary) -> bool:
    """Write ``out/summary.json`` — unless the records are damaged now and the summary
    there was scored from intact ones: a re-score never replaces a good summary with a
    worse one (it notes that in ``summary.missing``). Whether it was written."""
    path = RunDir(out).summary
    if summary.missing and path.exists():
        try:
            previous = Summary.model_validate_json(path.read_text())
        except (ValueError, OSError):
            previous = None
        if previous is not None and not previous.missing:
            summary.missing.append(KEPT)
            return False
    write_json(path, json.loads(summary.model_dump_json()))
    return True


def saved(summary: Summary) -> bool:
    """Whether a judged summary was saved (see :func:`_save`)."""
    return KEPT not in summary.missing


def judge_dir(out: Path, *, gates: Sequence[Gate] = (), scenario: Scenario | None = None,
              baseline: Summary | None = None, warmup: float | None = None,
              write_summary: bool = True) -> Summary:
    """Score ``out`` from its records, judge the scenario's gates and ``gates`` (against
    ``baseline`` for relative ones), and write summary.json unless told not to."""
    if RunDir(out).aggregate:
        return _judge_replications(out, gates=gates, baseline=baseline, warmup=warmup,
                                   write_summary=write_summary)
    run = read_run(out)
    if scenario is None:
        scenario = scenario_of(out, run.scenario_data, run.meta)
        check_gates(scenario, gates)
    if warmup is None:
        warmup = run.meta.warmup_s
    summary = judge(score_run(run, scenario, warmup=warmup, seed=run.meta.seed),
                    [*scenario.gate_list(), *gates], baseline)
    _attach_counterfactuals(out, summary)
    if write_summary:
        _save(out, summary)
    return summary


def aggregate_into(out: Path, reps: Sequence[Summary], gates: Sequence[Gate],
                   baseline: Summary | None = None, write_summary: bool = True, *,
                   status: str = RunStatus.COMPLETE, missing: Sequence[str] = ()) -> Summary:
    """Aggregate replications' summaries, judge ``gates`` on the aggregate, write it.
    ``status`` is how the replicated run ended; ``missing`` what it lacks as a whole
    (replications that never ran)."""
    combined = aggregate(reps)
    combined.missing = sorted({*combined.missing, *missing})
    summary = judge_replications(combined, reps, gates, baseline, status)
    if write_summary:
        _save(out, summary)
    return summary


def _judge_replications(out: Path, *, gates: Sequence[Gate], baseline: Summary | None,
                        warmup: float | None, write_summary: bool) -> Summary:
    missing: list[str] = []
    meta = read_meta(RunDir(out).run_json, missing)
    scenario = scenario_of(out, read_json(RunDir(out).scenario, missing), meta)
    check_gates(scenario, gates)
    reps = [judge_dir(rep, gates=gates, scenario=scenario, warmup=warmup, baseline=baseline,
                      write_summary=write_summary) for rep in RunDir(out).replications()]
    expected = meta.replications
    if expected is not None and expected > len(reps):
        missing.append(f"only {len(reps)} of {expected} replications were recorded")
    status = meta.status
    if status is not RunStatus.COMPLETE:
        missing.append(f"the run's status is {status.value!r}, not complete")
    return aggregate_into(out, reps, [*scenario.gate_list(), *gates], baseline,
                          write_summary, status=status, missing=missing)
