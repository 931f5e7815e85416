"""A calibration from start to end: read the trace, fit the model, write the scenario.

The calibrated scenario is the one the trace was taken with (or the one given with
``--scenario``) with its system's distributions refitted; it is written as YAML with a
header saying where each fit came from and how close it is. Files it names (demand
traces, payload samples) are copied beside it, so it loads from where it is written.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from harness.calibrate.model import MIN_SAMPLES, Fitted, calibrate_system
from harness.calibrate.observe import COLUMNS, cold_starts, fault_windows, observe
from harness.calibrate.stack import stack
from harness.errors import InputError
from harness.scenario.files import repoint_files
from harness.scenario.model import Calibrated, Scenario, StackHop
from harness.scenario.system import System

__all__ = ["Calibration", "calibrate_otlp", "calibrate_run"]


@dataclass
class Calibration:
    scenario: Scenario  #: the calibrated scenario
    fitted: list[Fitted]
    described: str  #: where the observations came from, for people
    notes: list[str] = field(default_factory=list)
    partial: bool = False  #: the source run did not finish: the fit may be off
    files_from: Path | None = None  #: where relative file names in the scenario point

    @property
    def hops(self) -> dict[str, StackHop]:
        """The live stack's overhead per hop, as the twin records it."""
        fitted = self.scenario.calibrated
        return {} if fitted is None else fitted.stack

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario.name, "source": self.described,
                "partial": self.partial, "notes": self.notes,
                "hops": {k: h.model_dump() for k, h in self.hops.items()},
                "fitted": [f.to_json() for f in self.fitted]}

    def write(self, out: Path) -> None:
        data = _compact(self.scenario)
        _bring_files(data, self.files_from, out)
        head = [f"Calibrated by `squall calibrate` from {self.described}",
                f"on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Fits (observed → fitted p95):"]
        same = 0
        for f in self.fitted:
            if f.fit is None:
                head.append(f"  {f.path}: {f.note}")
            elif f.fit.dist == f.before:
                same += 1
            else:
                head.append(f"  {f.path}: {f.fit.family} from {f.n:,}, p95 "
                            f"{f.fit.observed['p95']:.4g} → {f.fit.fitted['p95']:.4g} "
                            f"(worst quantile {100 * f.fit.worst_error:.1f}% off)")
        if same:
            head.append(f"  {same} more observed as written (the same distribution)")
        head += self.notes
        text = "".join(f"# {line}\n".replace("# \n", "#\n") for line in head)
        body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100,
                              default_flow_style=None)  # a list of numbers on few lines
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text + "\n" + body, encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot write the calibrated scenario: {exc.strerror}",
                             source=str(out)) from None


def _compact(scenario: Scenario) -> dict[str, Any]:
    """The scenario without what goes without saying (no value; a distribution's floor
    at zero), unless leaving it out would change what it means — then in full."""
    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items()
                    if not ("dist" in node and k == "min" and v == 0.0)}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    short = scenario.model_dump(mode="json", by_alias=True, exclude_none=True)
    shortest = scenario.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    full = scenario.canonical()
    if scenario.calibrated is not None:  # provenance: not in the digest, but in the file
        full["calibrated"] = scenario.calibrated.model_dump(mode="json")
    if isinstance(shortest.get("faults"), list):  # a fault's kind is its tag: keep it
        shortest["faults"] = [{"kind": f["kind"], **s} for s, f in
                              zip(shortest["faults"], full["faults"], strict=True)]
    target = full.get("target")
    if isinstance(target, dict) and isinstance(shortest.get("target"), dict):
        shortest["target"] = {"kind": target.get("kind"), **shortest["target"]}
    for data in (shortest, strip(short), short):
        try:
            if Scenario.model_validate(data, context={"trusted": True}).digest() \
                    == scenario.digest():
                return data
        except ValueError:
            continue
    return full


def _bring_files(data: Any, base: Path | None, out: Path) -> None:
    """Copy the files ``data`` names (``trace.file``, ``target.payloads``) to
    ``OUT.files/`` and point at the copies."""
    folder = out.parent / f"{out.stem}.files"

    def bring(_kind: str, name: str) -> str:
        source = Path(name) if Path(name).is_absolute() else (base or Path(".")) / name
        if not source.is_file():
            return name
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, folder / source.name)
        return f"{folder.name}/{source.name}"

    repoint_files(data, bring)


def _base(base: Path | None, overrides: Sequence[str]) -> Scenario | None:
    if base is None:
        if overrides:
            raise InputError("--set changes the scenario given with --scenario", source="--set")
        return None
    from harness.scenario.loader import load_scenario

    return load_scenario(base, overrides)


def calibrate_run(directory: Path, *, base: Path | None = None, overrides: Sequence[str] = (),
                  min_samples: int = MIN_SAMPLES, include_faults: bool = False) -> Calibration:
    """Calibrate from a run directory's spans (a live run's, usually)."""
    from harness.judging.directory import scenario_of
    from harness.records.reader import read_run

    data = read_run(directory)
    given = _base(base, overrides)
    ran = scenario_of(directory, data.scenario_data, data.meta)
    scenario = given or ran
    try:
        spans = data.load_spans()
    except ValueError as exc:
        raise InputError(f"spans.parquet {exc}", source=str(directory)) from None
    if spans is None or spans.empty:
        raise InputError("the run recorded no spans (records: {spans: false}?): nothing to "
                         "calibrate from", source=str(directory))
    missing = [c for c in COLUMNS if c not in spans]
    if missing:
        raise InputError(f"the spans lack {', '.join(missing)}", source=str(directory))
    windows = [] if include_faults else fault_windows(data.events)
    obs = observe(spans, windows, data.requests)
    obs.cold_start = cold_starts(data.events, windows)
    system, fitted = calibrate_system(scenario.system, obs, min_samples=min_samples,
                                      seed=data.meta.seed or 0)
    k = ran.live.time_scale if data.meta.mode == "live" else 1.0
    notes = []
    if obs.excluded:
        notes.append(f"{obs.excluded:,} of {obs.spans:,} spans overlap a fault and were left "
                     "out (--include-faults keeps them)")
    for agent, (took, meant) in sorted(obs.cold_start.items()):
        excess = took - meant
        notes.append(f"cold start of {agent}: {len(took)} replica starts took "
                     f"{np.median(excess):.3g} s (p50) and {np.percentile(excess, 95):.3g} s "
                     "(p95) more than their drawn cold start")
    if data.meta.mode == "live" and k != 1:
        notes.append(f"fitted at time scale {k:g}: the live stack's overhead per hop is {k:g}× "
                     "longer in scenario time than in wall time, and is in these fits — compare "
                     f"at the same scale (squall fidelity --time-scale {k:g})")
    if data.meta.mode == "sim":
        notes.append("these spans are simulated: the fits reproduce the model, not a system")
    partial = not data.complete
    if partial:
        notes.append("the run is partial or damaged: fitted from what it recorded")
    where = f"{data.meta.mode} run {directory} ({obs.spans:,} spans)"
    files_from = base.parent if base is not None else directory
    hops = stack(obs, k) if data.meta.mode == "live" else {}  # the simulator has no stack
    return Calibration(_twin(scenario, system, where, k, hops), fitted, where, notes,
                       partial, files_from)


def _twin(scenario: Scenario, system: System, where: str, k: float,
          hops: dict[str, StackHop]) -> Scenario:
    return scenario.model_copy(update={"system": system, "calibrated": Calibrated(
        source=where, time_scale=k, stack=hops)})


def calibrate_otlp(path: Path, *, base: Path | None = None, overrides: Sequence[str] = (),
                   mapping: Path | None = None, min_samples: int = MIN_SAMPLES) -> Calibration:
    """Calibrate from OpenTelemetry traces (OTLP JSON): a twin of one's own system."""
    from harness.calibrate.otlp import read_otlp, starter_scenario

    given = _base(base, overrides)
    trace = read_otlp(path, mapping)
    scenario = given or starter_scenario(trace)
    missing = trace.missing_from(scenario.system)
    if missing:
        raise InputError("the traces name components the scenario does not have: "
                         + "; ".join(missing), source=str(base))
    obs = observe(trace.spans)
    system, fitted = calibrate_system(scenario.system, obs, min_samples=min_samples)
    notes = list(trace.notes)
    if given is None:
        notes.append("the system's structure, demand and SLA were read from the traces: "
                     "check the workflows, and set sla.objective to your own")
    where = f"OTLP traces {path} ({len(trace.spans):,} spans in {trace.traces:,} traces)"
    hops = stack(obs, 1.0)
    return Calibration(_twin(scenario, system, where, 1.0, hops), fitted, where, notes,
                       False, base.parent if base is not None else path.parent)
