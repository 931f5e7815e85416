"""The orchestrator as a real process over real agent replicas and a mock endpoint:
workflows, fallbacks, deadlines, workflow faults and the trace it answers with."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
import pytest

from sut_adapters.reference.procs import Service
from tests.sut_adapters.reference.conftest import Http, elapsed

pytestmark = pytest.mark.live

SLACK = 0.2
SYSTEM: dict[str, Any] = {
    "endpoints": {"m": {"latency": "50ms"}},
    "agents": {
        "a": {"replicas": 1, "service_time": "50ms", "llm": {"endpoint": "m"},
              "fallback": ["lite"]},
        "b": {"replicas": 1, "service_time": "50ms"},
        "lite": {"replicas": 1, "service_time": "10ms"},
        "slow": {"replicas": 1, "service_time": "300ms"},
        "bounded": {"replicas": 1, "service_time": "10ms", "llm": {"endpoint": "m"},
                    "timeout": "300ms"},
        "overrun": {"replicas": 1, "concurrency": 1, "service_time": "1s",
                    "timeout": "200ms"},
        "fragile": {"replicas": 1, "llm": {"endpoint": "m", "circuit_breaker": {
            "failure_rate": "50%", "window": 4, "min_calls": 2, "open_for": "10s"}}},
    },
    "workflows": {
        "seq": {"steps": ["a", "b"]},
        "fan": {"steps": [{"parallel": ["slow", "b"], "join": "any"}]},
        "late": {"steps": ["slow"], "deadline": "150ms"},
        "bounded": {"steps": ["bounded"]},
        "overrun": {"steps": ["overrun"]},
        "fragile": {"steps": ["fragile"]},
    },
}


@pytest.fixture(scope="module")
def shared(module_services: Callable[..., Service]) -> dict[str, Service]:
    m = module_services("llm", "m", SYSTEM["endpoints"]["m"])
    replicas: dict[str, dict[int, str]] = {}
    out = {"m": m}
    for name, spec in SYSTEM["agents"].items():
        svc = module_services("agent", name, spec, replica=0, endpoints={"m": m.url}, tools={})
        replicas[name] = {0: svc.url}
        out[name] = svc
    out["orchestrator"] = module_services("orchestrator", "main", SYSTEM, replicas=replicas)
    return out


@pytest.fixture
def system(shared: dict[str, Service]) -> Iterator[dict[str, Service]]:
    yield shared
    for svc in shared.values():
        Http(svc.url, "test-token").call("DELETE", "/_squall/faults")


def run(system: dict[str, Service], workflow: str, **body: Any) -> tuple[int, dict[str, Any]]:
    return Http(system["orchestrator"].url).json("POST", f"/v1/workflows/{workflow}", body)


def test_a_workflow_runs_its_steps_and_answers_with_its_trace(
        system: dict[str, Service]) -> None:
    (status, body), took = elapsed(lambda: run(system, "seq", request_id=7))
    assert status == 200
    trace = body["squall"]
    assert (trace["request_id"], trace["steps"], trace["attempts"]) == ("7", 2, 2)
    assert [(s["kind"], s["component"], s["caller"]) for s in trace["spans"]] == [
        ("agent", "a", "orchestrator"), ("llm", "m", "a"), ("agent", "b", "orchestrator")]
    assert trace["tokens_out"] == 100  # the LlmCall's default output
    assert 0.15 <= took <= 0.15 + SLACK  # a: 50 + 50 ms, b: 50 ms


def test_a_failing_agent_falls_back(system: dict[str, Service]) -> None:
    Http(system["a"].url, "test-token").json(
        "PUT", "/_squall/faults/o", {"target": "agent.a", "fault": {"kind": "outage"}})
    status, body = run(system, "seq")
    assert status == 200
    trace = body["squall"]
    assert trace["fallback"] is True
    agents = [(s["component"], s["error"], s["fallback"]) for s in trace["spans"]
              if s["kind"] == "agent"]
    assert agents == [("a", "unavailable", False), ("lite", None, True), ("b", None, False)]


def test_join_any_answers_with_the_first_branch(system: dict[str, Service]) -> None:
    (status, _), took = elapsed(lambda: run(system, "fan"))
    assert status == 200
    assert took <= 0.05 + SLACK  # b answers; slow runs on, abandoned


def test_the_deadline_ends_the_request(system: dict[str, Service]) -> None:
    (status, body), took = elapsed(lambda: run(system, "late"))
    assert (status, body["error"]["type"]) == (504, "deadline")
    assert 0.15 <= took <= 0.15 + SLACK


def test_an_agent_answers_at_its_limit_with_the_trace_so_far(
        system: dict[str, Service]) -> None:
    """The LLM hangs; the agent's 300 ms run out: the orchestrator still gets the agent's
    answer, with the LLM call's span, as the simulator records it."""
    Http(system["m"].url, "test-token").json("PUT", "/_squall/faults/h", {
        "target": "endpoint.m", "fault": {"kind": "error", "as": "timeout"}})
    (status, body), took = elapsed(lambda: run(system, "bounded"))
    assert (status, body["error"]["type"]) == (504, "timeout")
    spans = [(s["kind"], s["component"], s["error"]) for s in body["squall"]["spans"]]
    assert spans == [("agent", "bounded", "timeout"), ("llm", "m", "timeout")]
    llm = body["squall"]["spans"][1]
    assert 0.29 - 0.01 <= llm["end"] - body["squall"]["start"] <= 0.3 + SLACK
    assert took <= 0.3 + SLACK


def test_work_that_outlives_its_limit_answers_then_and_holds_its_slot(
        system: dict[str, Service]) -> None:
    """1 s of service under a 200 ms limit: a timeout at 200 ms, the slot held for the
    whole second (as the simulator holds it); a call queued behind it leaves the queue at
    its own limit."""
    (first, took) = elapsed(lambda: run(system, "overrun"))
    assert (first[0], first[1]["error"]["type"]) == (504, "timeout")
    assert took <= 0.2 + SLACK
    load = Http(system["overrun"].url, "test-token").json("GET", "/_squall/load")[1]
    assert load["busy"] == 1
    (second, took) = elapsed(lambda: run(system, "overrun"))
    assert (second[0], second[1]["error"]["type"]) == (504, "timeout")
    assert second[1]["squall"]["spans"][0]["queue_s"] >= 0.15
    assert took <= 0.2 + SLACK


def test_a_breakers_transitions_come_back_with_the_request_that_moved_it(
        system: dict[str, Service]) -> None:
    Http(system["m"].url, "test-token").json("PUT", "/_squall/faults/e", {
        "target": "endpoint.m", "fault": {"kind": "error"}})
    moved = [e for _ in range(3) for e in run(system, "fragile")[1]["squall"]["events"]]
    assert [(e["type"], e["component"], e["from"], e["to"]) for e in moved] == [
        ("breaker", "fragile→m", "closed", "open")]
    _, body = run(system, "fragile")  # open: refused without a call
    assert body["squall"]["spans"][-1]["error"] == "circuit_open"


def test_a_workflow_fault_applies_at_the_orchestrator(system: dict[str, Service]) -> None:
    control = Http(system["orchestrator"].url, "test-token")
    assert control.json("PUT", "/_squall/faults/w", {
        "target": "workflow.seq", "fault": {"kind": "error"}})[0] == 201
    status, body = run(system, "seq")
    assert (status, body["error"]["type"]) == (502, "error")
    assert run(system, "fan")[0] == 200  # other workflows are untouched
    control.json("DELETE", "/_squall/faults/w")
    assert run(system, "seq")[0] == 200


def test_bad_requests_and_the_replica_api(system: dict[str, Service]) -> None:
    orch = Http(system["orchestrator"].url)
    status, body = orch.json("POST", "/v1/workflows/nope", {})
    assert (status, body["error"]["type"]) == (404, "unknown_workflow")
    status, body = orch.json("POST", "/v1/workflows/seq", {"priority": "urgent"})
    assert status == 400
    assert "priority" in body["error"]["message"]
    status, _, raw = orch.call("PUT", "/_squall/replicas", {"a": {}})
    assert status == 401
    assert json.loads(raw)["error"]["type"] == "unauthorized"


def test_a_shared_queue_spans_the_replicas_as_in_the_simulator(
        services: Callable[..., Service]) -> None:
    """``balancer: queue`` (the default): one queue in front of all replicas' slots, as
    the simulator's shared station — two replicas of one slot and a queue of one: two
    calls run, one waits for the first free slot, one is shed."""
    system = {"agents": {"q": {"replicas": 2, "concurrency": 1, "service_time": "300ms",
                               "queue_limit": 1}},
              "workflows": {"w": {"steps": ["q"]}}}
    replicas = {i: services("agent", "q", system["agents"]["q"], replica=i, endpoints={},
                            tools={}).url for i in range(2)}
    orch = services("orchestrator", "main", system, replicas={"q": replicas})

    async def burst() -> list[tuple[int, dict[str, Any]]]:
        async with aiohttp.ClientSession() as s:
            async def one(delay: float) -> tuple[int, dict[str, Any]]:
                await asyncio.sleep(delay)
                async with s.post(f"{orch.url}/v1/workflows/w", json={}) as r:
                    return r.status, await r.json()
            return await asyncio.gather(*(one(0.03 * i) for i in range(4)))

    answers = asyncio.run(burst())
    assert sorted(status for status, _ in answers) == [200, 200, 200, 502]
    shed = next(body for status, body in answers if status == 502)
    assert shed["error"]["type"] == "overloaded"
    waited = [body["squall"]["spans"][0]["queue_s"] for status, body in answers
              if status == 200]
    assert sorted(waited)[-1] == pytest.approx(0.3, abs=0.15)  # the queued one
