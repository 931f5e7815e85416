"""Every scenario in the library that has gates tells a story — a ``squall run … --set``
block in its opening comment, checked by ``tests/harness/sim/test_library_stories.py``
(fails as shipped, passes with the change) — or passes by design (the support day, a
trace replay)."""

from __future__ import annotations

from tests.conftest import SCENARIOS
from tests.harness.sim.stories import story


def test_every_scenario_with_gates_is_a_story_or_passes_by_design() -> None:
    gated = sorted(p for p in SCENARIOS.glob("*.yaml") if "gates:" in p.read_text())
    plain = {p.stem for p in gated if story(p) is None}
    assert plain == {"support-day"}
    assert len(gated) - len(plain) >= 7  # the domain stories
