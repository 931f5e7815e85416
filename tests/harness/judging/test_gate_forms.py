"""Gate forms beyond the plain comparison: baseline ± x, !=, per-window max and mean."""

from __future__ import annotations

import pytest

from harness.gates.spec import parse_gate
from harness.judging.evaluate import evaluate_gate, judge
from harness.scoring.score import score_run
from tests.harness.scoring.helpers import per_second, requests, run, scenario


def summary(latency: float = 0.1, bad: list[tuple[float, float]] | None = None):  # type: ignore[no-untyped-def]
    return score_run(run(requests(per_second(100, bad=bad or [], latency=latency))),
                     scenario()).summary


@pytest.mark.parametrize(("gate", "status"), [
    ("latency.p95 <= baseline + 50ms", "pass"),   # 0.14 ≤ 0.10 + 0.05
    ("latency.p95 <= baseline + 30ms", "fail"),   # 0.14 > 0.13
    ("latency.p95 >= baseline - 50ms", "pass"),
    ("latency.p95 <= baseline * 1.5", "pass"),
    ("latency.p95 <= baseline", "fail"),
])
def test_baseline_plus_minus_and_times(gate: str, status: str) -> None:
    base, cand = summary(0.10), summary(0.14)
    assert evaluate_gate(parse_gate(gate), cand, baseline=base).status == status


def test_a_relative_gate_without_a_baseline_is_skipped_and_gives_no_verdict() -> None:
    sc = scenario(gates=["latency.p95 <= baseline * 1.1"])
    judged = judge(score_run(run(requests(per_second(100))), sc), sc.gate_list())
    assert judged.gates[0].status == "skipped"
    assert judged.verdict == "none"


def test_not_equal() -> None:
    s = summary(bad=[(0, 10)])
    assert evaluate_gate(parse_gate("requests.error != 0"), s).status == "pass"
    assert evaluate_gate(parse_gate("requests.timeout != 0"), s).status == "fail"


@pytest.mark.parametrize(("gate", "status", "worst"), [
    ("every window: latency.max < 1s", "fail", 1.5),
    ("every window: latency.max < 2s", "pass", 1.5),
    ("every window: latency.mean < 200ms", "fail", 1.5),
    ("every window: latency.mean < 2s", "pass", 1.5),
])
def test_per_window_max_and_mean(gate: str, status: str, worst: float) -> None:
    rows = per_second(100)
    rows[42] = (42.0, 1.5, "ok")  # one slow request, alone in its window's latency
    sc = scenario(gates=[gate])
    judged = judge(score_run(run(requests(rows)), sc), sc.gate_list())
    result = judged.gates[0]
    assert result.status == status
    if gate.startswith("every window: latency.max"):
        assert result.value == pytest.approx(worst)
    else:  # the window 40–50 s: nine 0.1 s requests and one 1.5 s one
        assert result.value == pytest.approx((9 * 0.1 + 1.5) / 10)
