from __future__ import annotations

import pytest

from harness.judging.evaluate import judge
from harness.outcomes import RunStatus
from harness.scoring.score import score_run
from tests.harness.scoring.helpers import per_second, requests, run, scenario


def test_attainment_counts_every_arrival_in_the_denominator() -> None:
    rows = [(0.0, 0.5, "ok"), (1.0, 2.0, "ok"), (2.0, 0.1, "error"), (3.0, None, "dropped"),
            (4.0, 0.2, "rejected"), (5.0, 0.3, "ok"), (6.0, 5.0, "timeout"), (7.0, 0.9, "ok")]
    s = score_run(run(requests(rows)), scenario("10s")).summary
    assert s.requests.total == 8
    assert (s.requests.ok, s.requests.error, s.requests.dropped) == (4, 1, 1)
    assert s.sla.attainment == pytest.approx(3 / 8)  # ok and ≤ 1 s: 0.5, 0.3, 0.9
    assert s.metrics["success_rate"] == pytest.approx(4 / 8)
    assert s.goodput_rps == pytest.approx(3 / 10)
    assert s.latency_s.max == 2.0  # latency is over successful requests only
    assert s.latency_s.p50 == pytest.approx(0.7)


def test_window_adherence_counts_compliant_windows_with_traffic() -> None:
    # 10 windows of 10 s; windows 3 and 4 (30–50 s) fail every request.
    s = score_run(run(requests(per_second(100, bad=[(30, 50)]))), scenario()).summary
    assert s.sla.windows == 10
    assert s.sla.compliant_windows == 8
    assert s.sla.window_adherence == pytest.approx(0.8)


def test_recovery_time_runs_from_fault_start_to_a_stable_compliant_stretch() -> None:
    fault = "- {id: slow, kind: latency, target: agent.worker, at: 25s, duration: 15s, add: 1s}\n"
    s = score_run(run(requests(per_second(100, bad=[(30, 50)]))), scenario(faults=fault)).summary
    (rec,) = s.recovery
    assert not rec.absorbed
    assert rec.time_to_detect_s == pytest.approx(5.0)  # the window starting at 30 s
    assert rec.recovery_time_s == pytest.approx(25.0)  # compliant again from 50 s
    assert rec.recovery_after_end_s == pytest.approx(10.0)  # the fault ended at 40 s
    assert s.metrics["recovery.max"] == pytest.approx(25.0)


def test_a_fault_that_never_hurt_is_absorbed() -> None:
    fault = "- {kind: latency, target: agent.worker, at: 20s, duration: 10s, add: 1s}\n"
    s = score_run(run(requests(per_second(100))), scenario(faults=fault)).summary
    assert s.recovery[0].absorbed
    assert s.recovery[0].recovery_time_s == 0.0
    assert s.metrics["recovery.max"] == 0.0


def test_a_fault_that_never_recovered_has_null_recovery_and_fails_its_gate() -> None:
    fault = "- {kind: latency, target: agent.worker, at: 60s, duration: 10s, add: 1s}\n"
    sc = scenario(faults=fault, gates=["recovery.max <= 60s"])
    s = judge(score_run(run(requests(per_second(100, bad=[(60, 100)]))), sc), sc.gate_list())
    assert s.recovery[0].recovery_time_s is None
    assert s.metrics["recovery.max"] is None
    assert s.gates[0].status == "fail"
    assert s.verdict == "fail"


def test_a_stable_stretch_cut_short_by_the_end_is_not_a_recovery() -> None:
    fault = "- {kind: latency, target: agent.worker, at: 50s, duration: 10s, add: 1s}\n"
    # bad 50–90 s: only the last window (90–100) is compliant; stability is 2 windows.
    s = score_run(run(requests(per_second(100, bad=[(50, 90)]))), scenario(faults=fault)).summary
    assert s.recovery[0].recovery_time_s is None


def test_cost_adds_tokens_and_replica_seconds_and_cold_starts() -> None:
    events = [
        {"t_s": 0.0, "type": "replica_start", "agent": "worker", "replica": 0,
         "cold_start_s": 0, "price_per_s": 0.01},
        {"t_s": 40.0, "type": "replica_start", "agent": "worker", "replica": 1,
         "cold_start_s": 5, "price_per_s": 0.01},
        {"t_s": 70.0, "type": "replica_stop", "agent": "worker", "replica": 1, "reason": "down"},
    ]
    s = score_run(run(requests(per_second(100), cost=0.002), events),
                  scenario(cold=0.5)).summary
    assert s.cost.llm_usd == pytest.approx(100 * 0.002)
    # 100 s + 30 s of replicas at 0.01 $/s, plus one cold start at 0.5 $.
    assert s.cost.compute_usd == pytest.approx(1.3 + 0.5)
    assert s.cost.total_usd == pytest.approx(0.2 + 1.8)
    assert s.cost.per_good_request_usd == pytest.approx(2.0 / 100)
    assert s.cost.cold_starts == 1


def test_wasted_cost_without_spans_counts_failed_requests() -> None:
    s = score_run(run(requests(per_second(100, bad=[(0, 25)]), cost=0.01), spans=None),
                  scenario()).summary
    assert s.cost.wasted_usd == pytest.approx(0.25)
    assert s.cost.wasted_share == pytest.approx(0.25)
    assert any("spans are missing" in m for m in s.missing)


def test_gates_of_each_scope_pass_and_fail() -> None:
    fault = "- {id: slow, kind: latency, target: agent.worker, at: 30s, duration: 20s, add: 1s}\n"
    gates = ["attainment >= 75%", "attainment >= 90%", "during slow: error_rate >= 90%",
             "every window: error_rate < 50%", "workflow only: requests.total == 100",
             "phase baseline: success_rate == 100%", "latency.p95 <= baseline * 1.1"]
    sc = scenario(faults=fault, gates=gates)
    s = judge(score_run(run(requests(per_second(100, bad=[(30, 50)]))), sc), sc.gate_list())
    status = {g.name: g.status.value for g in s.gates}
    assert status == {
        "attainment >= 75%": "pass", "attainment >= 90%": "fail",
        "during slow: error_rate >= 90%": "pass", "every window: error_rate < 50%": "fail",
        "workflow only: requests.total == 100": "pass",
        "phase baseline: success_rate == 100%": "pass",
        "latency.p95 <= baseline * 1.1": "skipped",
    }
    window_gate = next(g for g in s.gates if g.name.startswith("every window"))
    assert window_gate.value == 1.0
    assert "2 of 10 windows fail" in window_gate.reason
    assert s.verdict == "fail"


def test_resilience_score_is_the_documented_weighted_sum() -> None:
    s = score_run(run(requests(per_second(100))), scenario()).summary
    assert s.resilience.components == {"attainment": 1.0, "window_adherence": 1.0,
                                       "recovery": 1.0, "error_budget": 1.0, "efficiency": 1.0}
    assert s.resilience_score == 100.0
    assert sum(s.resilience.weights.values()) == pytest.approx(1.0)


def test_a_later_fault_is_not_blamed_on_an_earlier_one() -> None:
    faults = ("- {id: first, kind: latency, target: agent.worker, at: 20s, duration: 10s, "
              "add: 1s}\n"
              "- {id: second, kind: latency, target: agent.worker, at: 40s, duration: 10s, "
              "add: 1s}\n")
    # Only the second fault hurt (40–50 s). The first ended at 30 s, and the stability
    # span after it (2 windows, to 50 s) reaches into the second's windows.
    s = score_run(run(requests(per_second(100, bad=[(40, 50)]))), scenario(faults=faults))
    first, second = s.summary.recovery
    assert first.absorbed
    assert not second.absorbed
    assert second.recovery_time_s == pytest.approx(10.0)


def test_a_harmless_fault_during_anothers_impact_is_marked_confounded() -> None:
    faults = ("- {id: big, kind: error, target: agent.worker, at: 20s, duration: 20s, "
              "probability: 50%}\n"
              "- {id: tiny, kind: latency, target: agent.worker, at: 30s, duration: 5s, "
              "add: 1ms}\n"
              "- {id: later, kind: latency, target: agent.worker, at: 80s, duration: 5s, "
              "add: 1ms}\n")
    s = score_run(run(requests(per_second(100, bad=[(20, 50)]))), scenario(faults=faults)
                  ).summary
    by_id = {r.fault: r for r in s.recovery}
    # The windows cannot tell the two apart: both say so, naming the other.
    assert by_id["tiny"].confounded_by == ["big"]
    assert by_id["big"].confounded_by == ["tiny"]
    # A fault well clear of them is judged on its own.
    assert by_id["later"].absorbed
    assert by_id["later"].confounded_by == []


def test_recovery_is_unknown_when_a_partial_runs_records_end_first() -> None:
    fault = "- {kind: latency, target: agent.worker, at: 60s, duration: 10s, add: 1s}\n"
    sc = scenario(faults=fault, gates=["recovery.max <= 60s"])
    partial = run(requests(per_second(100, bad=[(60, 100)])))
    partial.meta.status = RunStatus.INTERRUPTED
    s = judge(score_run(partial, sc), sc.gate_list())
    assert s.recovery[0].unknown
    assert s.recovery[0].recovery_time_s is None
    assert s.gates[0].status == "inconclusive"  # not "never recovered": not known
    assert s.verdict == "inconclusive"


def test_every_declared_window_metric_has_one_definition() -> None:
    from harness.metrics import WINDOW_METRICS
    from harness.scoring.window_figures import WINDOW_FIGURES

    assert set(WINDOW_FIGURES) == WINDOW_METRICS
