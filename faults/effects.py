"""What the active faults do to one component's calls — engine-neutral.

A component (agent, endpoint, tool, workflow) holds an :class:`Effects` while any fault
targets it, and ``None`` otherwise, so a healthy system pays one attribute check per
call. Overlapping faults compose: latencies add, factors multiply, error and 429
probabilities apply one after another, the lowest lowered limit wins.

:func:`decide` is the one decision both engines make for every call that reaches a
component, in one order with one random stream, when the call arrives:

1. an outage refuses it (``unavailable``) or lets it hang until the caller gives up;
2. a rate-limit storm answers 429 with its Retry-After;
3. the component's own error rate, then injected errors, pick how it fails:
   ``error`` (a 5xx once the response would start: an endpoint's time to first token, a
   tool's latency, an agent's service time), ``timeout`` (it hangs until the caller's
   limit) or ``malformed`` (the whole response, unusable);
4. then every latency the component takes goes through :meth:`Effects.latency`.

Billing is one rule too (:attr:`Disturbance.billed`): a call is billed when the
component produces its output — a success or a malformed answer, whether or not the
caller still waits for it — and not when it is refused, throttled, fails with a 5xx or
hangs.

Nothing here knows a clock or an engine: it takes the active fault specs and a seeded
RNG, so the simulator and the live reference system disturb calls the same way.
Capacity faults (crash, partial outage, cold-start storm) act on replicas and slots
instead, and each engine applies and undoes them itself.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from faults.specs import (
    BrownoutFault,
    CutMode,
    ErrorFault,
    ErrorMode,
    FaultSpecBase,
    LatencyFault,
    OutageFault,
    RateLimitFault,
)

__all__ = ["Disturbance", "Effects", "Links", "decide", "effects_of"]


class Effects:
    __slots__ = ("add", "errors", "factor", "limits", "outage", "storms")

    def __init__(self) -> None:
        self.add: list[tuple[float, float, float, float]] = []  # (p, add, jitter, multiply)
        self.factor = 1.0  #: brownout: everything takes this many times longer
        self.errors: list[tuple[float, ErrorMode]] = []  # (p, how)
        self.storms: list[tuple[float, float]] = []  # (p, retry_after)
        #: lowered limits (rpm, tpm, per): see harness.policies.ratelimit.Limits
        self.limits: tuple[float | None, float | None, float] | None = None
        self.outage: CutMode | None = None

    def latency(self, base: float, rng: random.Random) -> float:
        """``base`` with brownout, multiplied and added latency applied."""
        out = base * self.factor
        for p, add, jitter, mult in self.add:
            if p >= 1.0 or rng.random() < p:
                out = out * mult + add + (rng.uniform(-jitter, jitter) if jitter else 0.0)
        return max(out, 0.0)

    def error(self, rng: random.Random) -> ErrorMode | None:
        for p, how in self.errors:
            if p >= 1.0 or rng.random() < p:
                return how
        return None

    def storm(self, rng: random.Random) -> float | None:
        """A 429's Retry-After if this call is caught in a rate-limit storm."""
        for p, retry_after in self.storms:
            if p >= 1.0 or rng.random() < p:
                return retry_after
        return None


def _lower(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def _per(amount: float | None, per: float, over: float) -> float | None:
    return None if amount is None else amount * over / per


def effects_of(faults: Sequence[FaultSpecBase]) -> Effects | None:
    """The combined per-call effects of ``faults`` (None when they have none)."""
    fx = Effects()
    touched = False
    for f in faults:
        if isinstance(f, LatencyFault):
            fx.add.append((f.probability, f.add, f.jitter, f.multiply))
        elif isinstance(f, BrownoutFault):
            fx.factor *= f.factor
        elif isinstance(f, ErrorFault):
            fx.errors.append((f.probability, f.as_))
        elif isinstance(f, RateLimitFault):
            if f.probability is not None:
                fx.storms.append((f.probability, f.retry_after))
            if f.rpm is not None or f.tpm is not None:
                if fx.limits is None:
                    fx.limits = (f.rpm, f.tpm, f.per)
                else:  # counted over the first fault's period
                    rpm, tpm, per = fx.limits
                    fx.limits = (_lower(rpm, _per(f.rpm, f.per, per)),
                                 _lower(tpm, _per(f.tpm, f.per, per)), per)
        elif isinstance(f, OutageFault):
            fx.outage = CutMode.HANG if f.mode is CutMode.HANG or fx.outage is CutMode.HANG \
                else CutMode.FAIL_FAST
        else:
            continue  # capacity faults act on replicas and slots, not on each call
        touched = True
    return fx if touched else None


class Disturbance:
    """What happens to one call (see :func:`decide`); immutable, shared."""

    __slots__ = ("error", "refuse", "retry_after")

    def __init__(self, *, refuse: CutMode | None = None, retry_after: float | None = None,
                 error: ErrorMode | None = None) -> None:
        self.refuse = refuse  #: an outage: refused at once (FAIL_FAST) or hanging (HANG)
        self.retry_after = retry_after  #: a 429 with this Retry-After
        self.error = error  #: how the call fails once served

    @property
    def billed(self) -> bool:
        """Whether the call, if served to its end, is billed."""
        return self.refuse is None and self.retry_after is None and \
            self.error in (None, ErrorMode.MALFORMED)

    def __repr__(self) -> str:
        what = self.refuse or (f"429 after {self.retry_after}s" if self.retry_after is not None
                               else self.error)
        return f"Disturbance({what})"


_REFUSE = {mode: Disturbance(refuse=mode) for mode in CutMode}
_FAIL = {how: Disturbance(error=how) for how in ErrorMode}


def decide(fx: Effects | None, rng: random.Random,
           error_rate: float = 0.0) -> Disturbance | None:
    """What happens to a call arriving at a component with effects ``fx`` (None: no
    fault) and its own ``error_rate``; None when the call is undisturbed. Draws from
    ``rng`` in a fixed order: the error rate, then the storms, then injected errors."""
    if fx is None:
        if error_rate and rng.random() < error_rate:
            return _FAIL[ErrorMode.ERROR]
        return None
    if fx.outage is not None:
        return _REFUSE[fx.outage]
    own = bool(error_rate) and rng.random() < error_rate
    if fx.storms:
        retry_after = fx.storm(rng)
        if retry_after is not None:
            return Disturbance(retry_after=retry_after)
    if own:
        return _FAIL[ErrorMode.ERROR]
    how = fx.error(rng)
    return _FAIL[how] if how is not None else None


class Links:
    """Partitions in effect, by link (the two sides' names): the newest cut of a link
    rules while it lasts; each cut's undo restores the one before it."""

    def __init__(self) -> None:
        self._rules: dict[frozenset[str], list[tuple[CutMode, float]]] = {}
        self.active: dict[frozenset[str], tuple[CutMode, float]] = {}

    def cut(self, a: str, b: str, mode: CutMode, probability: float) -> Callable[[], None]:
        link = frozenset((a, b))
        rule = (mode, probability)
        rules = self._rules.setdefault(link, [])
        rules.append(rule)
        self.active[link] = rule
        done = False

        def undo() -> None:
            nonlocal done
            if done:
                return
            done = True
            rules.remove(rule)
            if rules:
                self.active[link] = rules[-1]
            else:
                self.active.pop(link, None)
                self._rules.pop(link, None)

        return undo

    def between(self, a: str, b: str, rng: random.Random) -> CutMode | None:
        """How a call from ``a`` to ``b`` fails because of a partition, if it does."""
        rule = self.active.get(frozenset((a, b)))
        if rule is None:
            return None
        mode, p = rule
        return mode if p >= 1.0 or rng.random() < p else None
