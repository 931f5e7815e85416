"""Invariants of scoring on random record sets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.scoring.score import score_run
from tests.harness.scoring.helpers import requests, run, scenario

OUTCOMES = ["ok", "ok", "ok", "error", "timeout", "rejected", "dropped"]

rows = st.lists(
    st.tuples(st.floats(0, 99.99), st.floats(0.001, 30.0), st.sampled_from(OUTCOMES)),
    min_size=1, max_size=300,
).map(lambda rs: [(t, None if o == "dropped" else lat, o) for t, lat, o in rs])
faults = st.lists(st.tuples(st.floats(0, 90), st.floats(1, 40)), max_size=3).map(
    lambda fs: "".join(f"- {{kind: latency, target: agent.worker, at: {a}s, duration: {d}s, "
                       f"add: 1s}}\n" for a, d in fs))
costs = st.floats(0, 0.05)


@given(rows=rows, faults=faults, cost=costs)
def test_scores_stay_in_range_and_cost_adds_up_over_phases(rows: list, faults: str,
                                                          cost: float) -> None:
    events = [{"t_s": 0.0, "type": "replica_start", "agent": "worker", "replica": 0,
               "cold_start_s": 0, "price_per_s": 0.001}]
    s = score_run(run(requests(rows, cost=cost), events), scenario(faults=faults)).summary
    assert 0.0 <= (s.sla.attainment or 0.0) <= 1.0
    assert 0.0 <= (s.sla.window_adherence if s.sla.window_adherence is not None else 0) <= 1
    for rec in s.recovery:
        for figure in (rec.time_to_detect_s, rec.recovery_time_s, rec.recovery_after_end_s):
            assert figure is None or figure >= 0
    assert 0.0 <= (s.resilience_score or 0.0) <= 100.0
    phases = [p for p in s.phases if p.scope == "phase"]
    assert sum(p.metrics["requests.total"] or 0 for p in phases) == s.requests.total
    assert sum(p.metrics["cost.llm_usd"] or 0 for p in phases) == pytest.approx(
        s.cost.llm_usd, abs=1e-9)
    assert sum(p.metrics["cost.compute_usd"] or 0 for p in phases) == pytest.approx(
        s.cost.compute_usd, abs=1e-9)
    assert sum(p.seconds for p in phases) == pytest.approx(100.0)


@given(rows=rows)
def test_warmup_leaves_early_arrivals_out(rows: list) -> None:
    full = score_run(run(requests(rows)), scenario()).summary
    warm = score_run(run(requests(rows)), scenario(), warmup=50.0).summary
    assert warm.requests.total == sum(1 for t, _, _ in rows if t >= 50.0)
    assert warm.requests.total <= full.requests.total
    assert warm.warmup_s == 50.0
