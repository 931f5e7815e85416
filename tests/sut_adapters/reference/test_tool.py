"""A tool service as a real process: latency, slots, error rate, price, and faults."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import aiohttp
import pytest

from sut_adapters.reference.procs import Service
from tests.sut_adapters.reference.conftest import Http, elapsed

pytestmark = pytest.mark.live

SLACK = 0.15


def test_a_tool_call_takes_its_latency_and_costs_its_price(
        services: Callable[..., Service]) -> None:
    svc = services("tool", "db", {"latency": "200ms", "price_per_call": 0.002})
    http = Http(svc.url, "test-token")
    (status, _, raw), took = elapsed(lambda: http.call("POST", "/call", {}))
    assert status == 200
    assert json.loads(raw)["squall"] == {"tool": "db", "queue_s": 0.0, "cost": 0.002}
    assert 0.2 <= took <= 0.2 + SLACK
    # an injected 5xx arrives after the latency and is not billed; removal restores
    http.json("PUT", "/_squall/faults/e", {"target": "tool.db", "fault": {"kind": "error"}})
    status, _, raw = http.call("POST", "/call", {})
    assert (status, json.loads(raw)["error"]["type"]) == (500, "error")
    http.json("DELETE", "/_squall/faults/e")
    assert http.call("POST", "/call", {})[0] == 200


def test_a_tool_error_rate_fails_that_share_of_calls(services: Callable[..., Service]) -> None:
    svc = services("tool", "flaky", {"latency": "1ms", "error_rate": 0.3}, seed=3)

    async def run() -> list[int]:
        async with aiohttp.ClientSession() as s:
            async def one() -> int:
                async with s.post(f"{svc.url}/call", json={}) as r:
                    await r.read()
                    return r.status
            return await asyncio.gather(*[one() for _ in range(400)])

    statuses = asyncio.run(run())
    share = statuses.count(500) / len(statuses)
    assert share == pytest.approx(0.3, abs=4 * (0.3 * 0.7 / 400) ** 0.5)
    assert set(statuses) <= {200, 500}


def test_an_outage_that_hangs_holds_the_call(services: Callable[..., Service]) -> None:
    svc = services("tool", "db", {"latency": "10ms"})
    http = Http(svc.url, "test-token")
    http.json("PUT", "/_squall/faults/o", {"target": "tool.db",
                                           "fault": {"kind": "outage", "mode": "hang"}})
    with pytest.raises(TimeoutError):
        http.call("POST", "/call", {}, timeout=0.5)
    assert http.json("DELETE", "/_squall/faults/o")[0] == 200
    assert http.call("POST", "/call", {})[0] == 200


def test_a_call_its_caller_gave_up_on_is_billed_as_the_simulator_bills_it(
        services: Callable[..., Service]) -> None:
    import time

    svc = services("tool", "slow", {"latency": "300ms", "price_per_call": 0.002})
    http = Http(svc.url, "test-token")
    limit = {"X-Squall-Limit": repr(time.monotonic() + 0.05)}
    status, headers, raw = http.call("POST", "/call", {}, headers=limit)
    assert (status, json.loads(raw)["error"]["type"]) == (504, "timeout")
    assert headers["X-Squall-Usage"] == "0,0,0.002"  # the work goes on: it costs
    http.json("PUT", "/_squall/faults/m", {"target": "tool.slow",
                                          "fault": {"kind": "error", "as": "malformed"}})
    status, headers, _ = http.call("POST", "/call", {})
    assert (status, headers["X-Squall-Usage"]) == (200, "0,0,0.002")  # served: billed
    http.json("DELETE", "/_squall/faults/m")
