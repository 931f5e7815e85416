"""Running a scenario end to end: records, score, summary, report.

This is the composition root of a run: it picks the engine for the mode (through the
registry in :mod:`harness.engines`), writes the run directory, and calls the scorer and,
when given one, a :data:`Reporter` (the CLI and the Python API pass the HTML renderer of
:mod:`reports`, a layer above this one). The CLI is a thin shell over it; Python users
call it through :mod:`harness.api`.
"""

from __future__ import annotations

import contextlib
import platform
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.engines import engine_for
from harness.errors import InputError
from harness.gates.spec import Gate, parse_gate
from harness.judging.directory import aggregate_into, judge_dir, saved
from harness.outcomes import RunStatus
from harness.parallel import Executor, local_executor
from harness.records.meta import RunMeta, read_meta
from harness.records.rundir import RunDir
from harness.records.writer import RunWriter, write_json
from harness.scenario.files import repoint_files
from harness.scenario.model import Scenario
from harness.scenario.schedule import build_schedule
from harness.scoring.model import Summary

#: Renders a run directory's report: ``reporter(directory, summary or None)``.
Reporter = Callable[[Path, Summary | None], object]

__all__ = [
    "RUN_FILES",
    "Reporter",
    "RunJob",
    "default_out_dir",
    "execute",
    "execute_replications",
    "prepare_out_dir",
    "rescore",
    "run_job",
    "versions",
]

#: Files a run directory may hold; only these are cleared when a run dir is reused.
RUN_FILES = RunDir.files()


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("squall", "simpy", "numpy", "pandas", "pyarrow", "pydantic", "matplotlib"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def default_out_dir(scenario: Scenario, kind: str = "") -> Path:
    """``runs/NAME[-KIND]-TIMESTAMP``, a new directory name (``-2``, ``-3`` … if taken)."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{scenario.name}{'-' + kind if kind else ''}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _describe_run(out: Path) -> str:
    """``a run of 'shop' (started 2026-12-01T10:00:00+00:00)``, from its run.json."""
    meta = read_meta(RunDir(out).run_json, [])
    return f"a run of {meta.scenario or '?'!r} (started {meta.started_at or '?'})"


def prepare_out_dir(out: Path, *, overwrite: bool = False) -> None:
    """Create ``out``. A directory holding a previous run is replaced only when
    ``overwrite`` says so; one holding anything else never is."""
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory", source=str(out))
    try:
        entries = list(out.iterdir()) if out.is_dir() else []
    except OSError as exc:
        raise InputError(f"cannot read the directory: {exc.strerror}", source=str(out)) \
            from None
    if entries:
        if not RunDir(out).run_json.exists():
            raise InputError("is a non-empty directory that is not a run directory: "
                             "choose another --out", source=str(out))
        if not overwrite:
            raise InputError(f"already holds {_describe_run(out)}: choose another --out, "
                             "or pass --overwrite to replace it", source=str(out))
    try:
        for name in RUN_FILES:
            path = out / name
            if path.is_file():
                path.unlink()
            elif path.is_dir():
                shutil.rmtree(path)
        for rep in RunDir(out).replications():
            if RunDir(rep).run_json.exists():
                shutil.rmtree(rep)
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".squall-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError(f"cannot write the run directory: {exc.strerror}",
                         source=str(exc.filename or out)) from None


def _meta(scenario: Scenario, mode: str, seed: int, *, overrides: Sequence[str],
          source_dir: Path | None, command: Sequence[str] | None) -> dict[str, Any]:
    return {
        "mode": mode, "seed": seed, "scenario": scenario.name,
        "scenario_digest": scenario.digest(), "overrides": list(overrides),
        "scenario_dir": str(source_dir.resolve()) if source_dir else None,
        # scenario.json's files (traces) are in the run directory itself: see _inputs
        "inputs": "run_dir",
        "command": " ".join(command if command is not None else sys.argv),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions(),
    }


def _bundle_traces(data: Any, source_dir: Path | None, out: Path) -> None:
    """Copy every trace file ``data`` (a canonical scenario) names into ``out/traces/`` and
    point ``data`` at the copies, so the run directory can be re-scored and re-rendered
    anywhere, without the scenario's directory (a CI artifact, say)."""
    base = source_dir or Path(".")
    taken: dict[Path, str] = {}

    def move(kind: str, name: str) -> str:
        if kind != "trace":
            return name
        source = (base / name).resolve()
        if source not in taken:
            copy = source.name
            while copy in taken.values():
                copy = f"_{copy}"
            RunDir(out).traces.mkdir(exist_ok=True)
            shutil.copyfile(source, RunDir(out).traces / copy)
            taken[source] = copy
        return f"{RunDir.TRACES}/{taken[source]}"

    repoint_files(data, move)


def _inputs(out: Path, scenario: Scenario, source_text: str | None, overwrite: bool,
            source_dir: Path | None) -> None:
    prepare_out_dir(out, overwrite=overwrite)
    data = scenario.canonical()
    try:
        _bundle_traces(data, source_dir, out)
    except OSError as exc:  # leave no half-made run directory behind
        shutil.rmtree(RunDir(out).traces, ignore_errors=True)
        with contextlib.suppress(OSError):
            out.rmdir()  # only if nothing else is in it
        raise InputError(f"cannot copy the scenario's trace file into the run: "
                         f"{exc.strerror}", source=str(exc.filename or source_dir)) from None
    write_json(RunDir(out).scenario, data)
    if source_text is not None:
        RunDir(out).source.write_text(source_text, encoding="utf-8")


def execute(scenario: Scenario, *, mode: str, out: Path, seed: int | None = None,
            source_text: str | None = None, source_dir: Path | None = None,
            overrides: Sequence[str] = (), gates: Sequence[Gate] = (),
            command: Sequence[str] | None = None, report: Reporter | None = None,
            warmup: float = 0.0, overwrite: bool = False, progress: bool = True,
            attribute: bool = False, options: Mapping[str, Any] | None = None,
            arrivals_seed: int | None = None) -> Summary:
    """Run ``scenario`` in ``mode`` into ``out``; return its scored summary. With
    ``attribute``, each fault whose impact overlaps another's is also attributed by a
    counterfactual: the same run (seed, arrivals) without that fault. ``options`` go to
    the engine (a live run's control token, its web UI port). ``arrivals_seed``: draw
    the arrivals under another seed than the rest (the same arrivals, other luck)."""
    engine = engine_for(mode)
    seed = scenario.seed if seed is None else seed
    if seed != scenario.seed:
        scenario = scenario.model_copy(update={"seed": seed})
    _inputs(out, scenario, source_text, overwrite, source_dir)
    schedule = build_schedule(scenario, seed if arrivals_seed is None else arrivals_seed)
    meta = _meta(scenario, mode, seed, overrides=overrides, source_dir=source_dir,
                 command=command)
    meta.update(schedule_fingerprint=schedule.fingerprint(), arrivals=len(schedule),
                warmup_s=warmup)
    if arrivals_seed is not None and arrivals_seed != seed:
        meta["arrivals_seed"] = arrivals_seed
    writer = RunWriter(out, meta)
    started = time.perf_counter()
    shown = _Progress(scenario.name) if progress else None  # live: the engine shows its own
    try:
        result = engine.run(scenario, schedule, writer, seed, progress=shown, options=options)
    except KeyboardInterrupt:  # SIGINT, and SIGTERM (the CLI turns it into one)
        writer.close(RunStatus.INTERRUPTED, elapsed_s=round(time.perf_counter() - started, 3))
        raise
    except BaseException:
        writer.close(RunStatus.FAILED, elapsed_s=round(time.perf_counter() - started, 3))
        raise
    writer.close(result.status, elapsed_s=round(time.perf_counter() - started, 3),
                 completed=result.completed, dropped=result.dropped, **result.meta)
    summary = rescore(out, gates=gates, report=None if attribute else report,
                      scenario=scenario, warmup=warmup)
    if not attribute:
        return summary
    for rec in summary.recovery:
        if rec.confounded_by:
            _without(scenario, rec.fault, out=out, seed=seed, source_dir=source_dir,
                     warmup=warmup, arrivals_seed=arrivals_seed)
    return rescore(out, gates=gates, report=report, scenario=scenario,
                   warmup=warmup)


def _without(scenario: Scenario, fault: str, *, out: Path, seed: int,
             source_dir: Path | None, warmup: float, arrivals_seed: int | None) -> None:
    """The counterfactual run of ``scenario`` without ``fault``: same seed, same arrivals,
    no gates (it is a measurement, not a verdict)."""
    alt = scenario.model_copy(update={
        "faults": [f for f in scenario.faults if f.id != fault], "gates": []})
    print(f"  attributing {fault}: the same run without it", file=sys.stderr, flush=True)
    execute(alt, mode="sim", out=RunDir(out).counterfactual(fault), seed=seed,
            source_dir=source_dir, command=["squall", "run", "--attribute"],
            report=None, warmup=warmup, overwrite=True, progress=False,
            arrivals_seed=arrivals_seed)


class _Progress:
    """Says how far a long run is, on stderr, every ``every`` seconds after the first
    ``every`` (a short run says nothing)."""

    def __init__(self, name: str, every: float = 10.0) -> None:
        self.name, self.every = name, every
        self.started = self.last = time.monotonic()

    def __call__(self, done: float, total: float) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        from harness.units import format_duration

        print(f"  {self.name}: simulated {format_duration(done)} of {format_duration(total)} "
              f"({100 * done / total:.0f}%) in {now - self.started:.0f} s",
              file=sys.stderr, flush=True)


def rescore(out: Path, *, gates: Sequence[Gate] = (), report: Reporter | None = None,
            scenario: Scenario | None = None, baseline: Summary | None = None,
            warmup: float | None = None) -> Summary:
    """Judge a run directory from its records (summary.json); with ``report``, render
    its report (and each replication's) with it."""
    summary = judge_dir(out, gates=gates, scenario=scenario, baseline=baseline, warmup=warmup)
    if report is not None:
        for rep in RunDir(out).replications():
            rep_summary = _stored(rep)
            if rep_summary is not None and saved(rep_summary):
                report(rep, None)
        if saved(summary):
            report(out, summary)
    return summary


def _stored(out: Path) -> Summary | None:
    try:
        return Summary.model_validate_json(RunDir(out).summary.read_text())
    except (OSError, ValueError):
        return None


def _write_meta(out: Path, meta: dict[str, Any], **updates: Any) -> None:
    """An aggregate run's run.json (each replication writes its own)."""
    write_json(RunDir(out).run_json, RunMeta.model_validate({**meta, **updates}).to_json())


@dataclass(frozen=True)
class RunJob:
    """One replication, as a worker process receives it (it must pickle)."""

    scenario: dict[str, Any]
    base_dir: str | None
    out: str
    seed: int
    gates: tuple[str, ...]
    warmup: float
    command: str
    mode: str = "sim"


def run_job(job: RunJob) -> str:
    """Run one replication; its summary as JSON."""
    scenario = Scenario.model_validate(job.scenario, context={"base_dir": job.base_dir,
                                                              "trusted": True})
    summary = execute(scenario, mode=job.mode, out=Path(job.out), seed=job.seed,
                      source_dir=Path(job.base_dir) if job.base_dir else None,
                      gates=[parse_gate(g) for g in job.gates], command=[job.command],
                      report=None, warmup=job.warmup, progress=False)
    return summary.model_dump_json()


def execute_replications(scenario: Scenario, *, mode: str, out: Path, replications: int,
                         seed: int | None = None, workers: int | None = None,
                         source_text: str | None = None, source_dir: Path | None = None,
                         overrides: Sequence[str] = (), gates: Sequence[Gate] = (),
                         command: Sequence[str] | None = None, warmup: float = 0.0,
                         baseline: Summary | None = None, report: Reporter | None = None,
                         overwrite: bool = False, executor: Executor | None = None
                         ) -> Summary:
    """Run ``replications`` seeds of ``scenario`` in parallel into ``out/rep-NNN`` and
    aggregate them into ``out/summary.json``, each figure with a 95% interval."""
    engine_for(mode)  # an unknown or unavailable mode is refused before anything runs
    seed = scenario.seed if seed is None else seed
    _inputs(out, scenario, source_text, overwrite, source_dir)
    meta = _meta(scenario, mode, seed, overrides=overrides, source_dir=source_dir,
                 command=command)
    seeds = [seed + i for i in range(replications)]
    meta.update(replications=replications, seeds=seeds, warmup_s=warmup,
                status=RunStatus.RUNNING)
    _write_meta(out, meta)
    base_dir = str(source_dir.resolve()) if source_dir else None
    jobs = [RunJob(scenario.canonical(), base_dir, str(RunDir(out).replication(i)), s,
                   tuple(g.text for g in gates), warmup, meta["command"], str(mode))
            for i, s in enumerate(seeds)]
    started = time.perf_counter()
    reps: list[Summary] = []
    try:
        pool = executor if executor is not None else local_executor(workers, len(jobs))
        for text in pool.map(run_job, jobs):
            reps.append(Summary.model_validate_json(text))
            if len(reps) < len(jobs):
                print(f"  replication {len(reps)} of {len(jobs)} done", file=sys.stderr,
                      flush=True)
    except KeyboardInterrupt:
        _write_meta(out, meta, status=RunStatus.INTERRUPTED)
        raise
    except BaseException:
        _write_meta(out, meta, status=RunStatus.FAILED)
        raise
    _write_meta(out, meta, status=RunStatus.COMPLETE,
                elapsed_s=round(time.perf_counter() - started, 3))
    summary = aggregate_into(out, reps, [*scenario.gate_list(), *gates], baseline)
    if report is not None:
        report(out, summary)
    return summary
