"""``squall run --mode live`` as a user runs it: real processes, real HTTP on loopback,
the reference system embedded or already running, faults applied on schedule and always
rolled back — at the end, on an abort, on SIGTERM, and by their lease when the run is
SIGKILLed. Scenarios run at a time scale so each test takes seconds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.records.reader import read_run
from harness.scenario.loader import load_scenario
from harness.scenario.schedule import build_schedule
from tests.sut_adapters.reference.test_supervisor import (
    TOKEN,
    Running,
    gone,
    start,
    stop,
    wait_for,
)

pytestmark = pytest.mark.live

K = 4  #: time scale: 20 s of scenario in 5 s

SCENARIO = """
name: tiny-live
seed: 7
duration: 20s
system:
  endpoints: {m: {latency: 30ms, concurrency: 8}}
  tools: {db: {latency: 10ms}}
  agents:
    a: {replicas: 2, concurrency: 4, service_time: 20ms, llm: {endpoint: m},
        tools: [{tool: db}]}
    b: {replicas: 1, concurrency: 4, service_time: 10ms}
  workflows: {flow: {steps: [a, b]}}
demand: {curve: {constant: 10}}
faults:
  - {id: slow-llm, kind: latency, target: endpoint.m, at: 6s, duration: 6s, add: 400ms}
sla: {objective: 2s}
gates: ["attainment >= 50%"]
"""


def squall(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli.main", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def tmp_env(tmp_path: Path) -> dict[str, str]:
    """A killed run cannot remove its temporary files: keep them under ``tmp_path``."""
    return {**os.environ, "TMPDIR": str(tmp_path)}


def write(tmp_path: Path, text: str = SCENARIO, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def embedded_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path,
                                                                    subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("live")
    path = write(tmp)
    out = tmp / "run"
    done = squall("run", str(path), "--mode", "live", "--time-scale", str(K), "--out", str(out))
    return path, out, done


def test_a_live_run_records_every_arrival_of_the_simulators_schedule(
        embedded_run: tuple[Path, Path, subprocess.CompletedProcess[str]]) -> None:
    path, out, done = embedded_run
    assert done.returncode == 0, done.stdout + done.stderr
    scenario = load_scenario(path)
    schedule = build_schedule(scenario, scenario.seed)
    run = read_run(out)
    req = run.requests.sort_values("id")
    assert req["id"].tolist() == list(range(len(schedule)))  # each arrival exactly once
    assert req["intended_s"].to_numpy() == pytest.approx(schedule.times)
    assert (req["outcome"] == "ok").mean() > 0.9
    sent = req.dropna(subset=["sent_s"])
    lag = sent["sent_s"] - sent["intended_s"]  # scenario seconds: K × wall
    assert lag.min() > -0.01 * K
    assert (req["latency_s"] >= req["end_s"] - req["sent_s"] - 1e-9).all()  # from intended
    meta = json.loads((out / "run.json").read_text())
    assert meta["mode"] == "live"
    assert meta["status"] == "complete"
    assert meta["time_scale"] == K
    assert meta["generator"]["held"] is True
    assert 0 < meta["generator"]["cpu_peak"] < 4  # the driver's own CPU, in cores
    assert (out / "report.html").exists()
    assert "driver    sent" in done.stdout


def test_records_are_in_scenario_time_and_carry_the_systems_trace(
        embedded_run: tuple[Path, Path, subprocess.CompletedProcess[str]]) -> None:
    _path, out, _done = embedded_run
    run = read_run(out)
    spans = run.load_spans()
    assert spans is not None
    assert set(spans["kind"]) == {"agent", "llm", "tool"}
    ok = run.requests[run.requests["outcome"] == "ok"]
    assert (ok["steps"] == 2).all()
    llm = spans[spans["kind"] == "llm"]
    took = llm["end_s"] - llm["start_s"]
    # 30 ms of LLM latency played 4× faster and written back ×4: about 30 ms again
    quiet = took[(llm["start_s"] < 5) | (llm["start_s"] > 14)]
    assert quiet.median() == pytest.approx(0.030, abs=0.015)
    # the 400 ms the fault adds shows, in scenario seconds, while it is active
    during = took[(llm["start_s"] > 6.5) & (llm["end_s"] < 11.5)]
    assert len(during) > 5
    assert during.min() >= 0.4


def test_each_callee_says_its_own_time_so_a_live_run_calibrates_with_its_hops(
        embedded_run: tuple[Path, Path, subprocess.CompletedProcess[str]],
        tmp_path: Path) -> None:
    path, out, _done = embedded_run
    spans = read_run(out).load_spans()
    assert spans is not None
    ok = spans[spans["error_kind"].isna()]
    assert ok["hop_s"].notna().all()  # every answered call carried its Server-Timing
    hop = ok["hop_s"]
    assert (hop >= 0).all()
    assert 0 < hop.median() < 0.005 * K  # a loopback hop: well under 5 ms of wall time
    llm = ok[ok["kind"] == "llm"]
    served = llm["end_s"] - llm["start_s"] - llm["hop_s"]  # the mock LLM's own time
    assert served.median() == pytest.approx(0.030, abs=0.01)
    twin = tmp_path / "twin.yaml"
    done = squall("calibrate", str(out), "-o", str(twin))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "agent → LLM" in done.stdout
    assert "time scale 4" in done.stdout
    fitted = load_scenario(twin).system
    written = load_scenario(path).system
    # each fit is the written time plus the stack's hop, K× longer in scenario time
    for got, want in [(fitted.endpoints["m"].latency, written.endpoints["m"].latency),
                      (fitted.tools["db"].latency, written.tools["db"].latency),
                      (fitted.agents["a"].service_time, written.agents["a"].service_time),
                      (fitted.agents["b"].service_time, written.agents["b"].service_time)]:
        assert got is not None
        assert want is not None
        gap = got.mean_value() - want.mean_value()
        assert 0 <= gap < 0.01 * K
    # and each request's time outside its agent calls: the send, the hop in and out
    assert 0 < fitted.request_overhead.mean_value() < 0.01 * K
    # the twin says how fast the stack was, in wall time, for fidelity to compare
    pilot = load_scenario(twin).calibrated
    assert pilot is not None
    assert pilot.time_scale == K
    assert set(pilot.stack) == {"request", "agent", "llm", "tool"}
    assert pilot.stack["agent"].per_request == pytest.approx(2, abs=0.1)  # a, then b
    assert pilot.stack["llm"].per_request == pytest.approx(1, abs=0.1)  # a calls m once
    assert pilot.stack["request"].per_request == 1
    for hop in pilot.stack.values():
        assert 0 < hop.p50_s <= hop.p95_s < 0.05
    # in wall time: the spans' hops (scenario time, faults' too) over K
    agent_hops = ok.loc[ok["kind"] == "agent", "hop_s"]
    assert pilot.stack["agent"].p50_s == pytest.approx(agent_hops.median() / K, rel=0.3)


def test_fault_events_bracket_the_fault_and_the_system_is_sampled(
        embedded_run: tuple[Path, Path, subprocess.CompletedProcess[str]]) -> None:
    _path, out, _done = embedded_run
    events = [json.loads(line) for line in (out / "events.jsonl").read_text().splitlines()]
    starts = [e for e in events if e["type"] == "fault_start"]
    ends = [e for e in events if e["type"] == "fault_end"]
    assert [e["fault"] for e in starts] == ["slow-llm"] == [e["fault"] for e in ends]
    assert starts[0]["t_s"] == pytest.approx(6.0, abs=0.25 * K)
    assert ends[0]["t_s"] == pytest.approx(12.0, abs=0.25 * K)
    assert {e["agent"] for e in events if e["type"] == "replica_start"} == {"a", "b"}
    ts = read_run(out).timeseries
    agents = ts[ts["kind"] == "agent"]
    assert set(agents["component"]) == {"a", "b"}
    assert agents.groupby("component")["ready"].max().to_dict() == {"a": 2, "b": 1}


@pytest.fixture(scope="module")
def shared_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    """One running reference system for the module's attached runs (each test leaves
    it without faults)."""
    system = start(tmp_path_factory.mktemp("ref"), SCENARIO)
    pids = system.pids()
    try:
        yield system
    finally:
        stop(system.proc)
    assert gone(pids) == []


@pytest.fixture
def running(shared_system: Running) -> Iterator[Running]:
    assert _faults(shared_system) == []
    yield shared_system
    shared_system.control.call("DELETE", "/_squall/faults")


def _faults(system: Running) -> list[dict[str, Any]]:
    return system.state()["faults"]


def test_a_stop_condition_aborts_rolls_back_and_exits_4(tmp_path: Path,
                                                        running: Running) -> None:
    text = SCENARIO.replace("faults:\n", """faults:
  - {id: down, kind: outage, target: agent.b, at: 4s, duration: 12s}
""") + "stop_conditions:\n  - {when: error_rate > 50%, for: 2s, window: 2s}\n"
    control = running.control.base
    done = squall("run", str(write(tmp_path, text)), "--mode", "live", "--time-scale", str(K),
                  "--target", control, "--token", TOKEN, "--out", str(tmp_path / "run"),
                  "--junit", str(tmp_path / "j.xml"))
    assert done.returncode == 4, done.stdout + done.stderr
    assert "error_rate > 50% for 2s" in done.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["verdict"] == "aborted"
    assert summary["stopped_by"] == "error_rate > 50% for 2s"
    assert 'type="aborted"' in (tmp_path / "j.xml").read_text()
    events = [json.loads(x) for x in (tmp_path / "run" / "events.jsonl").read_text().split("\n")
              if x]
    abort = next(e for e in events if e["type"] == "abort")
    assert 6.0 <= abort["t_s"] < 16.0  # after the outage began and held for 2 s
    req = read_run(tmp_path / "run").requests
    assert len(req) == len(set(req["id"]))
    assert (req[req["intended_s"] > abort["t_s"] + 1]["outcome"] == "dropped").all()
    assert _faults(running) == []  # rolled back, not left to their lease
    assert running.state()["agents"]["b"][0]["ready"]


def test_a_sigkilled_run_leaves_the_system_restored_and_its_records_readable(
        tmp_path: Path, running: Running) -> None:
    text = SCENARIO.replace("duration: 20s", "duration: 60s") + "live: {lease: 1s}\n"
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli.main", "run", str(write(tmp_path, text)),
         "--mode", "live", "--time-scale", str(K), "--target", running.control.base,
         "--token", TOKEN, "--out", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env=tmp_env(tmp_path))
    try:
        wait_for(lambda: [f["id"] for f in _faults(running)] == ["slow-llm"], within=30)
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        stop(proc)
    wait_for(lambda: _faults(running) == [], within=3)  # the lease lapsed: rolled back
    assert running.flow()[0] == 200
    report = squall("report", str(out))
    assert report.returncode == 3, report.stdout + report.stderr  # partial: never a pass
    assert (out / "report.html").exists()
    req = read_run(out).requests
    assert len(req) > 10  # flushed while it ran


def test_sigterm_rolls_back_stops_the_embedded_system_and_exits_130(tmp_path: Path) -> None:
    text = SCENARIO.replace("duration: 20s", "duration: 120s")
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli.main", "run", str(write(tmp_path, text)),
         "--mode", "live", "--time-scale", str(K), "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        env=tmp_env(tmp_path))
    try:
        wait_for(lambda: (out / "events.jsonl").exists()
                 and "fault_start" in (out / "events.jsonl").read_text(), within=60)
        family = _descendants(proc.pid)
        assert len(family) >= 6  # driver, supervisor, orchestrator, endpoint, tool, agents
        os.killpg(proc.pid, signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        stop(proc)
    assert code == 130
    assert gone(family) == [], "a process outlived the run"
    events = (out / "events.jsonl").read_text()
    assert '"fault_end"' in events
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True,
                         check=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        p, pp = map(int, line.split())
        children.setdefault(pp, []).append(p)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def test_a_generator_that_cannot_hold_its_schedule_is_inconclusive(tmp_path: Path,
                                                                    running: Running) -> None:
    """1 µs of send lag is more than any real driver holds: the run must not pass."""
    text = SCENARIO.replace("duration: 20s", "duration: 8s") + "live: {max_send_lag: 0.000001}\n"
    done = squall("run", str(write(tmp_path, text)), "--mode", "live", "--time-scale", str(K),
                  "--target", running.control.base, "--token", TOKEN,
                  "--out", str(tmp_path / "run"))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "could not hold the schedule" in done.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["verdict"] == "inconclusive"
    assert summary["generator"]["send_lag_p99_s"] > 0.000001


@pytest.mark.parametrize(("args", "says"), [
    (["--target", "http://10.1.2.3:8700", "--token", "t"], "outside loopback"),
    (["--target", "ftp://127.0.0.1:1"], "not an http(s) URL"),
    (["--time-scale", "-2"], "not a positive number"),
    (["--target", "http://127.0.0.1:9"], "token"),
])
def test_bad_live_options_exit_2_with_a_reason(tmp_path: Path, args: list[str],
                                               says: str) -> None:
    done = squall("run", str(write(tmp_path)), "--mode", "live", "--out", str(tmp_path / "r"),
                  *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert says in done.stderr
    assert "Traceback" not in done.stderr


def test_live_options_need_live_mode(tmp_path: Path) -> None:
    done = squall("run", str(write(tmp_path)), "--time-scale", "4")
    assert done.returncode == 2
    assert "--time-scale" in done.stderr


def test_a_wrong_token_or_a_dead_target_exits_2(tmp_path: Path, running: Running) -> None:
    done = squall("run", str(write(tmp_path)), "--mode", "live", "--target",
                  running.control.base, "--token", "wrong", "--out", str(tmp_path / "r"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "401" in done.stderr
    dead = squall("run", str(write(tmp_path)), "--mode", "live", "--target",
                  "http://127.0.0.1:9", "--token", "t", "--out", str(tmp_path / "r2"))
    assert dead.returncode == 2
    assert "did not answer" in dead.stderr


def test_any_answer_reads_into_a_record() -> None:
    """The reference adapter reads whatever comes back into an error kind: never a crash."""
    from sut_adapters.reference.adapter import ReferenceTarget

    target = ReferenceTarget.__new__(ReferenceTarget)
    for status, body, transport, kind in [
        (0, None, "refused", "unavailable"), (0, None, "reset", "crash"),
        (0, None, "timeout", "timeout"), (0, None, "SSLError", "error"),
        (200, b"{not json", None, "malformed"), (200, b"[1, 2]", None, "malformed"),
        (502, b'{"error": {"type": "rate_limited"}}', None, "rate_limited"),
        (502, b'{"error": {"type": "made-up"}}', None, "error"),
        (200, b'{"ok": true, "squall": {"spans": "nope"}}', None, "malformed"),
    ]:
        assert target.answer(status, body, transport, 0.0, 1.0).error == kind


def test_a_master_and_two_load_workers_send_the_single_process_runs_arrivals(
        tmp_path: Path, running: Running,
        embedded_run: tuple[Path, Path, subprocess.CompletedProcess[str]]) -> None:
    _path, single, _done = embedded_run
    out = tmp_path / "run"
    done = squall("run", str(write(tmp_path)), "--mode", "live", "--time-scale", str(K),
                  "--target", running.control.base, "--token", TOKEN, "--load-workers", "2",
                  "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    mine = read_run(out).requests.sort_values("id")
    theirs = read_run(single).requests.sort_values("id")
    assert mine["id"].tolist() == theirs["id"].tolist()
    assert mine["intended_s"].tolist() == theirs["intended_s"].tolist()
    assert mine["workflow"].astype(str).tolist() == theirs["workflow"].astype(str).tolist()
    assert (mine["outcome"] == "ok").mean() > 0.9
    gen = json.loads((out / "run.json").read_text())["generator"]
    assert (gen["workers"], gen["workers_ended"]) == (2, 2)
    assert gen["held"] is True


def test_a_worker_that_never_joins_fails_fast(tmp_path: Path, running: Running) -> None:
    text = SCENARIO + "live: {join_within: 2s}\n"
    done = squall("run", str(write(tmp_path, text)), "--mode", "live", "--target",
                  running.control.base, "--token", TOKEN, "--remote-workers", "1",
                  "--master", "127.0.0.1:0", "--out", str(tmp_path / "r"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "load workers joined" in done.stderr


def test_locusts_web_ui_shows_the_runs_requests(tmp_path: Path, running: Running) -> None:
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    text = SCENARIO
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli.main", "run", str(write(tmp_path, text)),
         "--mode", "live", "--time-scale", str(K), "--target", running.control.base,
         "--token", TOKEN, "--web", str(port), "--out", str(tmp_path / "run")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        env=tmp_env(tmp_path))
    seen: list[int] = []

    def counted() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats/requests",
                                        timeout=2) as resp:
                stats = json.loads(resp.read())
        except OSError:
            return False
        total = next((s for s in stats["stats"] if s["name"] == "Aggregated"), None)
        seen.append(total["num_requests"] if total else 0)
        return bool(seen[-1] > 20)

    try:
        wait_for(counted, within=40)
        assert proc.wait(timeout=60) == 0
    finally:
        stop(proc)
    assert seen[-1] > 20
