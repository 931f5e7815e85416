"""``squall calibrate SOURCE``: a scenario whose system model is fitted to a trace — a
run directory's spans, or OpenTelemetry traces exported as OTLP JSON
(:mod:`harness.calibrate`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.cli.show import EXIT
from harness.errors import InputError
from harness.scoring.model import Verdict

__all__ = ["HOP_NAMES", "cmd_calibrate"]

#: a hop's kind (``calibrated.stack``) → what it is, for people
HOP_NAMES = {"request": "load generator → system", "agent": "orchestrator → agent",
             "llm": "agent → LLM", "tool": "agent → tool"}


def cmd_calibrate(args: argparse.Namespace) -> int:
    from harness.calibrate.write import calibrate_otlp, calibrate_run

    source: Path = args.source
    if args.output is not None and args.output.exists() and not args.overwrite:
        raise InputError("already exists: pass --overwrite to replace it",
                         source=str(args.output))
    if source.is_dir():
        if args.mapping is not None:
            raise InputError("--mapping reads OTLP spans; a run directory's spans are "
                             "already named", source="--mapping")
        result = calibrate_run(source, base=args.scenario, overrides=args.overrides,
                               min_samples=args.min_samples, include_faults=args.include_faults)
    elif source.is_file():
        result = calibrate_otlp(source, base=args.scenario, overrides=args.overrides,
                                mapping=args.mapping, min_samples=args.min_samples)
    else:
        raise InputError("no such run directory or trace file", source=str(source))
    out = args.output or Path(f"{result.scenario.name}.calibrated.yaml")
    if out.exists() and not args.overwrite and args.output is None:
        raise InputError("already exists: pass --overwrite to replace it, or -o FILE",
                         source=str(out))
    result.write(out)
    print(f"calibrated {result.scenario.name} from {result.described}")
    print(f"\n{'distribution':48} {'n':>7} {'fit':>12} {'p50':>16} {'p95':>16} {'p99':>16}")
    for row in result.fitted:
        if row.fit is None:
            print(f"  {row.path:46} {row.n:>7,} {'(kept)':>12}")
            continue
        f = row.fit
        cells = [f"{_show(f.observed[q], row.path)}→{_show(f.fitted[q], row.path)}"
                 for q in ("p50", "p95", "p99")]
        print(f"  {row.path:46} {row.n:>7,} {f.family:>12} " + " ".join(
            f"{c:>16}" for c in cells) + (f"  worst {100 * f.worst_error:.1f}%"))
    for kind, hop in result.hops.items():
        print(f"hop       {HOP_NAMES[kind]:>24}: mean {1000 * hop.mean_s:.2f} ms, p50 "
              f"{1000 * hop.p50_s:.2f} ms, p95 {1000 * hop.p95_s:.2f} ms of wall time "
              f"({hop.n:,}, {hop.per_request:.2g} per request)")
    for note in result.notes:
        print(f"note      {note}")
    print(f"wrote     {out}")
    if args.json is not None:
        args.json.write_text(json.dumps(result.to_json(), indent=2) + "\n", encoding="utf-8")
        print(f"wrote     {args.json}")
    return EXIT[Verdict.INCONCLUSIVE] if result.partial else 0


def _show(value: float, path: str) -> str:
    if path.endswith(("tokens", "calls")):
        return f"{value:.0f}"
    return f"{1000 * value:.0f}ms" if value < 10 else f"{value:.1f}s"
