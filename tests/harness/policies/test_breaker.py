from __future__ import annotations

from harness.policies.breaker import BreakerState, CircuitBreaker
from harness.scenario.system import CircuitBreaker as Spec

CLOSED, OPEN, HALF = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def breaker(**kw: object) -> tuple[CircuitBreaker, list[tuple[float, str, str]]]:
    log: list[tuple[float, str, str]] = []
    b = CircuitBreaker(Spec.model_validate(kw), lambda t, a, z: log.append((t, a.value, z.value)))
    return b, log


def call(b: CircuitBreaker, now: float, ok: bool, duration: float = 0.0) -> bool:
    """One call that starts and reports at ``now`` (``duration`` only marks it slow)."""
    token = b.allow(now)
    if token is None:
        return False
    b.record(now, token, ok, duration)
    return True


def test_it_opens_once_min_calls_show_the_failure_rate() -> None:
    b, log = breaker(failure_rate="50%", window=10, min_calls=4, open_for="15s")
    for ok in (True, False, True):
        assert call(b, 1.0, ok)
    assert b.state is CLOSED  # 1 of 3 failed, and fewer than min_calls anyway
    assert call(b, 2.0, False)  # 2 of 4 = 50% ≥ threshold
    assert b.state is OPEN
    assert log == [(2.0, "closed", "open")]


def test_below_min_calls_it_never_opens() -> None:
    b, _ = breaker(window=10, min_calls=5)
    for _ in range(4):
        call(b, 0.0, False)
    assert b.state is CLOSED


def test_min_calls_is_capped_by_a_count_window() -> None:
    b, _ = breaker(window=3, min_calls=100)  # resilience4j: the window size wins
    for _ in range(3):
        call(b, 0.0, False)
    assert b.state is OPEN


def test_open_refuses_until_open_for_then_lets_half_open_trials_through() -> None:
    b, log = breaker(window=4, min_calls=4, open_for="15s", half_open_calls=2)
    for _ in range(4):
        call(b, 0.0, False)
    assert b.state is OPEN
    assert b.allow(14.9) is None
    assert b.peek(15.0) is HALF
    first, second = b.allow(15.0), b.allow(15.0)
    assert first is not None
    assert second is not None
    assert b.allow(15.0) is None  # only two trials
    b.record(15.5, first, True, 0.5)
    assert b.state is HALF
    b.record(15.6, second, True, 0.6)
    assert b.state is CLOSED
    assert [z for _, _, z in log] == ["open", "half_open", "closed"]


def test_failed_trials_open_it_again() -> None:
    b, _ = breaker(window=4, min_calls=4, open_for="10s", half_open_calls=2)
    for _ in range(4):
        call(b, 0.0, False)
    assert call(b, 10.0, False)
    assert call(b, 10.0, True)  # 1 of 2 failed: 50% ≥ 50% → open
    assert b.state is OPEN
    assert b.allow(19.0) is None


def test_slow_calls_count_against_the_slow_call_threshold() -> None:
    b, _ = breaker(window=4, min_calls=4, slow_call_duration="2s", slow_call_rate="75%")
    for _ in range(3):
        call(b, 0.0, True, duration=3.0)
    call(b, 0.0, True, duration=0.1)
    assert b.state is OPEN  # 3 of 4 slow ≥ 75%, though none failed


def test_a_time_window_forgets_old_calls() -> None:
    b, _ = breaker(window="10s", min_calls=3)
    call(b, 0.0, False)
    call(b, 1.0, False)
    call(b, 20.0, True)  # the failures fell out of the 10 s window
    call(b, 21.0, True)
    call(b, 22.0, False)  # 1 of 3 in the window
    assert b.state is CLOSED


def test_results_of_calls_started_before_a_transition_are_ignored() -> None:
    b, _ = breaker(window=2, min_calls=2, open_for="5s", half_open_calls=1)
    slow_token = b.allow(0.0)
    call(b, 0.0, False)
    call(b, 0.0, False)
    assert b.state is OPEN
    assert slow_token is not None
    b.record(1.0, slow_token, False, 1.0)  # started while closed: ignored
    trial = b.allow(5.0)
    assert trial is not None
    b.record(5.1, trial, True, 0.1)
    assert b.state is CLOSED
