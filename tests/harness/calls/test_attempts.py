"""The engine-neutral call state machine, driven by a tiny synchronous engine.

The engine below is the whole contract an engine implements: it does what the call
says (attempt, refuse, sleep) on its own clock and reports back. Each attempt's outcome
comes from a script, so every rule can be checked without SimPy or a network.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.calls import ATTEMPT, DONE, REFUSED, SLEEP, Call, Chain, Target, route
from harness.demand.arrivals import PRIORITIES, Priority
from harness.policies.breaker import BreakerState, CircuitBreaker
from harness.policies.retry import RetryPolicy
from harness.scenario.system import Agent, Retry
from harness.scenario.system import CircuitBreaker as BreakerSpec

Outcome = tuple[float, str | None]  # (how long the attempt takes, its error)


def retry(**kw: object) -> RetryPolicy:
    return RetryPolicy(Retry.model_validate(kw))


def breaker(**kw: object) -> CircuitBreaker:
    return CircuitBreaker(BreakerSpec.model_validate(kw))


def run(chain: Chain, deadline: float, script: Callable[[Target, int], Outcome], *,
        now: float = 0.0, retry_after: float | None = None) -> tuple[str | None, list[tuple]]:
    """Drive a call to its end; returns (error, what happened, in order)."""
    call = Call(chain, deadline)
    log: list[tuple] = []
    act = call.start(now)
    while act != DONE:
        if act == ATTEMPT:
            took, err = script(call.target, call.number)
            log.append(("attempt", call.target.name, call.number, now, call.limit, call.fallback))
            if now + took > call.limit:  # the caller stops waiting at the limit
                now, err = call.limit, "timeout"
            else:
                now += took
        elif act == REFUSED:
            log.append(("refused", call.target.name, call.number, now))
            err = "circuit_open"
        else:
            assert act == SLEEP
            log.append(("sleep", call.delay, now))
            now += call.delay
            act = call.slept(now)
            continue
        act = call.outcome(now, err, retry_after)
    return call.error, log


def always(err: str | None, took: float = 1.0) -> Callable[[Target, int], Outcome]:
    return lambda target, number: (took, err)


def test_one_attempt_that_succeeds() -> None:
    err, log = run(Chain([Target("a", timeout=5)], "timeout"), 100, always(None))
    assert err is None
    assert log == [("attempt", "a", 1, 0.0, 5.0, False)]


def test_the_attempt_limit_is_the_timeout_capped_by_the_deadline() -> None:
    _err, log = run(Chain([Target("a", timeout=50)], "deadline"), 20, always(None, took=1))
    assert log[0][4] == 20.0


def test_retries_follow_the_policy_and_stop_at_its_attempts() -> None:
    target = Target("a", retry=retry(attempts=3, base=1, jitter="none", on=["error"]))
    err, log = run(Chain([target], "deadline"), 100, always("error"))
    assert err == "error"
    assert [e[0] for e in log] == ["attempt", "sleep", "attempt", "sleep", "attempt"]
    assert [e[1] for e in log if e[0] == "sleep"] == [1.0, 2.0]  # exponential: 1 s, 2 s


def test_an_error_the_policy_does_not_name_is_not_retried() -> None:
    target = Target("a", retry=retry(attempts=5, on=["timeout"]))
    err, log = run(Chain([target], "deadline"), 100, always("malformed"))
    assert (err, len(log)) == ("malformed", 1)


def test_retry_after_is_a_floor_for_rate_limited_attempts() -> None:
    target = Target("a", retry=retry(attempts=2, base="10ms", jitter="none",
                                     on=["rate_limited"]))
    _, log = run(Chain([target], "deadline"), 100, always("rate_limited"), retry_after=7.0)
    assert ("sleep", 7.0, 1.0) in log


def test_no_retry_sleeps_past_the_deadline() -> None:
    target = Target("a", retry=retry(attempts=10, base=4, jitter="none", on=["error"]))
    err, log = run(Chain([target], "deadline"), 10, always("error", took=1))
    sleeps = [e for e in log if e[0] == "sleep"]
    assert all(at + d < 10 for _, d, at in sleeps)
    assert err == "error"  # it stopped before the deadline: the last error stands


def test_once_the_deadline_passed_the_call_gives_up_with_its_expired_error() -> None:
    chain = Chain([Target("a", timeout=100), Target("b")], "deadline")
    err, log = run(chain, 5, always("timeout", took=5))
    assert err == "deadline"
    assert [e[1] for e in log] == ["a"]  # no fallback is started after the deadline


def test_a_call_started_after_its_deadline_makes_no_attempt() -> None:
    err, log = run(Chain([Target("a")], "timeout"), 5, always(None), now=5.0)
    assert (err, log) == ("timeout", [])


def test_fallbacks_are_tried_in_order_and_the_last_error_is_the_calls() -> None:
    outcomes = {"a": "error", "b": "malformed", "c": "overloaded"}
    chain = Chain([Target("a"), Target("b"), Target("c")], "deadline")
    err, log = run(chain, 100, lambda t, n: (1.0, outcomes[t.name]))
    assert [e[1] for e in log] == ["a", "b", "c"]
    assert [e[5] for e in log] == [False, True, True]
    assert err == "overloaded"


def test_a_fallback_that_answers_ends_the_call() -> None:
    chain = Chain([Target("a"), Target("b"), Target("c")], "deadline")
    err, log = run(chain, 100, lambda t, n: (1.0, "error" if t.name == "a" else None))
    assert err is None
    assert [e[1] for e in log] == ["a", "b"]


def test_a_fallback_whose_breaker_is_open_is_skipped() -> None:
    cooling = breaker(failure_rate=0.5, window=2, min_calls=2, open_for=60)
    for _ in range(2):
        token = cooling.allow(0.0)
        assert token is not None
        cooling.record(0.0, token, False, 0.1)
    assert cooling.peek(1.0) is BreakerState.OPEN
    chain = Chain([Target("a"), Target("b", breaker=cooling), Target("c")], "deadline")
    _, log = run(chain, 100, lambda t, n: (1.0, "error" if t.name == "a" else None),
                 now=1.0)
    assert [e[1] for e in log] == ["a", "c"]


def test_an_open_breaker_on_the_primary_refuses_without_an_attempt() -> None:
    guard = breaker(failure_rate=0.5, window=2, min_calls=2, open_for=60)
    target = Target("a", breaker=guard)
    err, log = run(Chain([target], "deadline"), 100, always("error"))
    assert err == "error"
    err, log = run(Chain([target], "deadline"), 100, always("error"), now=2.0)
    assert guard.state is BreakerState.OPEN
    err, log = run(Chain([target], "deadline"), 100, always(None), now=3.0)
    assert (err, log) == ("circuit_open", [("refused", "a", 1, 3.0)])


def test_the_breaker_hears_every_permitted_attempt() -> None:
    guard = breaker(failure_rate=1.0, window=10, min_calls=10, open_for=60)
    target = Target("a", breaker=guard, retry=retry(attempts=4, base=0.1, on=["error"]))
    run(Chain([target], "deadline"), 100, always("error"))
    assert guard._count == 4  # four attempts, four outcomes in the window


def test_a_simple_chain_settles_like_a_driven_call() -> None:
    chain = Chain([Target("a", timeout=3)], "timeout")
    assert chain.simple
    assert chain.first_limit(0.0, 10.0) == 3.0
    assert chain.first_limit(10.0, 10.0) is None
    assert chain.settle(10.0, 10.0, "error") == "timeout"
    assert chain.settle(9.0, 10.0, "error") == "error"
    assert not Chain([Target("a"), Target("b")], "timeout").simple
    assert not Chain([Target("a", retry=retry(attempts=2))], "timeout").simple


def test_an_empty_chain_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one target"):
        Chain([], "timeout")


LOW, NORMAL = PRIORITIES.index(Priority.LOW), PRIORITIES.index(Priority.NORMAL)


def test_low_priority_routing() -> None:
    agents = {
        "big": Agent.model_validate({"replicas": 1, "low_priority": {"agent": "small"}}),
        "small": Agent.model_validate({"replicas": 1, "low_priority": {"endpoint": "compact"}}),
        "plain": Agent.model_validate({"replicas": 1}),
    }
    assert route(agents, "big", NORMAL) == ("big", None)
    assert route(agents, "big", LOW) == ("small", "compact")
    assert route(agents, "small", LOW) == ("small", "compact")
    assert route(agents, "plain", LOW) == ("plain", None)


errors = st.sampled_from([None, "error", "timeout", "rate_limited", "overloaded"])


@settings(max_examples=300, deadline=None)
@given(
    n_targets=st.integers(1, 4),
    attempts=st.integers(1, 5),
    timeout=st.floats(0.5, 20),
    deadline=st.floats(1, 60),
    took=st.lists(st.floats(0, 10), min_size=1, max_size=8),
    outcomes=st.lists(errors, min_size=1, max_size=8),
    seed=st.integers(0, 2**16),
)
def test_call_invariants(n_targets: int, attempts: int, timeout: float, deadline: float,  # noqa: PLR0917
                         took: list[float], outcomes: list[str | None], seed: int) -> None:
    """Whatever the attempts do: no attempt starts at or after the deadline, no attempt's
    limit passes it, no sleep ends past it, no target gets more attempts than its policy
    allows, targets come in order, and the result is None only if some attempt answered."""
    rng = random.Random(seed)
    policy = retry(attempts=attempts, base=0.5, on=["error", "timeout", "rate_limited"])
    chain = Chain([Target(f"t{i}", retry=policy, timeout=timeout, rng=rng)
                   for i in range(n_targets)], "deadline")
    seq = iter(range(10_000))

    def script(target: Target, number: int) -> Outcome:
        k = next(seq)
        return took[k % len(took)], outcomes[k % len(outcomes)]

    err, log = run(chain, deadline, script, retry_after=1.0)
    tries = [e for e in log if e[0] == "attempt"]
    assert all(at < deadline and limit <= deadline and limit <= at + timeout
               for _, _, _, at, limit, _ in tries)
    assert all(at + d < deadline for kind, d, at in (e for e in log if e[0] == "sleep"))
    per_target: dict[str, int] = {}
    for _, name, number, *_ in tries:
        per_target[name] = max(per_target.get(name, 0), number)
    assert all(n <= attempts for n in per_target.values())
    order = [int(e[1][1:]) for e in tries]
    assert order == sorted(order)
    if err is None:
        assert tries
