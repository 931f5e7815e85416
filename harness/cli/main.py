"""The ``squall`` command.

Exit codes: 0 pass, 1 gates failed, 2 invalid input or usage, 3 inconclusive,
4 aborted by a stop condition, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.errors import InputError
from harness.scoring.model import Summary, Verdict

__all__ = ["EXIT", "main"]

#: Verdict → exit code.
EXIT = {Verdict.PASS: 0, Verdict.FAIL: 1, Verdict.INCONCLUSIVE: 3, Verdict.ABORTED: 4}
EXIT_INVALID = 2
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_INVALID, f"squall: error: {message}\n")


def _add_set(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override a scenario field, e.g. system.agents.orders.replicas=4 "
                        "(repeatable)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="squall", description="Chaos and load testing for multi-agent AI systems.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    v = sub.add_parser("validate", help="check a scenario file; exit 0 or 2")
    v.add_argument("file", type=Path)
    _add_set(v)

    sub.add_parser("schema", help="print the scenario JSON Schema")

    r = sub.add_parser("run", help="run a scenario and score it")
    r.add_argument("file", type=Path)
    r.add_argument("--mode", choices=["sim", "live"], default="sim")
    r.add_argument("--out", type=Path, help="run directory (default runs/NAME-TIMESTAMP)")
    r.add_argument("--seed", type=int, help="override the scenario's seed")
    r.add_argument("--gate", dest="gates", action="append", default=[], metavar="GATE",
                   help="an extra gate, e.g. 'latency.p95 < 8s' (repeatable)")
    r.add_argument("--no-report", action="store_true", help="skip report.html")
    r.add_argument("-q", "--quiet", action="store_true", help="print only the verdict line")
    _add_set(r)

    rep = sub.add_parser("report", help="re-score a run directory and render its report")
    rep.add_argument("dir", type=Path)

    d = sub.add_parser("demand", help="demand curves")
    dsub = d.add_subparsers(dest="demand_command", required=True, parser_class=_Parser)
    plot = dsub.add_parser("plot", help="plot the demand curve and the realised arrivals")
    plot.add_argument("file", type=Path)
    plot.add_argument("-o", "--output", type=Path, required=True, help="PNG file to write")
    plot.add_argument("--seed", type=int)
    plot.add_argument("--window", default="10s", help="bin width of realised arrivals")
    _add_set(plot)
    return p


def _load(path: Path, overrides: Sequence[str]):  # type: ignore[no-untyped-def]
    from harness.scenario.loader import load_scenario

    return load_scenario(path, overrides)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _cmd_validate(args: argparse.Namespace) -> int:
    from harness.units import format_duration

    scenario = _load(args.file, args.overrides)
    expected = scenario.demand.build_curve(scenario.seed).integral(0.0, scenario.duration)
    system = scenario.system
    parts = [_count(len(system.agents), "agent"), _count(len(system.endpoints), "endpoint"),
             _count(len(system.tools), "tool"), _count(len(system.workflows), "workflow"),
             _count(len(scenario.faults), "fault"), _count(len(scenario.gates), "gate")]
    print(f"ok: {scenario.name} — {', '.join(parts)}; about {expected:,.0f} arrivals over "
          f"{format_duration(scenario.duration)}")
    return 0


def _cmd_schema(_args: argparse.Namespace) -> int:
    from harness.scenario.model import Scenario

    schema = Scenario.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Squall scenario"
    print(json.dumps(schema, indent=2))
    return 0


def _print_summary(summary: Summary, out: Path, quiet: bool) -> None:
    from harness.units import format_duration

    line = f"{summary.verdict.value.upper()}: {summary.scenario} ({summary.mode}) → {out}"
    if quiet:
        print(line)
        return
    r, m = summary.requests, summary.metrics

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.2f}%"

    print(f"requests  {r.total} total · {r.ok} ok · {r.error} error · {r.timeout} timeout · "
          f"{r.rejected} rejected · {r.dropped} dropped")
    print(f"SLA       attainment {pct(summary.sla.attainment)} · windows "
          f"{pct(summary.sla.window_adherence)} · p95 {format_duration(summary.latency_s.p95)} "
          f"· p99 {format_duration(summary.latency_s.p99)}")
    for rec in summary.recovery:
        if rec.absorbed:
            how = "absorbed"
        elif rec.recovery_time_s is None:
            how = "never recovered"
        else:
            how = f"recovered in {format_duration(rec.recovery_time_s)}"
        print(f"fault     {rec.fault} ({rec.kind} {rec.target}): {how}")
    cost = summary.cost
    per = "-" if cost.per_good_request_usd is None else f"${cost.per_good_request_usd:.5f}"
    print(f"cost      ${cost.total_usd or 0:.4f} total · {per} per good request · "
          f"resilience score {m.get('resilience_score')}")
    for g in summary.gates:
        mark = {"pass": "✓", "fail": "✗"}.get(g.status.value, "?")
        print(f"gate  {mark} {g.name}  (value {g.shown()}{'; ' + g.reason if g.reason else ''})")
    print(line)


def _cmd_run(args: argparse.Namespace) -> int:
    from harness.cli.execute import default_out_dir, execute
    from harness.gates.spec import parse_gate

    gates = []
    for text in args.gates:
        try:
            gates.append(parse_gate(text))
        except ValueError as exc:
            raise InputError(str(exc), source=f"--gate {text}") from None
    scenario = _load(args.file, args.overrides)
    out = args.out or default_out_dir(scenario)
    summary = execute(
        scenario, mode=args.mode, out=out, seed=args.seed,
        source_text=args.file.read_text(encoding="utf-8"), source_dir=args.file.parent,
        overrides=args.overrides, gates=gates, write_report=not args.no_report,
    )
    _print_summary(summary, out, args.quiet)
    if not args.no_report and not args.quiet:
        print(f"report    {out / 'report.html'}")
    return EXIT[summary.verdict]


def _cmd_report(args: argparse.Namespace) -> int:
    from harness.cli.execute import rescore

    summary = rescore(args.dir)
    print(f"{summary.verdict.value.upper()}: report written to {args.dir / 'report.html'}")
    for note in summary.missing:
        print(f"note: {note}", file=sys.stderr)
    return 0


def _cmd_demand(args: argparse.Namespace) -> int:
    from harness.demand.plot import plot_demand
    from harness.units import parse_duration

    try:
        window = parse_duration(args.window)
        if window <= 0:
            raise ValueError("must be positive")
    except ValueError as exc:
        raise InputError(str(exc), source="--window") from None
    scenario = _load(args.file, args.overrides)
    counts = plot_demand(scenario, args.output, seed=args.seed, window=window)
    print(f"wrote {args.output}: {counts} arrivals")
    return 0


_COMMANDS = {
    "validate": _cmd_validate, "schema": _cmd_schema, "run": _cmd_run, "report": _cmd_report,
    "demand": _cmd_demand,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except InputError as exc:
        print(f"squall: {exc.render()}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("squall: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
