"""Counterfactual attribution: when faults' impacts overlap, the simulator re-runs the
scenario without each (same seed, same arrivals) and says what each one cost."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from harness.cli.main import main

OVERLAP = textwrap.dedent("""\
    name: overlap
    seed: 9
    duration: 3m
    system:
      agents:
        worker: {replicas: 4, concurrency: 4, service_time: {dist: exponential, mean: 100ms}}
      workflows: {only: {steps: [worker]}}
    demand: {curve: {constant: 10}}
    faults:
      - {id: harmful, kind: error, target: agent.worker, at: 60s, duration: 30s,
         probability: 40%}
      - {id: harmless, kind: latency, target: agent.worker, at: 70s, duration: 10s, add: 1ms}
    sla: {objective: 2s}
    gates: ["attainment >= 50%"]
""")


def test_overlapping_faults_are_attributed_by_counterfactual(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "overlap.yaml"
    path.write_text(OVERLAP)
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "--attribute"]) == 0
    recs = {r["fault"]: r for r in json.loads((out / "summary.json").read_text())["recovery"]}
    assert recs["harmless"]["confounded_by"] == ["harmful"]
    # Same seed, same arrivals: without the harmful fault about 40% of 30 s of requests
    # come back; without the harmless one, almost nothing changes.
    assert recs["harmful"]["attainment_loss"] == pytest.approx(0.4 * 30 / 180, abs=0.02)
    assert abs(recs["harmless"]["attainment_loss"]) < 0.005
    assert (out / "counterfactual" / "without-harmful" / "requests.parquet").exists()
    assert "without it attainment would be" in capsys.readouterr().out
    assert "without it: attainment" in (out / "report.html").read_text()
    # A re-score keeps the attribution: it is read back from the counterfactual runs.
    (out / "summary.json").unlink()
    assert main(["report", str(out)]) == 0
    again = json.loads((out / "summary.json").read_text())["recovery"]
    assert again[0]["attainment_loss"] == recs["harmful"]["attainment_loss"]


def test_attribution_needs_a_single_run(tmp_path: Path) -> None:
    path = tmp_path / "overlap.yaml"
    path.write_text(OVERLAP)
    assert main(["run", str(path), "--out", str(tmp_path / "r"), "--attribute",
                 "--replications", "2"]) == 2
