from __future__ import annotations

import random
from collections import Counter

import pytest

from harness.policies.balancers import (
    LeastBusy,
    PeakEwma,
    PowerOfTwo,
    RandomChoice,
    RoundRobin,
    WeightedRandom,
    make_balancer,
    two_choices,
)
from harness.scenario.system import Balancer, BalancerKind

IDS = [0, 1, 2, 3]


def picks(b: object, loads: list[int], n: int = 20_000) -> Counter[int]:
    rng = random.Random(7)
    return Counter(b.pick(IDS, loads, 0.0, rng) for _ in range(n))  # type: ignore[attr-defined]


def test_round_robin_cycles() -> None:
    b = RoundRobin()
    assert [b.pick(IDS, [0] * 4, 0.0, random.Random()) for _ in range(6)] == [0, 1, 2, 3, 0, 1]


def test_random_is_uniform() -> None:
    counts = picks(RandomChoice(), [0] * 4)
    assert all(c == pytest.approx(5000, rel=0.05) for c in counts.values())


def test_least_busy_takes_the_fewest_outstanding() -> None:
    assert LeastBusy().pick(IDS, [3, 1, 1, 5], 0.0, random.Random()) == 1


def test_power_of_two_never_picks_the_busiest_of_its_pair() -> None:
    counts = picks(PowerOfTwo(), [9, 0, 5, 9])
    # The idle replica wins every pair it is in: 6 of 12 ordered pairs.
    assert counts[1] == pytest.approx(20_000 / 2, rel=0.03)
    assert counts[0] + counts[3] == 0 or min(counts[0], counts[3]) < counts[2]


def test_two_choices_are_distinct_and_uniform() -> None:
    rng = random.Random(1)
    pairs = Counter(two_choices(3, rng) for _ in range(60_000))
    assert set(pairs) == {(a, b) for a in range(3) for b in range(3) if a != b}
    assert all(c == pytest.approx(10_000, rel=0.05) for c in pairs.values())


def test_peak_ewma_avoids_a_slow_replica_and_forgives_it_with_time() -> None:
    b = PeakEwma(decay=10.0)
    b.observe(0, 5.0, now=0.0)  # replica 0 was slow
    b.observe(1, 0.1, now=0.0)
    rng = random.Random(0)
    assert all(b.pick([0, 1], [0, 0], 0.0, rng) == 1 for _ in range(20))
    # Much later both are heard from again: the old peak has decayed away, and the
    # fresh observations decide (an idle replica's cost decays toward 0, as in Finagle).
    b.observe(0, 0.05, now=100.0)
    b.observe(1, 0.30, now=100.0)
    assert b.pick([0, 1], [0, 0], 100.0, rng) == 0


def test_weighted_follows_its_weights() -> None:
    counts = picks(WeightedRandom([3, 1]), [0, 0])
    assert counts[0] / sum(counts.values()) == pytest.approx(0.75, abs=0.01)


def test_the_shared_queue_is_not_a_push_balancer() -> None:
    assert make_balancer(Balancer()) is None
    assert isinstance(make_balancer(Balancer(kind=BalancerKind.P2C)), PowerOfTwo)
