"""The scenario language: models, loading and validation."""

from harness.scenario.loader import apply_overrides, load_scenario, parse_scenario
from harness.scenario.model import Cost, Records, Scenario, Sla

__all__ = [
    "Cost",
    "Records",
    "Scenario",
    "Sla",
    "apply_overrides",
    "load_scenario",
    "parse_scenario",
]
