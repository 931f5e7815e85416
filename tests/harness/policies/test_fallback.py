from __future__ import annotations

from harness.policies.fallback import FallbackChain


def test_alternatives_come_in_order_skipping_those_cooling_down() -> None:
    chain = FallbackChain(["a", "b", "c"])
    cooling = {"b"}
    assert list(chain.candidates(0.0, lambda name, now: name not in cooling)) == ["a", "c"]
    assert not FallbackChain([])
