"""A long run's report is no bigger than a short one's: charts are binned, tables capped."""

from __future__ import annotations

import textwrap
from pathlib import Path

from harness.cli.main import main
from harness.records.reader import read_run
from harness.scenario.loader import load_scenario
from harness.scoring.model import Summary
from reports.data import MAX_BINS, TOP_ERRORS, collect

DAY = textwrap.dedent("""\
    name: day
    seed: 5
    duration: {duration}
    system:
      agents:
        worker: {{replicas: 2, service_time: {{dist: exponential, mean: 500ms}}}}
      workflows: {{only: {{steps: [worker]}}}}
    demand: {{curve: {{constant: 0.3}}}}
    faults:
      - {{id: flaky, kind: error, target: agent.worker, at: 30m, duration: 20m,
          probability: 30%}}
    sla: {{objective: 2s}}
    gates: ["attainment >= 50%"]
""")


def _run(tmp_path: Path, duration: str) -> Path:
    scenario = tmp_path / f"{duration}.yaml"
    scenario.write_text(DAY.format(duration=duration))
    out = tmp_path / duration
    assert main(["run", str(scenario), "--out", str(out), "-q"]) == 0
    return out


def test_report_size_does_not_grow_with_the_run(tmp_path: Path) -> None:
    hour, day = _run(tmp_path, "1h"), _run(tmp_path, "24h")
    run = read_run(day)
    data = collect(run, load_scenario(day / "scenario.yaml"),
                   Summary.model_validate_json((day / "summary.json").read_text()))
    assert len(data.x) <= MAX_BINS
    assert all(len(v) == len(data.x) for v in data.traffic.values())
    assert 0 < len(data.errors) <= TOP_ERRORS
    assert len(run.requests) > 20 * 1000
    hour_size = (hour / "report.html").stat().st_size
    day_size = (day / "report.html").stat().st_size
    assert day_size < 1.5 * hour_size, (hour_size, day_size)
