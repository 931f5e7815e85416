"""Shared test setup: deterministic Hypothesis, paths to the scenario library."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"

# Seeded, reproducible property tests: the same examples on every run and in CI.
settings.register_profile(
    "default", derandomize=True, deadline=None, max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", derandomize=False, deadline=None, max_examples=1000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


def library() -> list[Path]:
    return sorted(SCENARIOS.glob("*.yaml"))


@pytest.fixture
def scenarios_dir() -> Path:
    return SCENARIOS
