"""``squall calibrate TRACES.json``: a twin of one's own system from OpenTelemetry traces.

The traces are written by the OpenTelemetry SDK and encoded by its own OTLP encoder
(:mod:`tests.harness.calibrate.otel`), with times drawn from known distributions: the
twin must recover them, and the system's structure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.calibrate.otlp import read_otlp
from harness.scenario.loader import load_scenario
from harness.scenario.system import ParallelStep
from tests.harness.calibrate.otel import Truth, write_traces


def squall(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli.main", *args],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    path = tmp_path_factory.mktemp("otlp") / "traces.json"
    return path, write_traces(path, requests=800, seed=3)


def _q(dist: object) -> np.ndarray:
    return np.quantile(dist.sample(np.random.default_rng(9), 100_000), [0.5, 0.95])  # type: ignore[attr-defined]


def test_the_conventions_name_agents_endpoints_tools_and_the_workflow(
        traces: tuple[Path, Truth]) -> None:
    path, _truth = traces
    trace = read_otlp(path)
    assert trace.traces == 800
    spans = trace.spans
    assert set(spans.loc[spans["kind"] == "agent", "component"]) == {"router", "kb", "billing"}
    assert set(spans.loc[spans["kind"] == "llm", "component"]) == {"gpt-4o-mini"}
    assert set(spans.loc[spans["kind"] == "tool", "component"]) == {"search", "ledger"}
    assert set(spans.loc[spans["kind"] == "tool", "caller"]) == {"kb", "billing"}
    assert trace.workflows["POST-support"] == (800, [["router"], ["billing", "kb"]])
    failed = spans[spans["error_kind"].notna()]
    assert set(failed["error_kind"]) == {"timeout"}
    assert set(failed["kind"]) == {"llm"}


def test_a_twin_built_from_traces_recovers_what_they_were_drawn_from(
        traces: tuple[Path, Truth], tmp_path: Path) -> None:
    path, truth = traces
    out = tmp_path / "twin.yaml"
    done = squall("calibrate", str(path), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "set sla.objective to your own" in done.stdout
    twin = load_scenario(out)
    system = twin.system
    llm = system.endpoints["gpt-4o-mini"]
    assert llm.per_token.mean_value() == pytest.approx(truth.per_token, rel=0.05)
    assert _q(llm.ttft) == pytest.approx([truth.ttft_median, truth.ttft_p95], rel=0.08)
    k = 1 / truth.search_cv**2
    search = np.quantile(np.random.default_rng(1).gamma(k, truth.search_mean / k, 100_000),
                         [0.5, 0.95])
    assert _q(system.tools["search"].latency) == pytest.approx(search, rel=0.08)
    # the agent's own time: its span less the calls it made (1 ms of it is the span's end)
    own = _q(system.agents["router"].service_time)
    assert own[0] == pytest.approx(truth.router_own_median + 0.001, rel=0.1)
    steps = system.workflows["POST-support"].steps
    assert next(getattr(s, "agent", None) for s in steps) == "router"
    assert isinstance(steps[1], ParallelStep)
    assert twin.demand.build_curve(0).integral(0, 60) / 60 == pytest.approx(truth.rate,
                                                                            rel=0.1)
    # the twin runs (no gates: no verdict), and its requests take what the traces' took
    run = squall("run", str(out), "--out", str(tmp_path / "run"), "--no-report", "-q")
    assert run.returncode == 3, run.stdout + run.stderr
    assert "no gates" in run.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["latency_s"]["p95"] == pytest.approx(twin.sla.objective, rel=0.1)


def test_json_lines_of_otlp_objects_read_the_same(tmp_path: Path) -> None:
    one, lines = tmp_path / "one.json", tmp_path / "lines.jsonl"
    write_traces(one, requests=300, seed=5)
    write_traces(lines, requests=300, seed=5, lines=True)
    assert len(lines.read_text().splitlines()) == 3
    a, b = read_otlp(one), read_otlp(lines)
    assert a.traces == b.traces == 300
    assert a.spans["end_s"].sum() == pytest.approx(b.spans["end_s"].sum())


def test_a_mapping_names_spans_the_conventions_do_not_cover(tmp_path: Path) -> None:
    """Plain HTTP client spans, no GenAI attributes: the mapping says what they are."""
    spans = []
    t0 = 1_700_000_000_000_000_000
    for i in range(60):
        start = t0 + i * 500_000_000
        trace = f"{i:032x}"
        spans += [
            {"traceId": trace, "spanId": f"{i:08x}00000001", "name": "handle ticket",
             "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 400_000_000)},
            {"traceId": trace, "spanId": f"{i:08x}00000002", "parentSpanId": f"{i:08x}00000001",
             "name": "POST /v1/chat/completions", "startTimeUnixNano": str(start + 10_000_000),
             "endTimeUnixNano": str(start + 310_000_000),
             "attributes": [{"key": "llm.model", "value": {"stringValue": "local-llama"}}]},
            {"traceId": trace, "spanId": f"{i:08x}00000003", "parentSpanId": f"{i:08x}00000001",
             "name": "GET /health", "startTimeUnixNano": str(start + 320_000_000),
             "endTimeUnixNano": str(start + 321_000_000)},
        ]
    path = tmp_path / "plain.json"
    path.write_text(json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}))
    mapping = tmp_path / "map.yaml"
    mapping.write_text("rules:\n"
                       "  - match: {name: '^POST /v1/chat'}\n    as: llm\n"
                       "    component: attr:llm.model\n"
                       "  - match: {name: '^GET /health'}\n    as: ignore\n")
    trace = read_otlp(path, mapping)
    assert set(trace.spans["component"]) == {"local-llama", "handle-ticket"}
    out = tmp_path / "twin.yaml"
    done = squall("calibrate", str(path), "--mapping", str(mapping), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "no agent span above them" in done.stdout
    system = load_scenario(out).system
    assert system.endpoints["local-llama"].ttft.mean_value() == pytest.approx(0.3, rel=0.01)
    # the calls' caller is an agent named after the workflow; its own time is 100 ms
    assert system.agents["handle-ticket"].service_time.mean_value() == pytest.approx(0.1,
                                                                                    rel=0.01)


def test_traces_for_a_given_scenario_must_name_its_components(
        traces: tuple[Path, Truth], tmp_path: Path) -> None:
    path, _ = traces
    base = tmp_path / "base.yaml"
    base.write_text("""
name: mine
duration: 10m
system:
  endpoints: {gpt-4o-mini: {ttft: 300ms, per_token: 10ms}}
  tools: {search: {latency: 80ms}}
  agents:
    router: {replicas: 2, llm: {endpoint: gpt-4o-mini}}
    kb: {replicas: 2, llm: {endpoint: gpt-4o-mini}, tools: [{tool: search}]}
  workflows: {support: {steps: [router, kb]}}
demand: {curve: {constant: 2}}
sla: {objective: 5s}
""")
    done = squall("calibrate", str(path), "--scenario", str(base), "-o", str(tmp_path / "t"))
    assert done.returncode == 2
    assert "agents billing" in done.stderr
    assert "tools ledger" in done.stderr


@pytest.mark.parametrize(("text", "message"), [
    ("not json at all", "line 1 is not JSON"),
    ('{"resourceSpans": 3}', "no resourceSpans list"),
    ('{"resourceSpans": []}', "holds no spans"),
    ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "x", "traceId": "a", '
     '"spanId": "b", "startTimeUnixNano": "9", "endTimeUnixNano": "3"}]}]}]}',
     "holds no spans"),
])
def test_bad_traces_exit_2_naming_what_is_wrong(tmp_path: Path, text: str,
                                                message: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(text)
    done = squall("calibrate", str(path), "-o", str(tmp_path / "out.yaml"))
    assert done.returncode == 2, done.stdout
    assert message in done.stderr
    assert str(path) in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out.yaml").exists()


@pytest.mark.parametrize(("mapping", "message"), [
    ("rules: [{match: {name: '(('}, as: llm}]", "not a regular expression"),
    ("rules: [{match: {name: x}, as: robot}]", "is not one of"),
    ("rules: [{as: llm}]", "match: give name"),
    ("workflow: app.flow", "workflow is attr:KEY"),
    ("- just a list", "a mapping has `rules`"),
])
def test_a_bad_mapping_exits_2_naming_the_rule(traces: tuple[Path, Truth], tmp_path: Path,
                                               mapping: str, message: str) -> None:
    path, _ = traces
    rules = tmp_path / "map.yaml"
    rules.write_text(mapping)
    done = squall("calibrate", str(path), "--mapping", str(rules), "-o", str(tmp_path / "o"))
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
