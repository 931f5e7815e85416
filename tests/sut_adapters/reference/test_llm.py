"""The mock LLM endpoint as a real process: OpenAI's API, the endpoint's latency model,
limits, malformed input, and every per-call fault applied and removed for real."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from sut_adapters.reference.procs import Service, StartError
from tests.sut_adapters.reference.conftest import Http, elapsed

pytestmark = pytest.mark.live

SLACK = 0.15  #: seconds a loopback hop and the event loop may add
CHAT = {"model": "m", "messages": [{"role": "user", "content": "x" * 400}], "max_tokens": 5}


def chat(http: Http, body: dict[str, Any] | None = None, **kw: Any) -> tuple[int, dict, bytes]:
    return http.call("POST", "/v1/chat/completions", body or CHAT, **kw)


def test_a_plain_completion_follows_the_latency_model(services: Callable[..., Service]) -> None:
    svc = services("llm", "big", {"ttft": "200ms", "per_token": "50ms",
                                  "price": {"input_per_token": 1e-6, "output_per_token": 2e-6}})
    http = Http(svc.url)
    (status, _, raw), took = elapsed(lambda: chat(http))
    assert status == 200
    body = json.loads(raw)
    assert body["usage"] == {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105}
    assert body["squall"]["cost"] == pytest.approx(100 * 1e-6 + 5 * 2e-6)
    assert 0.4 <= took <= 0.4 + SLACK  # 200 ms + 4 × 50 ms
    body2 = json.loads(chat(http, {**CHAT, "squall": {"input_tokens": 7}})[2])
    assert body2["usage"]["prompt_tokens"] == 7


def test_streaming_sends_the_first_token_at_ttft(services: Callable[..., Service]) -> None:
    svc = services("llm", "big", {"ttft": "300ms", "per_token": "20ms"})

    async def run() -> tuple[float, float, list[dict[str, Any]]]:
        async with aiohttp.ClientSession() as s:
            start = time.perf_counter()
            first_at, events = None, []
            async with s.post(f"{svc.url}/v1/chat/completions",
                              json={**CHAT, "max_tokens": 21, "stream": True},
                              timeout=aiohttp.ClientTimeout(total=10)) as r:
                assert r.headers["Content-Type"].startswith("text/event-stream")
                async for line in r.content:
                    if not line.startswith(b"data: "):
                        continue
                    first_at = first_at or time.perf_counter() - start
                    payload = line[6:].strip()
                    if payload == b"[DONE]":
                        break
                    events.append(json.loads(payload))
            return first_at or 0.0, time.perf_counter() - start, events

    ttft, total, events = asyncio.run(run())
    assert 0.3 <= ttft <= 0.3 + SLACK
    assert 0.7 <= total <= 0.7 + SLACK  # 300 ms + 20 × 20 ms
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
    assert text.count("tok") == 21
    assert events[-1]["usage"]["completion_tokens"] == 21
    assert events[-1]["choices"][0]["finish_reason"] == "length"


def test_a_full_queue_sheds_and_a_queued_call_waits(services: Callable[..., Service]) -> None:
    svc = services("llm", "small", {"latency": "400ms", "concurrency": 1, "queue_limit": 1})

    async def run() -> list[tuple[int, dict[str, Any]]]:
        async with aiohttp.ClientSession() as s:
            async def one(delay: float) -> tuple[int, dict[str, Any]]:
                await asyncio.sleep(delay)
                async with s.post(f"{svc.url}/v1/chat/completions", json=CHAT) as r:
                    return r.status, await r.json(content_type=None)
            return await asyncio.gather(one(0), one(0.05), one(0.1))

    (s1, _), (s2, b2), (s3, b3) = asyncio.run(run())
    assert (s1, s2, s3) == (200, 200, 503)
    assert b3["error"]["type"] == "overloaded"
    assert b2["squall"]["queue_s"] == pytest.approx(0.35, abs=SLACK)


def test_rate_limits_answer_429_with_retry_after(services: Callable[..., Service]) -> None:
    svc = services("llm", "limited", {"latency": "10ms", "rate_limit": {"rpm": 2}})
    http = Http(svc.url)
    assert [chat(http)[0] for _ in range(2)] == [200, 200]
    status, headers, raw = chat(http)
    assert status == 429
    assert float(headers["Retry-After"]) == pytest.approx(30.0, abs=1.0)  # 1 of 2/min
    assert json.loads(raw)["error"]["type"] == "rate_limited"
    big = {**CHAT, "max_tokens": 10_000}
    svc2 = services("llm", "tpm", {"latency": "10ms", "rate_limit": {"tpm": 1000}})
    assert chat(Http(svc2.url), big)[0] == 400  # larger than the token limit: never fits


@pytest.mark.parametrize(("raw", "status", "says"), [
    (b"not json", 400, "not JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b'{"messages": []}', 400, "messages"),
    (b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": -3}', 400, "max_tokens"),
    (b'{"messages": [{"role": "user", "content": "hi"}], "stream": "yes"}', 400, "stream"),
    (b"x" * (2 << 20), 413, "larger"),
])
def test_malformed_requests_get_a_json_4xx_and_the_service_keeps_serving(
        clean: Service, raw: bytes, status: int, says: str) -> None:
    svc = clean
    http = Http(svc.url)
    got, _, body = http.call("POST", "/v1/chat/completions", raw=raw)
    assert got == status
    assert says in json.loads(body)["error"]["message"]
    assert chat(http)[0] == 200


def test_the_control_api_needs_the_token(clean: Service) -> None:
    svc = clean
    fault = {"target": "endpoint.big", "fault": {"kind": "latency", "add": "1s"}}
    for http in (Http(svc.url), Http(svc.url, "wrong")):
        status, body = http.json("PUT", "/_squall/faults/f1", fault)
        assert status == 401
        assert body["error"]["type"] == "unauthorized"
    assert Http(svc.url).json("GET", "/_squall/health")[0] == 200  # health is open
    assert Http(svc.url, "test-token").json("GET", "/_squall/faults") == (200, {"faults": []})


def test_a_latency_fault_applies_and_its_removal_restores(
        services: Callable[..., Service]) -> None:
    svc = services("llm", "big", {"latency": "100ms"})
    http = Http(svc.url, "test-token")
    _, base = elapsed(lambda: chat(http))
    status, _ = http.json("PUT", "/_squall/faults/slow", {
        "target": "endpoint.big", "fault": {"kind": "latency", "add": "500ms"}})
    assert status == 201
    _, slow = elapsed(lambda: chat(http))
    assert http.json("DELETE", "/_squall/faults/slow") == (200, {"removed": "slow"})
    _, after = elapsed(lambda: chat(http))
    assert 0.6 <= slow <= 0.6 + SLACK
    assert base < 0.1 + SLACK
    assert after < 0.1 + SLACK
    assert http.json("DELETE", "/_squall/faults/slow")[0] == 404


def test_a_lapsed_lease_removes_the_fault_by_itself(clean: Service) -> None:
    svc = clean
    http = Http(svc.url, "test-token")
    http.json("PUT", "/_squall/faults/down", {"target": "endpoint.big", "lease_s": 0.5,
                                              "fault": {"kind": "outage"}})
    assert chat(http)[0] == 503
    assert http.json("POST", "/_squall/faults/down/renew", {"lease_s": 0.5})[0] == 200
    time.sleep(1.0)
    assert chat(http)[0] == 200
    assert http.json("GET", "/_squall/faults") == (200, {"faults": []})


@pytest.mark.parametrize(("fault", "status", "kind"), [
    ({"kind": "error", "as": "error"}, 500, "error"),
    ({"kind": "rate_limit", "probability": 1.0, "retry_after": "7s"}, 429, "rate_limited"),
    ({"kind": "outage", "mode": "fail_fast"}, 503, "unavailable"),
])
def test_error_faults_answer_as_the_simulator_says(clean: Service,
                                                   fault: dict[str, Any], status: int,
                                                   kind: str) -> None:
    svc = clean
    http = Http(svc.url, "test-token")
    assert http.json("PUT", "/_squall/faults/f", {"target": "endpoint.big", "fault": fault})[0] \
        == 201
    got, headers, raw = chat(http)
    assert got == status
    assert json.loads(raw)["error"]["type"] == kind
    if status == 429:
        assert headers["Retry-After"] == "7"
    http.json("DELETE", "/_squall/faults")
    assert chat(http)[0] == 200


def test_a_malformed_answer_is_not_json(clean: Service) -> None:
    svc = clean
    http = Http(svc.url, "test-token")
    http.json("PUT", "/_squall/faults/m", {"target": "endpoint.big",
                                           "fault": {"kind": "error", "as": "malformed"}})
    status, _, raw = chat(http)
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)


def test_a_hang_holds_until_the_client_gives_up(clean: Service) -> None:
    svc = clean
    http = Http(svc.url, "test-token")
    http.json("PUT", "/_squall/faults/h", {"target": "endpoint.big",
                                           "fault": {"kind": "error", "as": "timeout"}})
    with pytest.raises(TimeoutError):
        chat(http, timeout=0.5)
    http.json("DELETE", "/_squall/faults/h")
    assert chat(http)[0] == 200


def test_a_partial_outage_takes_slots_and_gives_them_back(
        services: Callable[..., Service]) -> None:
    svc = services("llm", "big", {"latency": "300ms", "concurrency": 4, "queue_limit": 0})
    http = Http(svc.url, "test-token")

    async def burst(n: int) -> list[int]:
        async with aiohttp.ClientSession() as s:
            async def one() -> int:
                async with s.post(f"{svc.url}/v1/chat/completions", json=CHAT) as r:
                    await r.read()
                    return r.status
            return await asyncio.gather(*[one() for _ in range(n)])

    assert sorted(asyncio.run(burst(4))) == [200] * 4
    http.json("PUT", "/_squall/faults/half", {"target": "endpoint.big",
                                              "fault": {"kind": "partial_outage",
                                                        "percent": 0.5}})
    assert sorted(asyncio.run(burst(4))) == [200, 200, 503, 503]
    http.json("DELETE", "/_squall/faults/half")
    assert sorted(asyncio.run(burst(4))) == [200] * 4


@pytest.mark.parametrize(("body", "status", "says"), [
    ({"target": "endpoint.nope", "fault": {"kind": "outage"}}, 404, "no target"),
    ({"target": "endpoint.big", "fault": {"kind": "latency", "add": "soon"}}, 400, "fault."),
    ({"target": "endpoint.big", "fault": {"kind": "crash"}}, 400, "fault"),
    ({"target": "endpoint.big", "fault": {"kind": "outage"}, "lease_s": -1}, 400, "lease_s"),
    ({"fault": {"kind": "outage"}}, 400, "target"),
])
def test_bad_fault_requests_are_refused_with_the_reason(
        clean: Service, body: dict[str, Any], status: int, says: str) -> None:
    svc = clean
    got, answer = Http(svc.url, "test-token").json("PUT", "/_squall/faults/x", body)
    assert got == status
    assert says in answer["error"]["message"]


def test_a_service_that_cannot_start_says_why(clean: Service,
                                            services: Callable[..., Service]) -> None:
    svc = clean
    with pytest.raises(StartError, match="did not start"):
        services("llm", "clash", {"latency": "10ms"}, port=svc.port)  # port in use


def test_a_completion_its_caller_gave_up_on_is_billed_in_full(
        services: Callable[..., Service]) -> None:
    import time

    svc = services("llm", "slow", {"latency": "400ms",
                                   "price": {"input_per_token": 1e-6, "output_per_token": 2e-6}})
    http = Http(svc.url)
    limit = {"X-Squall-Limit": repr(time.monotonic() + 0.05)}
    status, headers, raw = chat(http, headers=limit)
    assert (status, json.loads(raw)["error"]["type"]) == (504, "timeout")
    tin, tout, cost = headers["X-Squall-Usage"].split(",")
    assert (int(tin), int(tout)) == (100, 5)  # as the simulator: abandoned work is billed
    assert float(cost) == pytest.approx(100 * 1e-6 + 5 * 2e-6)
