"""What every command that reads a scenario does first."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.scenario.model import Scenario

__all__ = ["limits", "load_scenario_args"]


def load_scenario_args(args: argparse.Namespace) -> Scenario:
    """The scenario of ``args.file``, overridden, validated and within its work limits."""
    from harness.limits import check_scenario
    from harness.scenario.loader import load_scenario

    scenario = load_scenario(args.file, args.overrides, allow_paths=args.allow_paths)
    check_scenario(scenario, limits(args), source=str(args.file))
    return scenario


def limits(args: argparse.Namespace) -> dict[str, float]:
    from harness.limits import parse_limits

    return parse_limits(args.limits)
