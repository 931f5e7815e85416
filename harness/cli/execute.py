"""Running a scenario end to end: records, score, summary, report.

This is the composition root of a run: it is the one place that knows both engines,
the scorer and the report renderer.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.demand.schedule import build_schedule
from harness.errors import InputError
from harness.gates.evaluate import judge
from harness.gates.spec import Gate
from harness.records.reader import read_run
from harness.records.writer import RunWriter, write_json
from harness.scenario.model import Scenario
from harness.scoring.model import Summary
from harness.scoring.score import score_run

__all__ = ["RUN_FILES", "default_out_dir", "execute", "prepare_out_dir", "rescore", "versions"]

#: Files a run directory may hold; only these are cleared when a run dir is reused.
RUN_FILES = (
    "run.json", "scenario.json", "scenario.yaml", "requests.parquet", "spans.parquet",
    "timeseries.parquet", "events.jsonl", "summary.json", "report.html", ".requests.arrows",
    ".spans.arrows", ".timeseries.arrows",
)


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("squall", "simpy", "numpy", "pandas", "pyarrow", "pydantic", "matplotlib"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def default_out_dir(scenario: Scenario) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{scenario.name}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def prepare_out_dir(out: Path) -> None:
    """Create ``out``, or clear a previous run in it; refuse a directory of other files."""
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory", source=str(out))
    if out.is_dir():
        entries = list(out.iterdir())
        if entries and not (out / "run.json").exists():
            raise InputError("is a non-empty directory that is not a run directory: "
                             "choose another --out", source=str(out))
        for name in RUN_FILES:
            path = out / name
            if path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)
    out.mkdir(parents=True, exist_ok=True)


def execute(scenario: Scenario, *, mode: str, out: Path, seed: int | None = None,
            source_text: str | None = None, source_dir: Path | None = None,
            overrides: Sequence[str] = (), gates: Sequence[Gate] = (),
            command: Sequence[str] | None = None, write_report: bool = True) -> Summary:
    """Run ``scenario`` in ``mode`` into ``out``; return its scored summary."""
    if mode != "sim":
        raise InputError(
            "the live engine is not available in this version: run with --mode sim",
            source="--mode",
        )
    seed = scenario.seed if seed is None else seed
    if seed != scenario.seed:
        scenario = scenario.model_copy(update={"seed": seed})
    prepare_out_dir(out)
    write_json(out / "scenario.json", scenario.canonical())
    if source_text is not None:
        (out / "scenario.yaml").write_text(source_text, encoding="utf-8")
    schedule = build_schedule(scenario, seed)
    meta: dict[str, Any] = {
        "mode": mode, "seed": seed, "scenario": scenario.name,
        "scenario_digest": scenario.digest(), "schedule_fingerprint": schedule.fingerprint(),
        "arrivals": len(schedule), "overrides": list(overrides),
        "scenario_dir": str(source_dir.resolve()) if source_dir else None,
        "command": " ".join(command if command is not None else sys.argv),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions(),
    }
    writer = RunWriter(out, meta)
    status = "complete"
    started = time.perf_counter()
    from harness.sim.engine import simulate

    try:
        result = simulate(scenario, schedule, writer, seed)
    except KeyboardInterrupt:
        status = "interrupted"
        writer.close(status, elapsed_s=round(time.perf_counter() - started, 3))
        raise
    except BaseException:
        writer.close("failed", elapsed_s=round(time.perf_counter() - started, 3))
        raise
    writer.close(status, elapsed_s=round(time.perf_counter() - started, 3),
                 completed=result.completed, dropped=result.dropped)
    return rescore(out, gates=gates, write_report=write_report, scenario=scenario)


def rescore(out: Path, *, gates: Sequence[Gate] = (), write_report: bool = True,
            scenario: Scenario | None = None, baseline: Summary | None = None) -> Summary:
    """Score a run directory from its records and write summary.json (and the report)."""
    run = read_run(out)
    if scenario is None:
        if run.scenario_data is None:
            raise InputError("the run directory has no readable scenario.json: cannot score it",
                             source=str(out))
        scenario = Scenario.model_validate(
            run.scenario_data, context={"base_dir": run.meta.get("scenario_dir")})
    scored = score_run(run, scenario)
    summary = judge(scored, [*scenario.gate_list(), *gates], scenario.sla, baseline)
    write_json(out / "summary.json", json.loads(summary.model_dump_json()))
    if write_report:
        from reports.render import render_report

        render_report(out, summary)
    return summary
