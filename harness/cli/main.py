"""The ``squall`` command.

Exit codes: 0 pass, 1 gates failed, 2 invalid input or usage, 3 inconclusive or no verdict,
4 aborted by a stop condition, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from harness.cli.args import EXIT_INVALID, parser
from harness.cli.calibrate import cmd_calibrate
from harness.cli.fidelity import cmd_fidelity
from harness.cli.live import check_modes, engine_options, live_options, preflight
from harness.cli.loading import limits, load_scenario_args
from harness.cli.show import EXIT, plural, print_summary, short_names, shown, verdict_line
from harness.cli.systems import cmd_chaos, cmd_mock_llm, cmd_proxy, cmd_reference, cmd_worker
from harness.errors import InputError
from harness.scoring.model import Summary, Verdict

if TYPE_CHECKING:
    from harness.gates.spec import Gate
    from harness.scenario.model import Scenario

T = TypeVar("T")

__all__ = ["EXIT", "main"]

EXIT_NO_VERDICT = 3
EXIT_INTERRUPTED = 130
MAX_PLOT_BINS = 100_000


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where SIGINT would be, so a terminated run cleans up the same way."""


def _on_sigterm(_signum: int, _frame: object) -> None:
    raise Terminated


def _cmd_validate(args: argparse.Namespace) -> int:
    from harness.limits import estimate
    from harness.units import format_duration

    scenario = load_scenario_args(args)
    expected = scenario.demand.build_curve(scenario.seed).integral(0.0, scenario.duration)
    system = scenario.system
    parts = [plural(len(system.agents), "agent"), plural(len(system.endpoints), "endpoint"),
             plural(len(system.tools), "tool"), plural(len(system.workflows), "workflow"),
             plural(len(scenario.faults), "fault"), plural(len(scenario.gates), "gate")]
    print(f"ok: {scenario.name} — {', '.join(parts)}; about {expected:,.0f} arrivals over "
          f"{format_duration(scenario.duration)}")
    work = estimate(scenario)
    print(f"work: up to {work['replicas']:,.0f} replicas, {work['samples']:,.0f} timeseries "
          f"rows (limits: squall run --limit NAME=N raises them)")
    check_modes(scenario, source=str(args.file))
    return 0


def _cmd_schema(_args: argparse.Namespace) -> int:
    from harness.scenario.model import Scenario

    schema = Scenario.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Squall scenario"
    print(json.dumps(schema, indent=2))
    return 0


def _parsed(texts: Sequence[str], parse: Callable[[str], T], flag: str) -> list[T]:
    """Each argument of a repeatable option, parsed; a bad one is an input error."""
    out = []
    for text in texts:
        try:
            out.append(parse(text))
        except ValueError as exc:
            raise InputError(str(exc), source=f"{flag} {text}") from None
    return out


def _gates(args: argparse.Namespace, scenario: Scenario | None = None) -> list[Gate]:
    """The ``--gate`` options, parsed and, given the scenario, checked against it (a
    fault, phase or workflow it does not have) before anything runs."""
    from harness.gates.spec import parse_gate
    from harness.judging.directory import check_gates

    gates = _parsed(args.gates, parse_gate, "--gate")
    if scenario is not None:
        check_gates(scenario, gates)
    return gates


def _ci_outputs(args: argparse.Namespace, summary: Summary, report: Path | None) -> None:
    from harness.judging.outputs import write_junit, write_markdown

    try:
        if args.junit:
            write_junit(summary, args.junit)
        if args.md:
            write_markdown(summary, args.md, str(report) if report else None)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", source=str(exc.filename)) from None


def _cmd_run(args: argparse.Namespace) -> int:
    from harness.api import render
    from harness.execution import default_out_dir, execute, execute_replications
    from harness.units import format_duration

    _gates(args)  # a malformed gate is reported before the scenario is even read
    scenario = load_scenario_args(args)
    gates = _gates(args, scenario)
    if args.warmup >= scenario.duration:
        raise InputError(f"{format_duration(args.warmup)} is not shorter than the run "
                         f"({format_duration(scenario.duration)}): nothing would be scored",
                         source="--warmup")
    scenario = live_options(args, scenario)
    preflight(args, scenario)
    out = args.out or default_out_dir(scenario)
    common: dict[str, Any] = {
        "mode": args.mode, "out": out, "seed": args.seed,
        "source_text": args.file.read_text(encoding="utf-8"), "source_dir": args.file.parent,
        "overrides": args.overrides, "gates": gates, "warmup": args.warmup,
        "overwrite": args.overwrite,
    }
    if args.attribute and args.replications > 1:
        raise InputError("counterfactual attribution runs on a single run: drop "
                         "--replications, or --attribute", source="--attribute")
    try:
        if args.replications > 1:
            from harness.parallel import executor_for

            pool = executor_for(args.workers, args.replications, args.cluster)
            try:
                summary = execute_replications(scenario, replications=args.replications,
                                               workers=args.workers, executor=pool,
                                               report=None if args.no_report else render, **common)
            finally:
                pool.close()
        else:
            summary = execute(scenario, report=None if args.no_report else render,
                              attribute=args.attribute, options=engine_options(args),
                              **common)
    except KeyboardInterrupt:
        if (out / "run.json").exists():
            print(f"squall: the partial run is in {out}: `squall report {out}` scores what "
                  "it recorded (a partial run never passes)",
                  file=sys.stderr)
        raise
    report = None if args.no_report else out / "report.html"
    print_summary(summary, out, args.quiet)
    if report is not None and not args.quiet:
        print(f"report    {report}")
    _ci_outputs(args, summary, report)
    return EXIT[summary.verdict]


def _cmd_report(args: argparse.Namespace) -> int:
    from harness.api import render
    from harness.execution import rescore
    from harness.judging.directory import saved

    summary = rescore(args.dir, gates=_gates(args), report=render)
    if saved(summary):
        print(f"{verdict_line(summary)}: report written to {args.dir / 'report.html'}")
    else:
        print(f"{verdict_line(summary)}: summary.json and report.html kept as they were")
    for note in summary.missing:
        print(f"note: {note}", file=sys.stderr)
    _ci_outputs(args, summary, args.dir / "report.html")
    return EXIT[summary.verdict]


def _cmd_compare(args: argparse.Namespace) -> int:
    from harness.compare import compare_dirs
    from harness.metrics import format_value
    from harness.records.writer import write_json

    result = compare_dirs(args.base, args.candidate, gates=_gates(args), alpha=args.alpha,
                          allow_different=args.allow_different)
    print(f"baseline  {args.base} ({result.base.mode}, {result.base.replications} run(s))")
    print(f"candidate {args.candidate} ({result.candidate.mode}, "
          f"{result.candidate.replications} run(s))")
    for path, old, new in result.changes:
        print(f"changed   {path}: {shown(old)} → {shown(new)}")
    for note in result.notes:
        print(f"note      {note}")
    print(f"\n{'metric':28} {'baseline':>12} {'candidate':>12} {'change':>9}  p")
    for d in result.deltas:
        if d.base is None and d.candidate is None:
            continue
        rel = "-" if d.relative is None else f"{100 * d.relative:+.1f}%"
        mark = ""
        if d.better is not None and d.significant(args.alpha) is not False:
            mark = " better" if d.better else " worse"
        p = "-" if d.p_value is None else f"{d.p_value:.3f}"
        print(f"{d.metric:28} {format_value(d.metric, d.base):>12} "
              f"{format_value(d.metric, d.candidate):>12} {rel:>9}  {p}{mark}")
    for g in result.gates:
        mark = {"pass": "✓", "fail": "✗"}.get(g.status.value, "?")
        print(f"gate  {mark} {g.name}  (value {g.shown()}, threshold {g.shown('threshold')}"
              f"{'; ' + g.reason if g.reason else ''})")
    print(f"{result.verdict.value.upper()}: {args.candidate} against {args.base}")
    if args.out:
        write_json(args.out, result.to_json())
    report = None
    if not args.no_report:
        from reports.render import render_compare

        report = render_compare(args.base, args.candidate, result,
                                args.report or args.candidate / "compare.html")
        print(f"report    {report}")
    _ci_outputs(args, result.candidate, report)
    return EXIT[result.verdict]


def _cmd_sweep(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from harness.cli.grid import count, parse_param
    from harness.limits import check_count
    from harness.parallel import executor_for

    params = _parsed(args.params, parse_param, "--param")
    total = count(params, args.samples)
    check_count("points", total, limits(args), source="--param")
    # Workers start importing the simulator now (or the cluster is reached), while this
    # process loads and validates: an unreachable cluster stops everything before it runs.
    executor = executor_for(args.workers, total, args.cluster)

    from harness.cli.sweep import run_sweep
    from harness.metrics import format_value

    scenario = load_scenario_args(args)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = args.out or Path("runs") / f"{scenario.name}-sweep-{stamp}"
    print(f"sweeping {total} point(s) of {scenario.name} → {out}", flush=True)

    def progress(done: int, of: int) -> None:
        print(f"  point {done}/{of} done", file=sys.stderr, flush=True)

    try:
        result = run_sweep(args.file, params, out=out, samples=args.samples, seed=args.seed,
                           overrides=args.overrides, executor=executor,
                           allow_paths=args.allow_paths, limits=limits(args),
                           overwrite=args.overwrite, progress=progress)
    finally:
        executor.close()
    names = [p.path for p in params]
    shown = ["attainment", "latency.p95", "recovery.max", "cost.total_usd"]
    headers = short_names([*names, *shown])
    width = max(10, *(len(h) for h in headers))
    print("point  " + "".join(f"{h:>{width + 2}}" for h in headers) + "  verdict")
    for _, row in result.table.iterrows():
        cells = [str(row[n]) for n in names] + [format_value(c, row[c]) for c in shown]
        print(f"{int(row['point']):>5}  " + "".join(f"{c:>{width + 2}}" for c in cells)
              + f"  {row['verdict']}")

    def point(row: Any) -> str:
        return ", ".join(f"{n}={row[n]}" for n in names)

    print("frontier (no other point is both cheaper and better on attainment):")
    for _, row in result.frontier.iterrows():
        print(f"  point {int(row['point'])}: {point(row)} — "
              f"{format_value('attainment', row['attainment'])} attainment, "
              f"{format_value('cost.total_usd', row['cost.total_usd'])}")
    print(f"report    {out / 'sweep.html'}")
    print(f"results   {out / 'sweep.csv'}")
    verdicts = set(result.table["verdict"])
    if verdicts <= {Verdict.NONE.value}:
        print("NO VERDICT: the scenario has no gates, so no point can pass; add gates")
        return EXIT[Verdict.NONE]
    if result.best is None:
        print("FAIL: no configuration passes every gate")
        return EXIT[Verdict.FAIL]
    print(f"cheapest passing: {point(result.best)} "
          f"(${result.best['cost.total_usd']:.4f})")
    return 0


def _cmd_demand(args: argparse.Namespace) -> int:
    from harness.units import parse_duration
    from reports.demand_plot import plot_demand

    try:
        window = parse_duration(args.window)
        if window <= 0:
            raise ValueError("must be positive")
    except ValueError as exc:
        raise InputError(str(exc), source="--window") from None
    scenario = load_scenario_args(args)
    if scenario.duration / window > MAX_PLOT_BINS:
        raise InputError(f"{scenario.duration / window:,.0f} bars: a plot takes at most "
                         f"{MAX_PLOT_BINS:,}; use a wider --window", source="--window")
    counts = plot_demand(scenario, args.output, seed=args.seed, window=window)
    print(f"wrote {args.output}: {counts} arrivals")
    return 0


_COMMANDS = {
    "validate": _cmd_validate, "schema": _cmd_schema, "run": _cmd_run, "report": _cmd_report,
    "compare": _cmd_compare, "sweep": _cmd_sweep, "demand": _cmd_demand,
    "reference": cmd_reference, "worker": cmd_worker, "proxy": cmd_proxy,
    "mock-llm": cmd_mock_llm,
    "chaos": cmd_chaos,
    "fidelity": cmd_fidelity,
    "calibrate": cmd_calibrate,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    previous = _install_sigterm()
    try:
        return _COMMANDS[args.command](args)
    except InputError as exc:
        print(f"squall: {exc.render()}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt as exc:
        what = "terminated" if isinstance(exc, Terminated) else "interrupted"
        print(f"squall: {what}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0
    except OSError as exc:  # the file system said no: name the file, never a traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"squall: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_INVALID
    except MemoryError:
        print("squall: out of memory: the work is too large for this machine "
              "(see `squall validate` for its size)", file=sys.stderr)
        return EXIT_NO_VERDICT
    except Exception as exc:  # a bug: never let it pass for a failed gate (exit 1)
        print(f"squall: internal error: {type(exc).__name__}: {exc}\n"
              "squall: this is a bug in Squall; no verdict was reached (set "
              "SQUALL_DEBUG=1 for the traceback)", file=sys.stderr)
        if os.environ.get("SQUALL_DEBUG"):
            traceback.print_exc()
        return EXIT_NO_VERDICT
    finally:
        _restore_sigterm(previous)


def _install_sigterm() -> Any:
    """SIGTERM stops a command the way Ctrl-C does (in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _on_sigterm)


def _restore_sigterm(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
