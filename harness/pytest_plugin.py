"""Squall as a stress gate inside a Python project's own test suite.

Installed with Squall (the ``pytest11`` entry point), dormant until a test asks for
one of its fixtures::

    def test_checkout_holds_its_sla_under_the_peak(squall_gate):
        result = squall_gate("scenarios/ecommerce-peak.yaml",
                             overrides=["system.agents.order_tracking.replicas=6"])
        assert result.summary.metrics["cost.per_good_request_usd"] < 0.01

``squall_gate`` runs the scenario in the test's temporary directory and fails the test
with the gate table unless the verdict is pass; ``squall_run`` only runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

__all__ = ["squall_gate", "squall_run"]

Runner = Callable[..., Any]


def _runner(tmp_path: Path, *, gate: bool) -> Runner:
    count = 0

    def run_scenario(scenario: Any, **options: Any) -> Any:
        from harness.api import run

        nonlocal count
        count += 1
        options.setdefault("out", tmp_path / f"squall-{count}")
        result = run(scenario, **options)
        if gate and not result.passed:
            pytest.fail(f"{result.gate_table()}\nrun directory: {result.directory}",
                        pytrace=False)
        return result

    return run_scenario


@pytest.fixture
def squall_run(tmp_path: Path) -> Runner:
    """``squall_run(scenario, **options)``: :func:`harness.run` into the test's tmp_path."""
    return _runner(tmp_path, gate=False)


@pytest.fixture
def squall_gate(tmp_path: Path) -> Runner:
    """Like ``squall_run``, and the test fails with the gate table unless it passes."""
    return _runner(tmp_path, gate=True)
