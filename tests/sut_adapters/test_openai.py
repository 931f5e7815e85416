"""The ``openai`` target against ``squall mock-llm``: streaming answers measured as
aiperf defines them (time to first token, inter-token latency), tokens from ``usage``,
cost from the scenario's price, and a stream cut halfway by the fault proxy recorded as
``truncated``."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.records.reader import read_run
from tests.harness.live.test_live_run import squall
from tests.servers import Started, started
from tests.sut_adapters.test_http import free_port

pytestmark = pytest.mark.live

TTFT, PER_TOKEN, TOKENS = 0.2, 0.01, 20

SCENARIO = """
name: openai-live
seed: 2
duration: 8s
system:
  endpoints:
    llm: {ttft: 200ms, per_token: 10ms,
          price: {input_per_token: 0.000001, output_per_token: 0.000002}}
  agents: {chat: {replicas: 1, concurrency: 16, llm: {endpoint: llm, output_tokens: 20}}}
  workflows: {ask: {steps: [chat]}}
demand: {curve: {constant: 5}}
sla: {objective: 2s}
gates: ["attainment >= 50%%"]
target:
  adapter: openai
  url: http://127.0.0.1:1/v1
  model: test-model
  stream: %(stream)s
  max_tokens: 20
  payloads: prompts.jsonl
  price: llm
  proxies:
    llm: {listen: "127.0.0.1:%(listen)d", upstream: "127.0.0.1:%(upstream)d",
          stands_for: endpoint.llm}
faults:
  - {id: cut, kind: toxic, target: proxy.llm, at: 4s, duration: 2s, type: sse_cut,
     attributes: {events: 3}}
"""


@pytest.fixture(scope="module")
def mock_llm() -> Iterator[Started]:
    with started([sys.executable, "-m", "harness.cli.main", "mock-llm", "--ttft", "200ms",
                  "--per-token", "10ms", "--token", "t0k"]) as server:
        yield server


def run(tmp: Path, mock: Started, *, stream: bool,
        duration: str = "8s") -> tuple[Path, subprocess.CompletedProcess[str]]:
    listen = free_port()
    (tmp / "prompts.jsonl").write_text('"hello there"\n[{"role": "user", "content": "hi"}]\n')
    path = tmp / "s.yaml"
    text = SCENARIO % {"listen": listen, "upstream": mock.port, "stream": str(stream).lower()}
    if duration != "8s":  # too short for the fault
        text = text.replace("duration: 8s", f"duration: {duration}").split("faults:")[0]
    path.write_text(text)
    out = tmp / "run"
    done = squall("run", str(path), "--mode", "live", "--target",
                  f"http://127.0.0.1:{listen}/v1", "--out", str(out), "-q", timeout=180)
    return out, done


@pytest.fixture(scope="module")
def streamed(mock_llm: Started, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Path, subprocess.CompletedProcess[str]]:
    return run(tmp_path_factory.mktemp("openai"), mock_llm, stream=True)


def test_streams_are_measured_as_aiperf_defines_ttft_and_itl(
        streamed: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, done = streamed
    assert done.returncode == 0, done.stderr
    req = read_run(out).requests
    ok = req[req["outcome"] == "ok"]
    assert len(ok) > 20
    # the mock's first token comes at 200 ms (libuv's timers, under the mock's uvloop,
    # count milliseconds: it may wake up to 1 ms early); loopback only adds to it
    assert (ok["ttft_s"] >= TTFT - 0.001).all()
    assert ok["ttft_s"].median() == pytest.approx(TTFT, abs=0.02)
    assert ok["itl_s"].median() == pytest.approx(PER_TOKEN, abs=0.004)
    assert (ok["tokens_out"] == TOKENS).all()
    assert (ok["tokens_in"] > 0).all()  # from usage
    assert ok["cost_usd"].to_numpy() == pytest.approx(
        (ok["tokens_in"] * 1e-6 + ok["tokens_out"] * 2e-6).to_numpy())


def test_a_stream_cut_halfway_is_truncated_only_inside_the_fault(
        streamed: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    out, _ = streamed
    req = read_run(out).requests
    cut = req[req["error_kind"] == "truncated"]
    assert len(cut) >= 5
    assert set(req["error_kind"].dropna()) == {"truncated"}
    # (a busy machine sends late and the proxy decides when the answer passes: 0.5 s)
    assert cut["intended_s"].min() >= 3.5
    assert cut["intended_s"].max() <= 6.5
    assert (cut["ttft_s"] >= TTFT - 0.001).all()  # the first tokens came before the cut


def test_plain_answers_take_tokens_from_usage(mock_llm: Started, tmp_path: Path) -> None:
    out, done = run(tmp_path, mock_llm, stream=False, duration="4s")
    assert done.returncode == 0, done.stderr
    req = read_run(out).requests
    ok = req[req["outcome"] == "ok"]
    assert len(ok) > 12
    assert (ok["tokens_out"] == TOKENS).all()
    assert ok["ttft_s"].isna().all()
    assert ok["latency_s"].min() >= TTFT + (TOKENS - 1) * PER_TOKEN


def test_the_mock_llm_takes_faults_through_its_control_api(mock_llm: Started) -> None:
    def call(method: str, path: str, body: object = None) -> tuple[int, dict[str, object]]:
        req = urllib.request.Request(mock_llm.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": "Bearer t0k",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    chat = {"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 2}
    assert call("POST", "/v1/chat/completions", chat)[0] == 200
    status, _ = call("PUT", "/_squall/faults/storm", {
        "target": "endpoint.mock", "fault": {"kind": "rate_limit", "probability": 1},
        "lease_s": 30})
    assert status == 201
    assert call("POST", "/v1/chat/completions", chat)[0] == 429
    assert call("DELETE", "/_squall/faults/storm")[0] in (200, 204)
    assert call("POST", "/v1/chat/completions", chat)[0] == 200


def test_mock_llm_refuses_bad_settings_with_exit_2() -> None:
    done = subprocess.run([sys.executable, "-m", "harness.cli.main", "mock-llm", "--ttft",
                           "soon"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "ttft" in done.stderr
    assert "Traceback" not in done.stderr
