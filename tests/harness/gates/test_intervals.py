"""Gates on replications: a gate passes only if its whole interval does."""

from __future__ import annotations

import pytest

from harness.gates.evaluate import evaluate_gate, judge_replications
from harness.gates.spec import parse_gate
from harness.scoring.aggregate import aggregate
from harness.scoring.model import GateResult, GateStatus
from harness.scoring.score import score_run
from tests.harness.scoring.helpers import per_second, requests, run, scenario


def replicas(bad: list[list[tuple[float, float]]]):  # type: ignore[no-untyped-def]
    return [score_run(run(requests(per_second(100, bad=b))), scenario()).summary
            for b in bad]


def test_aggregate_pools_proportions_and_averages_the_rest() -> None:
    reps = replicas([[(0, 10)], [(0, 20)], [], [(50, 60)]])
    agg = aggregate(reps)
    assert agg.replications == 4
    assert agg.requests.total == 400
    assert agg.metrics["attainment"] == pytest.approx(360 / 400)
    lo, hi = agg.intervals["attainment"]  # type: ignore[misc]
    assert lo < 0.9 < hi
    assert agg.samples["attainment"] == [0.9, 0.8, 1.0, 0.9]
    assert agg.metrics["latency.p95"] == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("gate", "status"),
    [("attainment >= 50%", "pass"), ("attainment >= 99.9%", "fail"),
     ("attainment >= 90%", "inconclusive")],
)
def test_a_gate_is_judged_on_its_whole_interval(gate: str, status: str) -> None:
    agg = aggregate(replicas([[(0, 10)], [(0, 20)], [], [(50, 60)]]))
    result = evaluate_gate(parse_gate(gate), agg)
    assert result.status.value == status
    assert result.interval is not None
    if status == "inconclusive":
        assert "straddles" in result.reason
        assert result.passed is None


def test_inconclusive_gates_make_an_inconclusive_verdict() -> None:
    agg = aggregate(replicas([[(0, 10)], [(0, 20)], [], [(50, 60)]]))
    gates = [parse_gate("attainment >= 50%"), parse_gate("attainment >= 90%")]
    judged = judge_replications(agg, [[], [], [], []], gates)
    assert judged.verdict == "inconclusive"


def test_every_window_gates_hold_only_if_every_replication_held() -> None:
    agg = aggregate(replicas([[], []]))
    gate = parse_gate("every window: error_rate < 50%")
    ok = GateResult(name=gate.text, passed=True, status=GateStatus.PASS, value=0.0,
                    threshold=0.5)
    bad = ok.model_copy(update={"passed": False, "status": GateStatus.FAIL, "value": 1.0})
    assert judge_replications(agg, [[ok], [ok]], [gate]).gates[0].status == "pass"
    failed = judge_replications(agg, [[ok], [bad]], [gate]).gates[0]
    assert failed.status == "fail"
    assert failed.value == 1.0
    assert "1 of 2 replications" in failed.reason
