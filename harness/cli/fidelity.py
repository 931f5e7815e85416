"""``squall fidelity FILE``: the scenario in both engines on the same arrivals, and each
figure's difference against its tolerance (:mod:`harness.fidelity`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cli.live import fault_problems
from harness.cli.loading import load_scenario_args
from harness.cli.show import EXIT
from harness.errors import InputError

if TYPE_CHECKING:
    from harness.fidelity import Fidelity
    from harness.scenario.model import Scenario
    from harness.scoring.model import Summary

__all__ = ["cmd_fidelity", "with_twin"]


def with_twin(scenario: Scenario, args: argparse.Namespace) -> Scenario:
    """``scenario`` with the system model of ``args.twin`` (a calibrated scenario): the
    simulator runs the twin; demand, faults, SLA and gates stay the scenario's."""
    from harness.scenario.loader import read_document, validate_data
    from harness.scenario.yamlio import Document

    doc, twin_doc = read_document(args.file), read_document(args.twin)
    if not isinstance(twin_doc.data, dict) or "system" not in twin_doc.data:
        raise InputError("has no system section to simulate", source=str(args.twin))
    # FILE with the twin's system (its lines named in the twin's), validated where FILE is
    lines = {p: n for p, n in doc.lines.items() if p[:1] != ("system",)}
    lines.update({p: n for p, n in twin_doc.lines.items() if p[:1] == ("system",)})
    # and where the twin was fitted from (its pilot's stack), if it says
    fitted = {"calibrated": twin_doc.data["calibrated"]} if "calibrated" in twin_doc.data \
        else {}
    lines.update({p: n for p, n in twin_doc.lines.items() if p[:1] == ("calibrated",)})
    merged = Document({**doc.data, "system": twin_doc.data["system"], **fitted}, lines,
                      twin_doc.source)
    twin = validate_data(merged, args.overrides, base_dir=args.file.parent,
                         allow_paths=args.allow_paths)
    ours, theirs = scenario.system, twin.system
    problems = []
    for part in ("agents", "endpoints", "tools", "workflows"):
        mine, its = set(getattr(ours, part)), set(getattr(theirs, part))
        if mine != its:
            gone, extra = sorted(mine - its), sorted(its - mine)
            problems.append(f"its {part} differ from the scenario's"
                            + (f" (lacks {', '.join(gone)})" if gone else "")
                            + (f" (adds {', '.join(extra)})" if extra else ""))
    if problems:
        raise InputError("the twin is not a model of this scenario's system: "
                         + "; ".join(problems), source=str(args.twin))
    return scenario.model_copy(update={"system": theirs, "calibrated": twin.calibrated})


def cmd_fidelity(args: argparse.Namespace) -> int:
    from harness.compare import compare_dirs
    from harness.execution import default_out_dir
    from harness.fidelity import judge_fidelity, parse_tolerance
    from harness.records.writer import write_json

    tolerances = {}
    for text in args.tolerances:
        try:
            name, tol = parse_tolerance(text)
        except ValueError as exc:
            raise InputError(str(exc), source="--tolerance") from None
        tolerances[name] = tol
    scenario = load_scenario_args(args)
    if args.time_scale is not None:
        scenario = scenario.model_copy(update={"live": scenario.live.model_copy(
            update={"time_scale": args.time_scale})})
    try:
        scenario.simulated_faults()
    except ValueError as exc:
        raise InputError(str(exc), source="faults") from None
    problems = fault_problems(scenario, str(args.file))
    if problems:
        raise InputError(problems)
    out: Path = args.out or default_out_dir(scenario, "fidelity")
    model = with_twin(scenario, args) if args.twin is not None else scenario
    if args.rejudge:
        sim, live, replicas, time_scale = _recorded(out)
    else:
        if out.exists() and any(out.iterdir()) and not args.overwrite:
            raise InputError("already holds a comparison: pass --overwrite to replace it, "
                             "or --rejudge to judge it again", source=str(out))
        sim, live, replicas = _run_both(scenario, model, out, args)
        time_scale = scenario.live.time_scale
    result = judge_fidelity(out / "sim", out / "live", sim, live,
                            step=scenario.records.step, duration=scenario.duration,
                            tolerances=tolerances,
                            replicas=replicas if len(replicas) > 1 else (),
                            pilot=model.calibrated, time_scale=time_scale,
                            window=scenario.sla.window)
    write_json(out / "fidelity.json", {**result.to_json(), "twin": str(args.twin)
                                       if args.twin is not None else None})
    _print_checks(result, len(replicas))
    print(f"{result.verdict.value.upper()}: {_tally(result)} ({out / 'fidelity.json'})")
    if not args.no_report:
        from reports.render import render_compare

        comparison = compare_dirs(out / "sim", out / "live")
        report = render_compare(out / "sim", out / "live", comparison,
                                out / "fidelity.html", fidelity=result)
        print(f"report    {report}")
    return EXIT[result.verdict]


def _run_both(scenario: Scenario, model: Scenario, out: Path, args: argparse.Namespace
              ) -> tuple[Summary, Summary, list[tuple[Path, Summary]]]:
    """The twin (``model``) simulated and the system live on the same arrivals, and the
    twin again under ``args.replications − 1`` other seeds."""
    from harness.execution import execute

    common = {"seed": args.seed, "overrides": args.overrides, "overwrite": True}
    source = {"source_text": args.file.read_text(encoding="utf-8"),
              "source_dir": args.file.parent}
    # the twin's system, the scenario's demand: its files are beside the scenario
    model_source = source if args.twin is None else {
        "source_text": args.twin.read_text(encoding="utf-8"), "source_dir": args.file.parent}
    if args.replications > 1:
        print(f"fidelity: the twin also runs on the same arrivals under "
              f"{args.replications - 1} other seeds, for its own range of each figure",
              flush=True)
    print(f"fidelity: {scenario.name} — simulating"
          + (f" the twin {args.twin}" if args.twin is not None else "")
          + f", then live at {scenario.live.time_scale:g}× on the same arrivals", flush=True)
    sim = execute(model, mode="sim", out=out / "sim", progress=False, **common,
                  **model_source)
    live = execute(scenario, mode="live", out=out / "live",
                   options={"token": args.token or os.environ.get("SQUALL_TOKEN")}, **common,
                   **source)
    replicas = [(out / "sim", sim)]
    base_seed = scenario.seed if args.seed is None else args.seed
    for n in range(1, args.replications):
        rep = out / "twin-replications" / f"seed-{base_seed + n}"
        replicas.append((rep, execute(model, mode="sim", out=rep, progress=False,
                                      **{**common, "seed": base_seed + n},
                                      arrivals_seed=base_seed, **model_source)))
    return sim, live, replicas


def _recorded(out: Path) -> tuple[Summary, Summary, list[tuple[Path, Summary]], float]:
    """The comparison already in ``out`` (``--rejudge``), scored again from its records:
    both runs, the twin's replications, and the time scale the live run was played at."""
    from harness.judging.directory import judge_dir, scenario_of
    from harness.records.reader import read_run

    sim_dir, live_dir = out / "sim", out / "live"
    if not (sim_dir.is_dir() and live_dir.is_dir()):
        raise InputError("holds no comparison to judge again: --rejudge reads the sim/ and "
                         "live/ runs an earlier squall fidelity --out wrote there",
                         source=str(out))
    print(f"fidelity: judging {out} again from its records (nothing runs)", flush=True)
    sim, live = judge_dir(sim_dir, write_summary=False), judge_dir(live_dir, write_summary=False)
    replicas = [(sim_dir, sim)] + [
        (rep, judge_dir(rep, write_summary=False))
        for rep in sorted((out / "twin-replications").glob("seed-*")) if rep.is_dir()]
    ran = read_run(live_dir)
    time_scale = scenario_of(live_dir, ran.scenario_data, ran.meta).live.time_scale
    return sim, live, replicas, time_scale


_MARK = {"within": "✓", "unresolved": "~", "outside": "✗"}


def _tally(result: Fidelity) -> str:
    """``9 of 11 figures within tolerance, 1 unresolved (…), 1 outside``."""
    count = {s: sum(c.status == s for c in result.checks) for s in _MARK}
    parts = [f"{count['within']} of {len(result.checks)} figures within tolerance"]
    if count["unresolved"]:
        parts.append(f"{count['unresolved']} unresolved (outside it, but inside the twin's "
                     "own range: more replications or a longer run can settle it)")
    if count["outside"] and count["unresolved"]:
        parts.append(f"{count['outside']} outside both")
    return ", ".join(parts)


def _print_checks(result: Fidelity, replications: int) -> None:
    from harness.metrics import format_value

    spread = replications > 1
    print(f"\n{'check':32} {'sim':>10} {'live':>10} {'gap':>10} {'tolerance':>12}"
          + (f"  twin's range over {replications} runs" if spread else ""))
    for c in result.checks:
        metric = c.name if c.name.split(".")[0] not in ("errors", "replicas") else (
            "error_rate" if c.name.startswith("errors") else "")

        def show(value: float | None, metric: str = metric) -> str:
            if value is None:
                return "-"
            return format_value(metric, value) if metric else f"{value:.3g}"

        mark = _MARK[c.status]
        band = ""
        if c.spread is not None:
            lo, hi = c.spread
            band = (f"  {show(lo)}–{'never' if hi == float('inf') else show(hi)}"
                    f" ({'live inside' if c.within_spread else 'live outside'})")
        print(f"{mark} {c.name:30} {show(c.sim):>10} {show(c.live):>10} "
              f"{show(c.difference):>10} {c.tolerance!s:>12}" + band
              + (f"  ({c.note})" if c.note else ""))
    if result.stack is not None:
        drift = result.stack
        print(f"stack     the live stack's hops took {1000 * drift.wall(drift.check):.2f} ms "
              f"of wall time per request; {1000 * drift.wall(drift.pilot):.2f} ms in the "
              f"twin's pilot ({drift.shift_s:+.3g} s of scenario time)")
    for doubt in result.doubts:
        print(f"doubt     {doubt}")
