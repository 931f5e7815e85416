"""An agent replica as a real process, calling real endpoint and tool processes through
the shared call semantics: spans, retries, Retry-After, fallbacks, limits and faults."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sut_adapters.reference.procs import Service, stop_service
from tests.sut_adapters.reference.conftest import Http, elapsed

pytestmark = pytest.mark.live

SLACK = 0.2
WORKER = {"replicas": 1, "concurrency": 4, "service_time": "100ms",
          "llm": {"endpoint": "big", "fallback": ["small"], "input_tokens": 30,
                  "output_tokens": 5, "retry": {"attempts": 2, "base": "10ms",
                                                "jitter": "none",
                                                "on": ["error", "rate_limited"]}},
          "tools": [{"tool": "db"}]}


def build(services: Callable[..., Service]) -> dict[str, Service]:
    big = services("llm", "big", {"latency": "100ms",
                                  "price": {"input_per_token": 1e-6, "output_per_token": 1e-5}})
    small = services("llm", "small", {"latency": "50ms"})
    db = services("tool", "db", {"latency": "20ms", "price_per_call": 0.001})
    worker = services("agent", "worker", WORKER, replica=0,
                      endpoints={"big": big.url, "small": small.url}, tools={"db": db.url})
    return {"big": big, "small": small, "db": db, "worker": worker}


@pytest.fixture(scope="module")
def shared(module_services: Callable[..., Service]) -> dict[str, Service]:
    return build(module_services)


@pytest.fixture
def system(shared: dict[str, Service]) -> Iterator[dict[str, Service]]:
    """The module's system; every fault a test applied is removed after it."""
    yield shared
    for svc in shared.values():
        Http(svc.url, "test-token").call("DELETE", "/_squall/faults")


def invoke(svc: Service, within: float = 5.0, **body: Any) -> tuple[int, dict[str, Any],
                                                                    dict[str, str]]:
    status, headers, raw = Http(svc.url).call(
        "POST", "/invoke", {"limit": time.monotonic() + within, **body})
    return status, json.loads(raw), headers


def test_a_call_runs_service_time_then_llm_then_tool(system: dict[str, Service]) -> None:
    (status, body, _), took = elapsed(lambda: invoke(system["worker"]))
    assert status == 200
    work = body["squall"]
    assert [(s["kind"], s["component"], s["error"]) for s in work["spans"]] == [
        ("llm", "big", None), ("tool", "db", None)]
    assert (work["tokens_in"], work["tokens_out"]) == (30, 5)
    assert work["cost"] == pytest.approx(30e-6 + 5e-5 + 0.001)
    assert 0.22 <= took <= 0.22 + SLACK  # 100 ms service + 100 ms LLM + 20 ms tool


def test_a_failing_endpoint_is_retried_then_the_fallback_answers(
        system: dict[str, Service]) -> None:
    Http(system["big"].url, "test-token").json(
        "PUT", "/_squall/faults/e", {"target": "endpoint.big", "fault": {"kind": "error"}})
    status, body, _ = invoke(system["worker"])
    assert status == 200
    llm = [(s["component"], s["attempt"], s["error"], s["fallback"])
           for s in body["squall"]["spans"] if s["kind"] == "llm"]
    assert llm == [("big", 1, "error", False), ("big", 2, "error", False),
                   ("small", 1, None, True)]


def test_a_malformed_answer_is_billed_like_any_other(system: dict[str, Service]) -> None:
    """As in the simulator: the endpoint served the call to its end, so its tokens count
    (the mock says them in a header, as its body is broken)."""
    Http(system["big"].url, "test-token").json(
        "PUT", "/_squall/faults/m", {"target": "endpoint.big",
                                     "fault": {"kind": "error", "as": "malformed"}})
    _status, body, _ = invoke(system["worker"])
    big = [s for s in body["squall"]["spans"] if s["component"] == "big"]
    assert [s["error"] for s in big] == ["malformed"]  # not retried: only error, 429
    assert (big[0]["tokens_in"], big[0]["tokens_out"]) == (30, 5)
    assert big[0]["cost"] == pytest.approx(30 * 1e-6 + 5 * 1e-5)
    assert body["squall"]["tokens_out"] >= 5


def test_retries_wait_at_least_retry_after(system: dict[str, Service]) -> None:
    Http(system["big"].url, "test-token").json(
        "PUT", "/_squall/faults/s", {"target": "endpoint.big", "fault": {
            "kind": "rate_limit", "probability": 1.0, "retry_after": "300ms"}})
    Http(system["small"].url, "test-token").json(
        "PUT", "/_squall/faults/d", {"target": "endpoint.small", "fault": {"kind": "outage"}})
    status, body, _ = invoke(system["worker"])
    assert status == 502
    assert body["error"]["type"] == "unavailable"  # the last target's error
    big = [s for s in body["squall"]["spans"] if s["component"] == "big"]
    assert [s["error"] for s in big] == ["rate_limited", "rate_limited"]
    assert big[1]["start"] - big[0]["end"] >= 0.3
    # when the call ends rate-limited, the agent passes the Retry-After up to its caller
    Http(system["small"].url, "test-token").call("DELETE", "/_squall/faults/d")
    Http(system["small"].url, "test-token").json(
        "PUT", "/_squall/faults/s2", {"target": "endpoint.small", "fault": {
            "kind": "rate_limit", "probability": 1.0, "retry_after": "2s"}})
    status, body, headers = invoke(system["worker"])
    assert (status, body["error"]["type"]) == (502, "rate_limited")
    assert headers["Retry-After"] == "2"


def test_a_call_that_outlives_its_limit_times_out(system: dict[str, Service]) -> None:
    (status, body, _), took = elapsed(lambda: invoke(system["worker"], within=0.15))
    assert status == 502
    assert body["error"]["type"] == "timeout"
    assert took <= 0.15 + SLACK


def test_agent_faults_and_bad_input(system: dict[str, Service]) -> None:
    worker = system["worker"]
    control = Http(worker.url, "test-token")
    control.json("PUT", "/_squall/faults/o", {"target": "agent.worker",
                                              "fault": {"kind": "outage"}})
    status, body, _ = invoke(worker)
    assert (status, body["error"]["type"]) == (503, "unavailable")
    control.json("DELETE", "/_squall/faults/o")
    control.json("PUT", "/_squall/faults/b", {"target": "agent.worker",
                                              "fault": {"kind": "brownout", "factor": 3}})
    (_, _, _), slow = elapsed(lambda: invoke(worker))
    assert slow >= 0.3 + 0.1  # service 100 ms × 3, plus the LLM
    control.json("DELETE", "/_squall/faults/b")
    for bad in ({"limit": "soon"}, {"endpoint": "nope"}):
        status, _, raw = Http(worker.url).call("POST", "/invoke", bad)
        assert status == 400
        assert "error" in json.loads(raw)


def test_a_dead_endpoint_is_unavailable_and_the_fallback_takes_over(
        services: Callable[..., Service]) -> None:
    system = build(services)
    stop_service(system["big"])
    status, body, _ = invoke(system["worker"])
    assert status == 200
    llm = [(s["component"], s["error"]) for s in body["squall"]["spans"] if s["kind"] == "llm"]
    assert llm == [("big", "unavailable"), ("small", None)]  # not retried: not on its list


def test_an_llm_call_cut_off_by_the_limit_is_billed_in_the_trace(
        system: dict[str, Service]) -> None:
    # service time 100 ms, then the big LLM takes 100 ms: a 150 ms limit cuts it halfway;
    # the LLM serves it to its end all the same, so it is billed, as the simulator bills it
    status, body, _ = invoke(system["worker"], within=0.15)
    assert (status, body["error"]["type"]) == (502, "timeout")
    llm = [s for s in body["squall"]["spans"] if s["kind"] == "llm"]
    assert [(s["component"], s["error"]) for s in llm] == [("big", "timeout")]
    assert (llm[0]["tokens_in"], llm[0]["tokens_out"]) == (30, 5)
    assert llm[0]["cost"] == pytest.approx(30 * 1e-6 + 5 * 1e-5)
    assert body["squall"]["cost"] == pytest.approx(llm[0]["cost"])
