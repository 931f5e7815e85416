"""Squall's Chaos Toolkit extension, end to end: ``squall chaos export`` writes an
experiment, ``chaos validate`` accepts it, and ``chaos run`` against a running reference
system — with Squall's live load run by the extension's control — meets the SLA before
the fault, deviates during it, and rolls it back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faults.chaostoolkit import discover
from faults.chaostoolkit.probes import ProbeError, sla_figures
from tests.harness.live.test_live_run import squall
from tests.servers import Started, started

pytestmark = pytest.mark.live

TOKEN = "chaos-token"
SCENARIO = """
name: chaos-tiny
seed: 4
duration: 60s
system:
  endpoints: {m: {latency: 30ms, concurrency: 16}}
  agents: {a: {replicas: 2, concurrency: 8, service_time: 10ms, llm: {endpoint: m}}}
  workflows: {flow: {steps: [a]}}
demand: {curve: {constant: 10}}
sla: {objective: 1s, availability: 0.9, window: 5s}
faults:
  - {id: broken-llm, kind: error, target: endpoint.m, at: 20s, duration: 20s, probability: 1}
"""


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[tuple[Started, str, Path]]:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    with started([sys.executable, "-m", "harness.cli.main", "reference", "up", str(path),
                  "--token", TOKEN], within=90,
                 ready=r"control\s+(http://127\.0\.0\.1:\d+)/_squall/state") as ref:
        yield ref, ref.url, path


def chaos(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    settings = cwd / "settings.yaml"
    settings.write_text("{}\n")
    return subprocess.run([str(Path(sys.executable).parent / "chaos"), "--no-version-check",
                           "--no-log-file", "--settings", str(settings), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=240, check=False, env=env)


def faults_on(control: str) -> list[Any]:
    req = urllib.request.Request(control + "/_squall/state",
                                 headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return list(json.loads(resp.read())["faults"])


def test_an_exported_experiment_runs_in_chaos_toolkit_against_the_reference_system(
        reference: tuple[Started, str, Path], tmp_path: Path) -> None:
    _, control, path = reference
    exp, run = tmp_path / "exp.json", tmp_path / "run"
    done = squall("chaos", "export", str(path), "--control", control, "--run", str(run),
                  "--time-scale", "4", "-o", str(exp))
    assert done.returncode == 0, done.stderr
    experiment = json.loads(exp.read_text())
    assert [a["name"] for a in experiment["method"]] == ["apply-broken-llm"]
    assert [r["name"] for r in experiment["rollbacks"]] == ["remove-broken-llm"]
    env = {**os.environ, "SQUALL_TOKEN": TOKEN, "TMPDIR": str(tmp_path)}
    valid = chaos("validate", str(exp), cwd=tmp_path, env=env)
    assert valid.returncode == 0, valid.stdout + valid.stderr

    ran = chaos("run", "--journal-path", str(tmp_path / "journal.json"), str(exp),
                cwd=tmp_path, env=env)
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert ran.returncode == 1, ran.stdout + ran.stderr  # deviated: Chaos Toolkit's 1
    assert journal["deviated"] is True
    assert journal["steady_states"]["before"]["steady_state_met"] is True
    assert journal["steady_states"]["after"]["steady_state_met"] is False
    before = journal["steady_states"]["before"]["probes"][0]["output"]
    after = journal["steady_states"]["after"]["probes"][0]["output"]
    assert before >= 0.9
    assert after < 0.5
    assert [r["status"] for r in journal["rollbacks"]] == ["succeeded"]
    assert [r["status"] for r in journal["run"]] == ["succeeded"]
    assert faults_on(control) == []  # rolled back
    figures = sla_figures(str(run), 60)
    assert figures["requests"] > 50  # the control's load ran and its records stayed


def test_discover_lists_the_actions_and_probes() -> None:
    found = discover(discover_system=False)
    names = {(a["type"], a["name"]) for a in found["activities"]}
    assert {("action", "apply_fault"), ("action", "remove_fault"), ("action", "add_toxic"),
            ("action", "remove_toxic"), ("probe", "attainment"), ("probe", "error_rate"),
            ("probe", "latency_p95"), ("probe", "sla_figures")} <= names


def test_a_probe_on_something_that_is_not_a_run_says_so(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="not a Squall run directory"):
        sla_figures(str(tmp_path), 10)
    with pytest.raises(ProbeError, match="give the run directory"):
        sla_figures("", 10)


def test_export_without_a_control_url_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    done = squall("chaos", "export", str(path), "-o", str(tmp_path / "e.json"))
    assert done.returncode == 2
    assert "--control" in done.stderr
