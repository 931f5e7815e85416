"""Gates on replications: a gate passes only if its whole interval does."""

from __future__ import annotations

import pytest

from harness.gates.spec import parse_gate
from harness.judging.evaluate import evaluate_gate, judge_replications
from harness.scoring.aggregate import aggregate
from harness.scoring.model import GateResult, GateStatus, Summary
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
    judged = judge_replications(agg, replicas([[], [], [], []]), gates)
    assert judged.verdict == "inconclusive"


def _judged(results: list[GateResult]) -> Summary:
    rep = replicas([[]])[0]
    rep.gates = results
    return rep


def test_every_window_gates_hold_only_if_every_replication_held() -> None:
    agg = aggregate(replicas([[], []]))
    gate = parse_gate("every window: error_rate < 50%")
    ok = GateResult(name=gate.text, passed=True, status=GateStatus.PASS, value=0.0,
                    threshold=0.5)
    bad = ok.model_copy(update={"passed": False, "status": GateStatus.FAIL, "value": 1.0})
    other = ok.model_copy(update={"name": "every window: latency.p95 < 1s"})
    both_ok = [_judged([other, ok]), _judged([ok])]
    assert judge_replications(agg, both_ok, [gate]).gates[0].status == "pass"
    failed = judge_replications(agg, [_judged([ok]), _judged([other, bad])], [gate]).gates[0]
    assert failed.status == "fail"
    assert failed.value == 1.0
    assert "1 of 2 replications" in failed.reason


def test_a_window_gate_a_replication_did_not_judge_fails() -> None:
    agg = aggregate(replicas([[], []]))
    gate = parse_gate("every window: error_rate < 50%")
    ok = GateResult(name=gate.text, passed=True, status=GateStatus.PASS, value=0.0,
                    threshold=0.5)
    result = judge_replications(agg, [_judged([ok]), _judged([])], [gate]).gates[0]
    assert result.status == "fail"
    assert "1 did not judge it" in result.reason


def test_scoped_gates_are_judged_on_their_own_interval() -> None:
    # Per-replication workflow attainment 0.9, 0.8, 1.0, 0.9: the scoped gate must get the
    # same interval as the run-wide one (one workflow), never the bare point estimate.
    agg = aggregate(replicas([[(0, 10)], [(0, 20)], [], [(50, 60)]]))
    scoped = evaluate_gate(parse_gate("workflow only: attainment >= 90%"), agg)
    unscoped = evaluate_gate(parse_gate("attainment >= 90%"), agg)
    assert unscoped.status == "inconclusive"
    assert scoped.status == "inconclusive"
    assert scoped.interval == unscoped.interval
    phase = evaluate_gate(parse_gate("phase baseline: latency.p95 < 1s"), agg)
    assert phase.interval is not None


def test_a_relative_gate_counts_the_baselines_uncertainty_too() -> None:
    base = aggregate(replicas([[(0, 10)], [(0, 20)], [], [(50, 60)]]))
    cand = aggregate(replicas([[(0, 8)], [(0, 18)], [], [(50, 58)]]))
    gate = parse_gate("attainment >= baseline")
    # Against the baseline's point estimate alone the candidate's interval would pass.
    assert cand.intervals["attainment"][0] < base.metrics["attainment"]  # type: ignore[index]
    result = evaluate_gate(gate, cand, baseline=base)
    assert result.status == "inconclusive"
    assert "baseline's uncertainty" in result.reason
    clear = aggregate(replicas([[], [], [], []]))
    worse = aggregate(replicas([[(0, 60)], [(0, 70)], [(0, 50)], [(0, 65)]]))
    assert evaluate_gate(parse_gate("attainment >= baseline * 0.9"), clear,
                         baseline=worse).status == "pass"
    assert evaluate_gate(gate, worse, baseline=clear).status == "fail"


def test_the_replicated_resilience_score_is_its_formula_over_the_shown_components() -> None:
    agg = aggregate(replicas([[(0, 10)], [(0, 40)], [], [(50, 60)]]))
    r = agg.resilience
    formula = 100 * sum(r.weights[k] * (v or 0.0) for k, v in r.components.items())
    assert formula == pytest.approx(agg.resilience_score, abs=0.01)
