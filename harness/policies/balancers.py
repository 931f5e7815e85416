"""Load-balancing strategies: which replica gets the next call.

A balancer sees the candidates' stable ids and outstanding calls (``loads``) and, for
EWMA, the latencies it was told about; it never reads a clock or a global RNG. Both the simulator
and the live reference system call the same objects.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from harness.scenario.system import Balancer as BalancerSpec
from harness.scenario.system import BalancerKind

__all__ = [
    "BALANCERS",
    "Balancer",
    "LeastBusy",
    "PeakEwma",
    "PowerOfTwo",
    "RandomChoice",
    "RoundRobin",
    "WeightedRandom",
    "make_balancer",
]


def two_choices(n: int, rng: random.Random) -> tuple[int, int]:
    """Two distinct positions out of ``n`` (n ≥ 2), uniformly."""
    a = rng.randrange(n)
    b = rng.randrange(n - 1)
    return a, b + (b >= a)


class Balancer:
    """Picks a position in the candidate list."""

    def pick(self, ids: Sequence[int], loads: Sequence[int], now: float,
             rng: random.Random) -> int:
        raise NotImplementedError

    def observe(self, key: int, latency: float, now: float) -> None:
        """Feedback after a call to the candidate with id ``key`` finished (EWMA)."""


class RoundRobin(Balancer):
    def __init__(self) -> None:
        self._next = 0

    def pick(self, ids: Sequence[int], loads: Sequence[int], now: float,
             rng: random.Random) -> int:
        i = self._next % len(loads)
        self._next = i + 1
        return i


class RandomChoice(Balancer):
    def pick(self, ids: Sequence[int], loads: Sequence[int], now: float,
             rng: random.Random) -> int:
        return rng.randrange(len(loads))


class LeastBusy(Balancer):
    """Fewest outstanding calls; ties go to the lowest index (join the shortest queue)."""

    def pick(self, ids: Sequence[int], loads: Sequence[int], now: float,
             rng: random.Random) -> int:
        best, best_load = 0, loads[0]
        for i in range(1, len(loads)):
            if loads[i] < best_load:
                best, best_load = i, loads[i]
        return best


class PowerOfTwo(Balancer):
    """Two candidates at random, the less loaded wins (Mitzenmacher)."""

    def pick(self, ids: Sequence[int], loads: Sequence[int], now: float,
             rng: random.Random) -> int:
        if len(loads) == 1:
            return 0
        a, b = two_choices(len(loads), rng)
        return a if loads[a] <= loads[b] else b


class PeakEwma(Balancer):
    """Finagle / Linkerd peak-EWMA: cost = EWMA latency × (outstanding + 1), over two
    random candidates. A slow sample raises the average at once (peak); it decays with
    time constant ``decay`` seconds. A candidate not heard from yet counts as average."""

    def __init__(self, decay: float) -> None:
        self.decay = decay
        self._ewma: dict[int, tuple[float, float]] = {}  # id → (value, stamp)

    def _cost(self, key: int, load: int, now: float) -> float:
        entry = self._ewma.get(key)
        if entry is None:
            values = [v for v, _ in self._ewma.values()]
            ewma = sum(values) / len(values) if values else 0.0
        else:
            value, stamp = entry
            ewma = value * math.exp(-max(now - stamp, 0.0) / self.decay)
        return ewma * (load + 1)

    def pick(self, ids: Sequence[int], loads: Sequence[int], now: float,
             rng: random.Random) -> int:
        if len(loads) == 1:
            return 0
        a, b = two_choices(len(loads), rng)
        cost_a = self._cost(ids[a], loads[a], now)
        return a if cost_a <= self._cost(ids[b], loads[b], now) else b

    def observe(self, key: int, latency: float, now: float) -> None:
        entry = self._ewma.get(key)
        if entry is None or latency > entry[0]:
            self._ewma[key] = (latency, now)
            return
        value, stamp = entry
        w = math.exp(-max(now - stamp, 0.0) / self.decay)
        self._ewma[key] = (value * w + latency * (1 - w), now)


class WeightedRandom(Balancer):
    """Candidate ``i`` is chosen with probability ∝ ``weights[i % len(weights)]``."""

    def __init__(self, weights: Sequence[float]) -> None:
        self.weights = list(weights)

    def pick(self, ids: Sequence[int], loads: Sequence[int], now: float,
             rng: random.Random) -> int:
        w = [self.weights[i % len(self.weights)] for i in range(len(loads))]
        x = rng.random() * sum(w)
        for i, wi in enumerate(w):
            x -= wi
            if x < 0:
                return i
        return len(loads) - 1


#: Push balancers by kind (``queue`` is not a balancer: the replicas share one queue).
BALANCERS: dict[BalancerKind, type[Balancer]] = {
    BalancerKind.ROUND_ROBIN: RoundRobin,
    BalancerKind.RANDOM: RandomChoice,
    BalancerKind.LEAST_BUSY: LeastBusy,
    BalancerKind.P2C: PowerOfTwo,
    BalancerKind.EWMA: PeakEwma,
    BalancerKind.WEIGHTED: WeightedRandom,
}


def make_balancer(spec: BalancerSpec) -> Balancer | None:
    """The balancer for ``spec``; ``None`` for the shared queue."""
    if spec.kind is BalancerKind.QUEUE:
        return None
    if spec.kind is BalancerKind.EWMA:
        return PeakEwma(spec.decay)
    if spec.kind is BalancerKind.WEIGHTED:
        return WeightedRandom(spec.weights or [1.0])
    return BALANCERS[spec.kind]()
