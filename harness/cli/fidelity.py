"""``squall fidelity FILE``: the scenario in both engines on the same arrivals, and each
figure's difference against its tolerance (:mod:`harness.fidelity`)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from harness.cli.live import fault_problems
from harness.cli.loading import load_scenario_args
from harness.cli.show import EXIT
from harness.errors import InputError

__all__ = ["cmd_fidelity"]


def cmd_fidelity(args: argparse.Namespace) -> int:
    from harness.compare import compare_dirs
    from harness.execution import default_out_dir, execute
    from harness.fidelity import judge_fidelity, parse_tolerance
    from harness.metrics import format_value
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
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise InputError("already holds a comparison: pass --overwrite to replace it",
                         source=str(out))
    common = {"seed": args.seed, "source_text": args.file.read_text(encoding="utf-8"),
              "source_dir": args.file.parent, "overrides": args.overrides,
              "overwrite": True}
    print(f"fidelity: {scenario.name} — simulating, then live at "
          f"{scenario.live.time_scale:g}× on the same arrivals", flush=True)
    sim = execute(scenario, mode="sim", out=out / "sim", progress=False, **common)
    live = execute(scenario, mode="live", out=out / "live",
                   options={"token": args.token or os.environ.get("SQUALL_TOKEN")}, **common)
    result = judge_fidelity(out / "sim", out / "live", sim, live,
                            step=scenario.records.step, duration=scenario.duration,
                            tolerances=tolerances)
    write_json(out / "fidelity.json", result.to_json())
    print(f"\n{'check':32} {'sim':>10} {'live':>10} {'gap':>10} {'tolerance':>12}")
    for c in result.checks:
        metric = c.name if c.name.split(".")[0] not in ("errors", "replicas") else (
            "error_rate" if c.name.startswith("errors") else "")

        def show(value: float | None, metric: str = metric) -> str:
            if value is None:
                return "-"
            return format_value(metric, value) if metric else f"{value:.3g}"

        mark = "✓" if c.passed else "✗"
        print(f"{mark} {c.name:30} {show(c.sim):>10} {show(c.live):>10} "
              f"{show(c.difference):>10} {c.tolerance!s:>12}"
              + (f"  ({c.note})" if c.note else ""))
    for doubt in result.doubts:
        print(f"doubt     {doubt}")
    failed = sum(not c.passed for c in result.checks)
    print(f"{result.verdict.value.upper()}: {len(result.checks) - failed} of "
          f"{len(result.checks)} figures within tolerance ({out / 'fidelity.json'})")
    if not args.no_report:
        from reports.render import render_compare

        comparison = compare_dirs(out / "sim", out / "live")
        report = render_compare(out / "sim", out / "live", comparison,
                                out / "fidelity.html", fidelity=result)
        print(f"report    {report}")
    return EXIT[result.verdict]
