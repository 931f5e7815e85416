"""``command`` faults: a real process fault on a system Squall did not start — httpbin
frozen with SIGSTOP at the fault's start and resumed with SIGCONT at its end — refused
unless allowed, and a failing command making the run inconclusive."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.records.reader import read_run
from tests.harness.live.test_live_run import squall
from tests.servers import HTTPBIN, started

pytestmark = pytest.mark.live

SCENARIO = """
name: frozen
seed: 1
duration: 8s
system:
  tools: {bin: {latency: 2ms}}
  agents: {front: {replicas: 1, concurrency: 8, tools: [{tool: bin}]}}
  workflows: {ask: {steps: [front]}}
demand: {curve: {constant: 10}}
sla: {objective: 1s}
gates: ["attainment >= 50%%"]
target: {adapter: http, url: "%(url)s", path: /anything, timeout: 1s}
faults:
  - {id: freeze, kind: command, target: tool.bin, at: 3s, duration: 2s,
     start: "kill -STOP %(pid)d", stop: "kill -CONT %(pid)d", timeout: 5s}
"""


def test_a_command_fault_freezes_the_system_for_its_window(tmp_path: Path) -> None:
    with started(HTTPBIN) as httpbin:
        path = tmp_path / "s.yaml"
        path.write_text(SCENARIO % {"url": httpbin.url, "pid": httpbin.proc.pid})
        out = tmp_path / "run"
        done = squall("run", str(path), "--mode", "live", "--allow-commands", "--out",
                      str(out), "-q", timeout=120)
        assert done.returncode == 0, done.stderr
        run = read_run(out)
        req = run.requests
        late = req[req["error_kind"] == "timeout"]
        assert len(late) >= 10
        assert late["intended_s"].min() >= 2.0  # 1 s timeouts of requests sent from 2 s on
        assert late["intended_s"].max() <= 5.1
        assert (req[req["intended_s"] > 6.5]["outcome"] == "ok").all()  # resumed
        commands = [(e["phase"], e["exit_code"]) for e in run.events if e["type"] == "command"]
        assert commands == [("start", 0), ("stop", 0)]
        os.kill(httpbin.proc.pid, 0)  # still there, and running


def test_command_faults_need_allow_commands(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO % {"url": "http://127.0.0.1:9", "pid": 999999})
    done = squall("run", str(path), "--mode", "live", "--out", str(tmp_path / "run"))
    assert done.returncode == 2
    assert "--allow-commands" in done.stderr
    assert not (tmp_path / "run").exists()
    done = squall("run", str(path), "--out", str(tmp_path / "sim"))
    assert done.returncode == 2
    assert "runs a command: the simulator cannot know what it does" in done.stderr


def test_a_command_that_fails_makes_the_run_inconclusive(tmp_path: Path) -> None:
    with started(HTTPBIN) as httpbin:
        path = tmp_path / "s.yaml"
        text = SCENARIO % {"url": httpbin.url, "pid": 999999}  # no such process
        path.write_text(text.replace("duration: 8s", "duration: 5s"))
        out = tmp_path / "run"
        done = squall("run", str(path), "--mode", "live", "--allow-commands", "--out",
                      str(out), "-q", timeout=120)
        assert done.returncode == 3, done.stderr
        meta = json.loads((out / "run.json").read_text())
        assert any("freeze" in d and "exited with 1" in d for d in meta["doubts"]), meta
