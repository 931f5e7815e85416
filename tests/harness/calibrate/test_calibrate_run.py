"""``squall calibrate RUN_DIR``: the system model refitted to a run's spans.

The simulator's spans are exact (no hops, no clock noise), so calibrating from a
simulated run must give back the distributions the scenario was written with — and a
twin simulated from the calibrated scenario must score like the original.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.calibrate.observe import cold_starts, fault_windows, observe
from harness.records.reader import read_run
from harness.scenario.loader import load_scenario

SCENARIO = """
name: cal
seed: 4
duration: 20m
system:
  endpoints:
    big: {ttft: {dist: lognormal, median: 400ms, p95: 1200ms}, per_token: 8ms,
          concurrency: 64}
  tools:
    db: {latency: {dist: gamma, mean: 50ms, cv: 0.5}}
  agents:
    planner:
      replicas: 4
      concurrency: 8
      service_time: {dist: lognormal, median: 30ms, p95: 90ms}
      llm: {endpoint: big, input_tokens: 900,
            output_tokens: {dist: uniform, low: 40, high: 300}}
      tools: [{tool: db, calls: 2}]
  workflows: {only: {steps: [planner]}}
demand: {curve: {constant: 4}}
faults:
  - {id: slow-db, kind: latency, target: tool.db, at: 8m, duration: 4m, add: 2s}
sla: {objective: 10s}
"""


def squall(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli.main", *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("cal")
    path = tmp / "cal.yaml"
    path.write_text(SCENARIO)
    out = tmp / "run"
    done = squall("run", str(path), "--out", str(out), "--no-report", "-q")
    assert done.returncode in (0, 3), done.stderr
    return path, out


def _q(dist: object, qs: tuple[float, ...] = (0.5, 0.95)) -> np.ndarray:
    return np.quantile(dist.sample(np.random.default_rng(9), 100_000), qs)  # type: ignore[attr-defined]


def test_what_the_spans_say_about_each_component(simulated: tuple[Path, Path]) -> None:
    _path, out = simulated
    run = read_run(out)
    spans = run.load_spans()
    assert spans is not None
    windows = fault_windows(run.events)
    assert windows == [(480.0, 720.0)]
    obs = observe(spans, windows)
    assert obs.excluded > 0
    # the fault's 2 s are left out: the tool looks like itself
    assert obs.tool["db"].max() < 2.0
    assert set(obs.calls) == {("planner", "llm", "big"), ("planner", "tool", "db")}
    assert set(obs.calls[("planner", "tool", "db")]) == {2.0}
    assert obs.hops == {}  # the simulator has no hops: hop_s is null


def test_a_simulated_run_calibrates_back_to_its_own_model(simulated: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    path, out = simulated
    twin_path = tmp_path / "twin.yaml"
    report = tmp_path / "fits.json"
    done = squall("calibrate", str(out), "-o", str(twin_path), "--json", str(report))
    assert done.returncode == 0, done.stderr
    assert "left out" in done.stdout
    assert "simulated" in done.stdout
    written = load_scenario(path).system
    twin = load_scenario(twin_path).system
    for got, want in [(twin.agents["planner"].service_time, written.agents["planner"].service_time),
                      (twin.tools["db"].latency, written.tools["db"].latency),
                      (twin.endpoints["big"].ttft, written.endpoints["big"].ttft)]:
        assert _q(got) == pytest.approx(_q(want), rel=0.06)
    # output tokens vary: per_token is the slope of time on tokens, found again
    assert twin.endpoints["big"].per_token.mean_value() == pytest.approx(0.008, rel=0.02)
    call = twin.agents["planner"].llm[0]
    assert call.input_tokens.mean_value() == 900
    assert _q(call.output_tokens, (0.0,))[0] >= 40
    assert _q(call.output_tokens, (1.0,))[0] <= 300
    assert twin.agents["planner"].tools[0].calls.mean_value() == 2
    assert twin.request_overhead.mean_value() == 0  # a simulated request has none
    # where it came from, and no stack: the simulator has none to measure
    fitted_from = load_scenario(twin_path).calibrated
    assert fitted_from is not None
    assert fitted_from.source.startswith(f"sim run {out}")
    assert (fitted_from.time_scale, fitted_from.stack) == (1.0, {})
    fits = json.loads(report.read_text())
    assert {f["path"] for f in fits["fitted"]} >= {
        "system.agents.planner.service_time", "system.tools.db.latency",
        "system.endpoints.big.ttft"}
    assert all(f["worst_quantile_error"] < 0.2 for f in fits["fitted"] if "family" in f)


def test_the_twin_scores_like_the_run_it_was_fitted_to(simulated: tuple[Path, Path],
                                                        tmp_path: Path) -> None:
    _path, out = simulated
    twin_path = tmp_path / "twin.yaml"
    assert squall("calibrate", str(out), "-o", str(twin_path)).returncode == 0
    again = tmp_path / "again"
    done = squall("run", str(twin_path), "--out", str(again), "--no-report", "-q")
    assert done.returncode in (0, 3), done.stderr
    first = json.loads((out / "summary.json").read_text())
    second = json.loads((again / "summary.json").read_text())
    assert second["latency_s"]["p95"] == pytest.approx(first["latency_s"]["p95"], rel=0.05)
    assert second["cost"]["total_usd"] == pytest.approx(first["cost"]["total_usd"], rel=0.03)


def test_bad_sources_exit_2_naming_what_is_wrong(simulated: tuple[Path, Path],
                                                 tmp_path: Path) -> None:
    path, out = simulated
    done = squall("calibrate", str(tmp_path / "nowhere"))
    assert done.returncode == 2
    assert "no such run directory or trace file" in done.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    assert squall("calibrate", str(empty)).returncode == 2
    twin = tmp_path / "twin.yaml"
    twin.write_text("keep me")
    done = squall("calibrate", str(out), "-o", str(twin))
    assert done.returncode == 2
    assert "--overwrite" in done.stderr
    assert twin.read_text() == "keep me"
    done = squall("calibrate", str(out), "-o", str(tmp_path / "t.yaml"),
                  "--set", "system.agents.planner.replicas=2")
    assert done.returncode == 2
    assert "--scenario" in done.stderr
    done = squall("calibrate", str(out), "-o", str(tmp_path / "t.yaml"), "--mapping", str(path))
    assert done.returncode == 2
    assert "--mapping" in done.stderr
    no_spans = tmp_path / "no-spans.yaml"
    no_spans.write_text(SCENARIO + "records: {spans: false}\n")
    run = tmp_path / "run-no-spans"
    assert squall("run", str(no_spans), "--out", str(run), "--no-report", "-q").returncode \
        in (0, 3)
    done = squall("calibrate", str(run), "-o", str(tmp_path / "t.yaml"))
    assert done.returncode == 2
    assert "no spans" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_partial_run_calibrates_but_is_inconclusive(simulated: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    _path, out = simulated
    import shutil

    partial = tmp_path / "partial"
    shutil.copytree(out, partial)
    meta = json.loads((partial / "run.json").read_text())
    meta["status"] = "running"  # as a killed run leaves it
    (partial / "run.json").write_text(json.dumps(meta))
    done = squall("calibrate", str(partial), "-o", str(tmp_path / "t.yaml"))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "partial" in done.stdout
    assert (tmp_path / "t.yaml").exists()


def test_calls_routed_to_a_low_priority_model_are_still_the_agents_calls(
        tmp_path: Path) -> None:
    """Routine requests send triage's LLM call to the compact model: per invocation it
    still makes one call (counting only the written endpoint's would give 0.2)."""
    path = tmp_path / "triage.yaml"
    path.write_text("""
name: triage
seed: 2
duration: 10m
system:
  endpoints:
    big: {ttft: 600ms, per_token: 10ms, price: {input_per_token: 3.0e-6}}
    small: {ttft: 150ms, per_token: 4ms, price: {input_per_token: 1.5e-7}}
  agents:
    triage: {replicas: 3, concurrency: 16, llm: {endpoint: big, input_tokens: 1800},
             low_priority: {endpoint: small}}
  workflows:
    urgent: {weight: 0.2, priority: high, steps: [triage]}
    routine: {weight: 0.8, priority: low, steps: [triage]}
demand: {curve: {constant: 2}}
sla: {objective: 15s}
""")
    out, twin = tmp_path / "run", tmp_path / "twin.yaml"
    assert squall("run", str(path), "--out", str(out), "--no-report", "-q").returncode == 3
    done = squall("calibrate", str(out), "-o", str(twin))
    assert done.returncode == 0, done.stderr
    call = load_scenario(twin).system.agents["triage"].llm[0]
    assert call.calls.mean_value() == 1
    again = tmp_path / "again"
    assert squall("run", str(twin), "--out", str(again), "--no-report", "-q").returncode == 3
    first = json.loads((out / "summary.json").read_text())["cost"]["total_usd"]
    second = json.loads((again / "summary.json").read_text())["cost"]["total_usd"]
    assert second == pytest.approx(first, rel=0.01)


def test_the_simulator_spends_the_request_overhead_before_the_first_step(
        tmp_path: Path) -> None:
    path = tmp_path / "o.yaml"
    path.write_text("""
name: overhead
duration: 2m
system:
  agents: {a: {replicas: 4, service_time: 300ms}}
  workflows: {only: {steps: [a], deadline: 1s}}
  request_overhead: 500ms
demand: {curve: {constant: 1}, arrivals: deterministic}
sla: {objective: 5s}
""")
    out = tmp_path / "run"
    assert squall("run", str(path), "--out", str(out), "--no-report", "-q").returncode == 3
    run = read_run(out)
    assert run.requests["latency_s"].to_numpy() == pytest.approx(0.8)
    spans = run.load_spans()
    assert spans is not None
    assert (spans["start_s"] - spans["request_id"]).to_numpy() == pytest.approx(0.5)
    # it counts against the deadline: with 900 ms of it, 300 ms of work misses 1 s
    path.write_text(path.read_text().replace("500ms", "900ms"))
    assert squall("run", str(path), "--out", str(out), "--overwrite", "--no-report",
                  "-q").returncode == 3
    assert set(read_run(out).requests["outcome"].astype(str)) == {"timeout"}


def test_cold_starts_are_read_from_replica_events() -> None:
    events = [
        {"t_s": 0.0, "type": "replica_start", "agent": "a", "replica": 0, "cold_start_s": 0.0},
        {"t_s": 0.0, "type": "replica_ready", "agent": "a", "replica": 0},
        {"t_s": 10.0, "type": "replica_start", "agent": "a", "replica": 1, "cold_start_s": 20.0},
        {"t_s": 12.0, "type": "replica_start", "agent": "b", "replica": 0, "cold_start_s": 5.0},
        {"t_s": 13.0, "type": "replica_stop", "agent": "b", "replica": 0},  # never served
        {"t_s": 31.5, "type": "replica_ready", "agent": "a", "replica": 1},
        {"t_s": 100.0, "type": "fault_start", "fault": "storm"},
        {"t_s": 101.0, "type": "replica_start", "agent": "a", "replica": 2, "cold_start_s": 9.0},
        {"t_s": 110.0, "type": "replica_ready", "agent": "a", "replica": 2},
        {"t_s": 120.0, "type": "fault_end", "fault": "storm"},
        {"t_s": 200.0, "type": "replica_start", "agent": "a", "replica": 3, "cold_start_s": 9.0},
        {"t_s": 209.25, "type": "replica_ready", "agent": "a", "replica": 3},
    ]
    found = cold_starts(events, fault_windows(events))
    assert set(found) == {"a"}  # b's replica stopped before it served
    took, meant = found["a"]
    # the start at 0 s had no cold start; the one inside the storm is the fault's
    assert took.tolist() == [21.5, 9.25]
    assert meant.tolist() == [20.0, 9.0]
    everything = cold_starts(events)  # with no windows, the storm's start counts too
    assert len(everything["a"][0]) == 3


BURSTY = """
name: cold
seed: 3
duration: 6h
system:
  endpoints:
    m: {latency: {dist: gamma, mean: 2s, cv: 0.3}, concurrency: 512}
  agents:
    worker:
      replicas: {initial: 1, min: 1, max: 6}
      concurrency: 2
      llm: {endpoint: m}
      autoscaler: {metric: queue_per_replica, target: 1, interval: 10s,
                   scale_down_window: 1m, cold_start: {dist: gamma, mean: 30s, cv: 0.3}}
  workflows: {only: {steps: [worker]}}
demand:
  curve:
    sum:
      - constant: 0.2
      - burst: {every: 10m, duration: 3m, height: 2, start: 2m, rise: 10s}
sla: {objective: 20s}
"""


def test_a_cold_start_calibrates_back_from_the_replica_events(tmp_path: Path) -> None:
    path = tmp_path / "cold.yaml"
    path.write_text(BURSTY)
    out = tmp_path / "run"
    done = squall("run", str(path), "--out", str(out), "--no-report", "-q")
    assert done.returncode == 3, done.stderr  # no gates: inconclusive, records complete
    took, meant = cold_starts(read_run(out).events)["worker"]
    assert len(took) >= 60
    assert np.allclose(took, meant, atol=1e-5)  # the simulator adds nothing to a cold start
    twin_path = tmp_path / "twin.yaml"
    done = squall("calibrate", str(out), "-o", str(twin_path))
    assert done.returncode == 0, done.stderr
    assert "cold start of worker" in done.stdout
    twin = load_scenario(twin_path).system.agents["worker"]
    assert twin.cold_start is not None  # the agent's own, over the autoscaler's
    written = load_scenario(path).system.autoscaler_for("worker")
    assert written is not None
    assert _q(twin.cold_start) == pytest.approx(_q(written.cold_start), rel=0.1)
