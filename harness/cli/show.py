"""What ``squall`` prints: the verdict line, a run's summary, values as a scenario
writes them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.scoring.model import Summary, Verdict

#: Verdict → exit code. A run without gates has no verdict to give: it is not a pass.
EXIT = {Verdict.PASS: 0, Verdict.FAIL: 1, Verdict.INCONCLUSIVE: 3, Verdict.NONE: 3,
        Verdict.ABORTED: 4}

__all__ = ["EXIT", "plural", "print_summary", "short_names", "shown", "verdict_line"]


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


_VERDICT_LINE = {Verdict.NONE: "NO VERDICT"}


def verdict_line(summary: Summary) -> str:
    """``PASS``, ``FAIL`` …; a run without gates says it has no verdict, and why."""
    head = _VERDICT_LINE.get(summary.verdict, summary.verdict.value.upper())
    if summary.verdict is Verdict.NONE:
        head += " (the run has no gates: add gates to the scenario or --gate)"
    elif summary.verdict is Verdict.INCONCLUSIVE and summary.doubts:
        head += f" ({summary.doubts[0]})"
    elif summary.verdict is Verdict.INCONCLUSIVE and summary.missing:
        head += " (the run is partial or damaged: see the notes)"
    elif summary.verdict is Verdict.ABORTED and summary.stopped_by:
        head += f" (stop condition: {summary.stopped_by})"
    return head


def print_summary(summary: Summary, out: Path, quiet: bool) -> None:
    from harness.units import format_duration

    line = f"{verdict_line(summary)}: {summary.scenario} ({summary.mode}) → {out}"
    if quiet:
        print(line)
        return
    r, m = summary.requests, summary.metrics
    reps = summary.replications

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.2f}%"

    over = f" over {reps} replications" if reps > 1 else ""
    print(f"requests  {r.total} total · {r.ok} ok · {r.error} error · {r.timeout} timeout · "
          f"{r.rejected} rejected · {r.dropped} dropped{over}")
    print(f"SLA       attainment {pct(summary.sla.attainment)} · windows "
          f"{pct(summary.sla.window_adherence)} · p95 {format_duration(summary.latency_s.p95)} "
          f"· p99 {format_duration(summary.latency_s.p99)}")
    for rec in summary.recovery:
        if rec.absorbed:
            how = "absorbed"
        elif rec.unknown:
            how = "recovery unknown (the records end first)"
        elif rec.recovery_time_s is None:
            how = "never recovered"
        else:
            how = f"recovered in {format_duration(rec.recovery_time_s)}"
        if rec.confounded_by:
            how += f" (confounded with {', '.join(rec.confounded_by)})"
        if rec.attainment_without is not None and rec.attainment_loss is not None:
            how += (f"; without it attainment would be {pct(rec.attainment_without)} "
                    f"({100 * rec.attainment_loss:+.2f} pts)")
        print(f"fault     {rec.fault} ({rec.kind} {rec.target}): {how}")
    cost = summary.cost
    per = "-" if cost.per_good_request_usd is None else f"${cost.per_good_request_usd:.5f}"
    each = " per replication (mean)" if reps > 1 else " total"
    print(f"cost      ${cost.total_usd or 0:.4f}{each} · {per} per good request · "
          f"resilience score {m.get('resilience_score')}")
    for g in summary.gates:
        mark = {"pass": "✓", "fail": "✗"}.get(g.status.value, "?")
        print(f"gate  {mark} {g.name}  (value {g.shown()}{'; ' + g.reason if g.reason else ''})")
    gen = summary.generator
    if gen is not None and gen.get("send_lag_p99_s") is not None:
        print(f"driver    sent {gen.get('sent', 0)} · send lag p50 "
              f"{1000 * gen['send_lag_p50_s']:.1f} ms · p99 {1000 * gen['send_lag_p99_s']:.1f} ms"
              f" (limit {1000 * gen.get('threshold_s', 0):.0f} ms)"
              + (f" · cpu peak {100 * gen['cpu_peak']:.0f}%" if gen.get("cpu_peak") else ""))
    for note in [*summary.doubts, *summary.missing]:
        print(f"note      {note}")
    print(line)


def shown(value: Any) -> str:
    """A configuration value as a scenario would write it: ``{constant: 5}``, ``4``."""
    if value is None:
        return "(absent)"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {shown(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(shown(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def short_names(paths: Sequence[str]) -> list[str]:
    """The shortest trailing part of each dotted path that tells it from the others
    (``replicas.max`` beside ``recovery.max``, not two columns named ``max``)."""
    out = []
    for path in paths:
        parts = path.split(".")
        for k in range(1, len(parts) + 1):
            name = ".".join(parts[-k:])
            if sum(p == name or p.endswith("." + name) for p in paths) == 1:
                break
        out.append(name)
    return out
