"""Applying and undoing faults: the protocol both engines share."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from faults.active import ActiveFaults, FaultLedger, once
from faults.effects import Disturbance, Effects, decide, effects_of
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


def spec(cls: type[FaultSpecBase], **kw: object) -> FaultSpecBase:
    return cls.model_validate({"at": 0, "target": "endpoint.llm", **kw})


SPECS = [
    spec(LatencyFault, add="1s"),
    spec(LatencyFault, multiply=3, probability=0.5),
    spec(BrownoutFault, factor=2),
    spec(ErrorFault, probability=0.3, **{"as": "malformed"}),
    spec(RateLimitFault, probability=0.2, retry_after="5s"),
    spec(RateLimitFault, rpm=100),
    spec(OutageFault, mode="hang"),
]


def snapshot(fx: Effects | None) -> object:
    if fx is None:
        return None
    return (tuple(fx.add), fx.factor, tuple(fx.errors), tuple(fx.storms), fx.limits, fx.outage)


class Recorder:
    def __init__(self) -> None:
        self.seen: dict[str, Effects | None] = {}

    def __call__(self, target: str, fx: Effects | None) -> None:
        self.seen[target] = fx


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_every_undo_restores_the_state_without_that_activation(data: st.DataObject) -> None:
    """Apply and undo faults in any order, on two targets: the component always holds
    exactly the effects of what is still active, and undoing everything restores the
    healthy state (no effects)."""
    seen = Recorder()
    active = ActiveFaults(seen)
    live: list[tuple[str, FaultSpecBase, object]] = []
    for _ in range(data.draw(st.integers(1, 12))):
        if live and data.draw(st.booleans()):
            i = data.draw(st.integers(0, len(live) - 1))
            target, _, undo = live.pop(i)
            undo()  # type: ignore[operator]
            undo()  # type: ignore[operator]  # a second undo changes nothing
        else:
            target = data.draw(st.sampled_from(["endpoint.a", "tool.b"]))
            fault = data.draw(st.sampled_from(SPECS))
            live.append((target, fault, active.apply(target, fault)))
        for name in ("endpoint.a", "tool.b"):
            remaining = [f for t, f, _ in live if t == name]
            assert snapshot(active.effects(name)) == snapshot(effects_of(remaining))
            if name in seen.seen:
                assert snapshot(seen.seen[name]) == snapshot(effects_of(remaining))
    for _, _, undo in live:
        undo()  # type: ignore[operator]
    assert active.targets() == []
    assert all(fx is None for fx in seen.seen.values())


def test_the_same_fault_twice_needs_two_undos() -> None:
    active = ActiveFaults(Recorder())
    fault = SPECS[0]
    first, second = active.apply("endpoint.a", fault), active.apply("endpoint.a", fault)
    first()
    assert active.specs("endpoint.a") == [fault]
    second()
    assert active.specs("endpoint.a") == []


def test_the_ledger_rolls_back_everything_newest_first() -> None:
    order: list[str] = []
    ledger = FaultLedger()
    for name in ("f1", "f2", "f3"):
        ledger.add(name, once(lambda name=name: order.append(name)))
    assert ledger.end("f2")
    assert not ledger.end("f2")
    assert ledger.rollback() == ["f3", "f1"]
    assert order == ["f2", "f3", "f1"]
    assert len(ledger) == 0
    assert ledger.rollback() == []


def test_the_ledger_refuses_an_activation_twice() -> None:
    ledger = FaultLedger()
    ledger.add("f1", once(lambda: None))
    with pytest.raises(ValueError, match="already in effect"):
        ledger.add("f1", once(lambda: None))


def test_an_outage_refuses_before_anything_is_drawn() -> None:
    fx = effects_of([spec(OutageFault, mode="fail_fast"), spec(ErrorFault, probability=1)])
    rng = random.Random(1)
    state = rng.getstate()
    d = decide(fx, rng, error_rate=0.5)
    assert d is not None
    assert d.refuse is CutMode.FAIL_FAST
    assert not d.billed
    assert rng.getstate() == state


def test_a_storm_comes_before_errors() -> None:
    fx = effects_of([spec(RateLimitFault, probability=1, retry_after="4s"),
                     spec(ErrorFault, probability=1)])
    d = decide(fx, random.Random(1))
    assert d is not None
    assert d.retry_after == 4.0
    assert d.error is None
    assert not d.billed


def test_errors_and_billing() -> None:
    rng = random.Random(2)
    assert decide(None, rng) is None
    always = decide(None, rng, error_rate=1.0)
    assert always is not None
    assert always.error is ErrorMode.ERROR
    assert not always.billed
    malformed = decide(effects_of([spec(ErrorFault, probability=1, **{"as": "malformed"})]),
                       rng)
    assert malformed is not None
    assert malformed.error is ErrorMode.MALFORMED
    assert malformed.billed
    hang = decide(effects_of([spec(ErrorFault, probability=1, **{"as": "timeout"})]), rng)
    assert hang is not None
    assert hang.error is ErrorMode.TIMEOUT
    assert not hang.billed
    assert decide(effects_of([spec(LatencyFault, add="1s")]), rng) is None  # only slower
    assert isinstance(repr(Disturbance(retry_after=2.0)), str)


def test_the_error_rate_and_injected_errors_hit_at_their_rates() -> None:
    fx = effects_of([spec(ErrorFault, probability=0.25)])
    rng = random.Random(3)
    n = 40_000
    failed = sum(decide(fx, rng, error_rate=0.2) is not None for _ in range(n))
    expected = 1 - (1 - 0.2) * (1 - 0.25)  # 0.4
    assert failed / n == pytest.approx(expected, abs=4 * (expected * (1 - expected) / n) ** 0.5)
