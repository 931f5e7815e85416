"""What a CI job shows: JUnit XML (one testcase per gate) and a Markdown summary.

JUnit: a passing gate is a plain testcase; a failing one has a ``<failure>``; an
inconclusive one an ``<error type="inconclusive">`` (not passed, not proven failed); a
gate that needs a baseline in a run without one is ``<skipped>``. A run that cannot pass
whatever its gates say — partial or damaged records, or no gates at all — adds one more
testcase, ``run``, with an ``<error>`` saying why, so the XML never reads greener than
the exit code.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from harness.metrics import format_value
from harness.scoring.model import GateStatus, Summary, Verdict
from harness.units import format_duration

__all__ = ["junit_xml", "markdown", "write_junit", "write_markdown"]


def _run_problem(summary: Summary) -> tuple[str, str] | None:
    """(type, message) when the run itself keeps it from passing, beyond its gates."""
    if summary.verdict is Verdict.NONE:
        return "no-gates", "the run has no gates: there is nothing to pass"
    if summary.verdict is Verdict.ABORTED:
        return "aborted", f"aborted by the stop condition {summary.stopped_by or '?'}"
    if summary.doubts:
        return "inconclusive", "; ".join(summary.doubts)
    if summary.missing:
        return "partial", "partial or damaged records: " + "; ".join(summary.missing)
    return None


def junit_xml(summary: Summary, elapsed_s: float = 0.0) -> str:
    counts = {s: sum(g.status is s for g in summary.gates) for s in GateStatus}
    problem = _run_problem(summary)
    suite = ET.Element("testsuite", {
        "name": f"squall.{summary.scenario}",
        "tests": str(len(summary.gates) + (problem is not None)),
        "failures": str(counts[GateStatus.FAIL]),
        "errors": str(counts[GateStatus.INCONCLUSIVE] + (problem is not None)),
        "skipped": str(counts[GateStatus.SKIPPED]),
        "time": f"{elapsed_s:.3f}",
    })
    props = ET.SubElement(suite, "properties")
    for name, value in (("verdict", summary.verdict.value), ("mode", summary.mode),
                        ("seed", str(summary.seed)),
                        ("replications", str(summary.replications))):
        ET.SubElement(props, "property", {"name": name, "value": value})
    for gate in summary.gates:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"squall.{summary.scenario}", "name": gate.name, "time": "0"})
        detail = (f"value {gate.shown()} against {gate.shown('threshold')}"
                  + (f"; {gate.reason}" if gate.reason else ""))
        if gate.status is GateStatus.FAIL:
            ET.SubElement(case, "failure", {"message": detail, "type": "gate"}).text = detail
        elif gate.status is GateStatus.INCONCLUSIVE:
            ET.SubElement(case, "error", {"message": detail, "type": "inconclusive"}).text = \
                detail
        elif gate.status is GateStatus.SKIPPED:
            ET.SubElement(case, "skipped", {"message": gate.reason})
        else:
            ET.SubElement(case, "system-out").text = detail
    if problem is not None:
        case = ET.SubElement(suite, "testcase", {
            "classname": f"squall.{summary.scenario}", "name": "run", "time": "0"})
        ET.SubElement(case, "error", {"message": problem[1], "type": problem[0]}).text = \
            problem[1]
    ET.indent(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode")


_MARK = {GateStatus.PASS: "✅ pass", GateStatus.FAIL: "❌ fail",
         GateStatus.INCONCLUSIVE: "⚠️ inconclusive", GateStatus.SKIPPED: "⏭️ skipped"}


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def markdown(summary: Summary, report: str | None = None) -> str:
    """A Markdown summary fit for a CI job page (GitHub's step summary, GitLab notes)."""
    s = summary
    if s.replications > 1:
        seeds = f"seeds {s.seeds[0]}–{s.seeds[-1]}" if s.seeds else f"seed {s.seed}"
        what = (f"{s.mode} run, {s.replications} replications ({seeds}), "
                f"{format_duration(s.duration_s)} each, {s.requests.total:,} arrivals in all "
                "(figures are per replication, with 95% intervals)")
    else:
        what = (f"{s.mode} run, seed {s.seed}, {format_duration(s.duration_s)}, "
                f"{s.requests.total:,} arrivals")
    verdict = "NO VERDICT (no gates)" if s.verdict is Verdict.NONE else s.verdict.value.upper()
    lines = [
        f"## Squall: {s.scenario} — **{verdict}**",
        "",
        what,
        "",
        "| attainment | p95 | p99 | worst recovery | cost / good request | resilience |",
        "|---|---|---|---|---|---|",
        f"| {_pct(s.sla.attainment)} | {format_duration(s.latency_s.p95)} | "
        f"{format_duration(s.latency_s.p99)} | "
        f"{format_value('recovery.max', s.metrics.get('recovery.max')) if s.recovery else '-'}"
        f" | {format_value('cost.per_good_request_usd', s.cost.per_good_request_usd)} | "
        f"{s.resilience_score if s.resilience_score is not None else '-'} |",
        "",
    ]
    if s.gates:
        lines += ["| gate | result | value | threshold | note |", "|---|---|---|---|---|"]
        for g in s.gates:
            lines.append(f"| `{g.name}` | {_MARK[g.status]} | {g.shown()} | "
                         f"{g.shown('threshold')} | {g.reason} |")
        lines.append("")
    if s.recovery:
        lines += ["| fault | kind | target | detected after | recovered after |",
                  "|---|---|---|---|---|"]
        for r in s.recovery:
            recovered = "absorbed" if r.absorbed else "unknown (the records end first)" \
                if r.unknown else ("**never**" if r.recovery_time_s is None
                                   else format_duration(r.recovery_time_s))
            if r.confounded_by:
                recovered += f" (confounded with {', '.join(r.confounded_by)})"
            lines.append(f"| {r.fault} | {r.kind} | {r.target} | "
                         f"{format_duration(r.time_to_detect_s)} | {recovered} |")
        lines.append("")
    if s.stopped_by:
        lines += [f"Aborted by the stop condition `{s.stopped_by}`.", ""]
    if s.doubts:
        lines += ["Cannot pass:", *[f"- {d}" for d in s.doubts], ""]
    if s.missing:
        lines += ["Scored from incomplete records:", *[f"- {m}" for m in s.missing], ""]
    if report:
        lines += [f"Report: `{report}`", ""]
    return "\n".join(lines)


def write_junit(summary: Summary, path: Path, elapsed_s: float = 0.0) -> None:
    path.write_text(junit_xml(summary, elapsed_s), encoding="utf-8")


def write_markdown(summary: Summary, path: Path, report: str | None = None) -> None:
    path.write_text(markdown(summary, report), encoding="utf-8")
