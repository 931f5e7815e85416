"""Every library scenario runs end to end, and runs are reproducible to the byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from harness.execution import execute
from harness.scenario import load_scenario
from reports.render import render_report
from tests.conftest import library
from tests.harness.sim.stories import story

SUMMARY_FIELDS = {
    "scenario", "mode", "seed", "duration_s", "requests", "latency_s", "sla", "goodput_rps",
    "recovery", "cost", "resilience_score", "gates", "verdict",
}
RECORD_FILES = ("requests.parquet", "spans.parquet", "timeseries.parquet", "events.jsonl")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(path: Path, out: Path, seed: int | None = None, report: bool = False) -> dict:
    scenario = load_scenario(path)
    execute(scenario, mode="sim", out=out, seed=seed, source_dir=path.parent, command=["test"],
            report=render_report if report else None)
    return json.loads((out / "summary.json").read_text())  # type: ignore[no-any-return]


def check_summary(path: Path, summary: dict, run: Path) -> None:
    """What every library run's summary and report hold."""
    assert set(summary) >= SUMMARY_FIELDS
    assert set(summary["requests"]) >= {"total", "ok", "error", "timeout", "rejected", "dropped"}
    assert set(summary["latency_s"]) >= {"p50", "p95", "p99", "max"}
    assert set(summary["sla"]) >= {"objective_s", "attainment", "window_adherence"}
    assert set(summary["cost"]) >= {"total_usd", "llm_usd", "compute_usd",
                                    "per_good_request_usd", "wasted_usd"}
    counts = summary["requests"]
    assert counts["total"] == sum(counts[k] for k in ("ok", "error", "timeout", "rejected",
                                                      "dropped"))
    assert counts["total"] > 0
    assert 0.0 <= summary["sla"]["attainment"] <= 1.0
    assert len(summary["recovery"]) == len(load_scenario(path).faults)
    for rec in summary["recovery"]:
        assert {"fault", "kind", "start_s", "end_s", "time_to_detect_s",
                "recovery_time_s"} <= set(rec)
    assert summary["verdict"] in {"pass", "fail", "inconclusive", "aborted", "none"}
    assert (summary["verdict"] == "none") == (not summary["gates"])
    assert "<svg" in (run / "report.html").read_text()


#: The scenarios without a story; the story test runs (and checks) the others.
PLAIN = [p for p in library() if story(p) is None]


@pytest.mark.parametrize("path", PLAIN, ids=lambda p: p.stem)
def test_library_scenario_runs_and_summarises(path: Path, tmp_path: Path) -> None:
    check_summary(path, _run(path, tmp_path / "run", report=True), tmp_path / "run")


def test_the_same_seed_gives_byte_identical_records(tmp_path: Path, scenarios_dir: Path) -> None:
    path = scenarios_dir / "ecommerce-peak.yaml"
    a = _run(path, tmp_path / "a")
    b = _run(path, tmp_path / "b")
    for name in RECORD_FILES:  # digests: a failing byte comparison would diff megabytes
        assert digest(tmp_path / "a" / name) == digest(tmp_path / "b" / name), name
    assert a == b
    c = _run(path, tmp_path / "c", seed=8)
    assert digest(tmp_path / "c" / "requests.parquet") != \
        digest(tmp_path / "a" / "requests.parquet")
    assert c["seed"] == 8
