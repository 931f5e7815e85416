"""The ``http`` target as a user drives it: ``squall run --mode live`` against httpbin (a
third-party app), with a fault proxy started by the run in front of it, faults applied
as toxics on schedule, and bad answers recorded as errors of a named kind."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from harness.records.reader import read_run
from tests.harness.live.test_live_run import squall
from tests.servers import HTTPBIN, Started, started

pytestmark = pytest.mark.live

K = 2  #: the proxied run's time scale

SCENARIO = """
name: httpbin-live
seed: 5
duration: 12s
system:  # the model of the system behind the API, for the simulator
  endpoints: {svc: {latency: 5ms}}
  agents: {front: {replicas: 1, concurrency: 8, llm: {endpoint: svc}}}
  workflows: {ask: {steps: [front]}, chat: {steps: [front]}}
demand: {curve: {constant: 10}}
sla: {objective: 1s}
gates: ["attainment >= 99%%"]
target:
  adapter: http
  url: http://127.0.0.1:1
  path: /anything/{workflow}
  body: {sample: "{{payload}}", id: "{{request_id}}", prio: "{{priority}}",
         text: "wf={{workflow}} 100%%", steps: 2, cost: 0.25,
         spans: [{kind: llm, component: svc, start_s: 0.001, end_s: 0.004, tokens_out: 7},
                 {kind: tool, component: db, start_s: 0.002, end_s: 0.001},
                 {kind: robot, component: x, start_s: 0, end_s: 1}]}
  payloads: samples.jsonl
  success: {status: [200], json: {$.method: POST}}
  trace: {steps: $.json.steps, tokens_in: $.json.id, tokens_out: $.json.sample.n,
          cost: $.json.cost, spans: $.json.spans}
  proxies:
    bin: {listen: "127.0.0.1:%(listen)d", upstream: "127.0.0.1:%(upstream)d",
          stands_for: endpoint.svc}
faults:
  - {id: storm, kind: rate_limit, target: proxy.bin, at: 3s, duration: 2s, probability: 1,
     retry_after: 1s}
  - {id: garbage, kind: error, as: malformed, target: proxy.bin, at: 7s, duration: 2s}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def httpbin() -> Iterator[Started]:
    with started(HTTPBIN) as server:
        yield server


@pytest.fixture(scope="module")
def proxied_run(httpbin: Started, tmp_path_factory: pytest.TempPathFactory
                ) -> tuple[Path, subprocess.CompletedProcess[str]]:
    tmp = tmp_path_factory.mktemp("http")
    listen = free_port()
    (tmp / "samples.jsonl").write_text('{"n": 3}\n{"n": 4}\n\n{"n": 5}\n')
    path = tmp / "s.yaml"
    path.write_text(SCENARIO % {"listen": listen, "upstream": httpbin.port})
    out = tmp / "run"
    done = squall("run", str(path), "--mode", "live", "--target", f"http://127.0.0.1:{listen}",
                  "--time-scale", str(K), "--out", str(out), "-q", timeout=180)
    return out, done


def test_a_run_against_httpbin_records_what_each_answer_says(
        proxied_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, done = proxied_run
    assert done.returncode == 1, done.stderr  # the faults broke the 99% gate
    req = read_run(out).requests
    assert len(req) > 100
    ok = req[req["outcome"] == "ok"]
    assert len(ok) > 0.5 * len(req)
    # the per-request variables reached the system: httpbin echoed the request id
    assert (ok["tokens_in"] == ok["id"]).all()
    assert set(ok["tokens_out"]) == {3, 4, 5}  # every payload sample was used
    assert (ok["steps"] == 2).all()
    assert ok["cost_usd"].to_numpy() == pytest.approx(np.full(len(ok), 0.25))
    # the system's own spans, placed from when each request was sent (its wall seconds
    # are K scenario seconds); the ones that do not fit (ending before they start, an
    # unknown kind) left out
    spans = read_run(out).load_spans()
    assert spans is not None
    assert set(spans["kind"]) == {"llm"}
    mine = spans.merge(ok[["id", "sent_s"]], left_on="request_id", right_on="id")
    assert len(mine) == len(ok)
    assert (mine["start_s"] - mine["sent_s"]).to_numpy() == pytest.approx(
        np.full(len(mine), 0.001 * K))
    assert (mine["tokens_out"] == 7).all()
    # the timeseries' cumulative cost grows with the answers, up to their sum
    ts = read_run(out).timeseries
    assert ts is not None
    system = ts[ts["kind"] == "system"].sort_values("t_s")
    assert system["cost_usd"].is_monotonic_increasing
    assert system["cost_usd"].iloc[-1] == pytest.approx(req["cost_usd"].sum(), rel=0.05)


def test_proxy_faults_become_errors_of_their_kind_in_their_windows(
        proxied_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, _ = proxied_run
    run = read_run(out)
    req = run.requests
    kinds = req.groupby("error_kind")["intended_s"].agg(["min", "max", "count"])
    assert set(kinds.index) == {"rate_limited", "malformed"}
    # each kind only inside its fault's window (a request at its edge may straddle it, and
    # a busy machine sends late: 0.5 s)
    assert kinds.loc["rate_limited", "min"] >= 2.5
    assert kinds.loc["rate_limited", "max"] <= 5.5
    assert kinds.loc["malformed", "min"] >= 6.5
    assert kinds.loc["malformed", "max"] <= 9.5
    assert kinds.loc["rate_limited", "count"] > 10
    assert kinds.loc["malformed", "count"] > 10
    events = [e for e in run.events if e["type"] in ("fault_start", "fault_end")]
    assert [(e["type"], e["fault"]) for e in events] == [
        ("fault_start", "storm"), ("fault_end", "storm"),
        ("fault_start", "garbage"), ("fault_end", "garbage")]


def test_the_same_scenario_simulates_its_proxy_faults_on_the_component(
        httpbin: Started, tmp_path: Path) -> None:
    (tmp_path / "samples.jsonl").write_text('{"n": 1}\n')
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO % {"listen": 9, "upstream": httpbin.port})
    out = tmp_path / "sim"
    done = squall("run", str(path), "--out", str(out), "-q")
    assert done.returncode == 1, done.stderr
    req = read_run(out).requests
    assert set(req["error_kind"].dropna()) == {"rate_limited", "malformed"}


def test_an_unreachable_target_is_recorded_as_unavailable_and_the_run_ends(
        tmp_path: Path, httpbin: Started) -> None:
    (tmp_path / "samples.jsonl").write_text('{"n": 1}\n')
    path = tmp_path / "s.yaml"
    text = SCENARIO % {"listen": free_port(), "upstream": httpbin.port}
    path.write_text(text.replace("duration: 12s", "duration: 2s").split("faults:")[0])
    out = tmp_path / "run"
    dead = free_port()
    done = squall("run", str(path), "--mode", "live", "--target", f"http://127.0.0.1:{dead}",
                  "--out", str(out), "-q", timeout=120)
    assert done.returncode == 1, done.stderr
    req = read_run(out).requests
    assert (req["error_kind"] == "unavailable").all()
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(("success", "kind"), [
    ("{status: [200], json: {$.method: GET}}", "unexpected"),  # the body fails the check
    ("{status: [201]}", "unexpected"),  # a status outside the success list
])
def test_answers_that_fail_the_success_criteria_are_unexpected(
        tmp_path: Path, httpbin: Started, success: str, kind: str) -> None:
    (tmp_path / "samples.jsonl").write_text('{"n": 1}\n')
    text = SCENARIO % {"listen": free_port(), "upstream": httpbin.port}
    text = text.replace("duration: 12s", "duration: 3s").split("faults:")[0]
    text = text.replace("success: {status: [200], json: {$.method: POST}}",
                        f"success: {success}")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    out = tmp_path / "run"
    done = squall("run", str(path), "--mode", "live", "--target", httpbin.url, "--out",
                  str(out), "-q", timeout=120)
    assert done.returncode == 1, done.stderr
    assert set(read_run(out).requests["error_kind"]) == {kind}


def test_validate_names_the_faults_an_http_target_cannot_apply(tmp_path: Path) -> None:
    (tmp_path / "samples.jsonl").write_text('{"n": 1}\n')
    text = SCENARIO % {"listen": 9001, "upstream": 9002} + """
  - {id: kill, kind: crash, target: agent.front, at: 2s}
  - {id: slower, kind: latency, target: proxy.bin, at: 2s, multiply: 2}
"""
    path = tmp_path / "s.yaml"
    path.write_text(text)
    done = squall("validate", str(path))
    assert done.returncode == 2
    assert "faults[2]: fault 'kill' (crash on agent.front): the http target reaches" \
        in done.stderr
    assert "faults[3]: fault 'slower' (latency on proxy.bin): a proxy adds latency, it " \
        "cannot multiply it" in done.stderr


def test_validate_says_a_scenario_is_fine_and_what_the_simulator_cannot_do(
        tmp_path: Path) -> None:
    (tmp_path / "samples.jsonl").write_text('{"n": 1}\n')
    text = (SCENARIO % {"listen": 9001, "upstream": 9002}).replace(
        "stands_for: endpoint.svc", "")
    path = tmp_path / "s.yaml"
    path.write_text(text)
    done = squall("validate", str(path))
    assert done.returncode == 0, done.stderr
    assert "sim: cannot run this scenario: fault 'storm' targets proxy.bin, which stands " \
        "for no component" in done.stdout


def test_a_payloads_file_that_is_not_jsonl_is_refused_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "samples.jsonl").write_text('{"n": 1}\n{"n": \n')
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO % {"listen": 9001, "upstream": 9002})
    done = squall("validate", str(path))
    assert done.returncode == 2
    assert "samples.jsonl:2: not JSON" in done.stderr
