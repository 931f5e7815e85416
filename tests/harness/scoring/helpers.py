"""Hand-built runs with known answers."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from harness.records.reader import RunData
from harness.records.schema import SPANS
from harness.scenario import Scenario, parse_scenario

BASE = """\
    name: hand
    duration: {duration}
    system:
      agents: {{worker: {{replicas: 1, compute_price_per_s: {price}}}}}
      workflows: {{only: {{steps: [worker]}}}}
    demand: {{curve: {{constant: 1}}}}
    sla: {{objective: 1s, availability: 90%, window: 10s, stability: 2}}
    cost: {{cold_start_usd: {cold}}}
"""


def scenario(duration: str = "100s", faults: str = "", gates: Sequence[str] = (),
             price: float = 0.0, cold: float = 0.0) -> Scenario:
    text = textwrap.dedent(BASE).format(duration=duration, price=price, cold=cold)
    if faults:
        text += "faults:\n" + textwrap.indent(textwrap.dedent(faults), "  ")
    if gates:
        text += "gates:\n" + "".join(f"  - {g!r}\n" for g in gates)
    return parse_scenario(text)


def requests(rows: Sequence[tuple[float, float | None, str]], cost: float = 0.0,
             workflow: str = "only") -> pd.DataFrame:
    """Rows of (intended start, latency or None, outcome)."""
    data: dict[str, list[Any]] = {k: [] for k in (
        "id", "workflow", "priority", "intended_s", "sent_s", "end_s", "latency_s", "outcome",
        "error_kind", "attempts", "steps", "fallback", "tokens_in", "tokens_out", "cost_usd",
        "ttft_s")}
    for i, (t, lat, outcome) in enumerate(rows):
        data["id"].append(i)
        data["workflow"].append(workflow)
        data["priority"].append("normal")
        data["intended_s"].append(t)
        data["sent_s"].append(t)
        data["end_s"].append(None if lat is None else t + lat)
        data["latency_s"].append(lat)
        data["outcome"].append(outcome)
        data["error_kind"].append(None if outcome == "ok" else "error")
        data["attempts"].append(1)
        data["steps"].append(1)
        data["fallback"].append(False)
        data["tokens_in"].append(0)
        data["tokens_out"].append(0)
        data["cost_usd"].append(cost)
        data["ttft_s"].append(None)
    return pd.DataFrame(data)


def run(df: pd.DataFrame, events: Sequence[dict[str, Any]] = (),
        spans: pd.DataFrame | str | None = "empty") -> RunData:
    """A complete run; ``spans=None`` is a run whose span table is missing."""
    if isinstance(spans, str):  # a complete run whose calls left no spans
        spans = SPANS.empty_table().to_pandas()
    return RunData(Path("."), {"status": "complete", "mode": "sim"}, df, spans, None,
                   list(events), None, [])


def per_second(duration: int, bad: Sequence[tuple[float, float]] = (), latency: float = 0.1
               ) -> list[tuple[float, float | None, str]]:
    """One request per second; inside each ``bad`` interval they fail."""
    rows: list[tuple[float, float | None, str]] = []
    for t in range(duration):
        failing = any(a <= t < b for a, b in bad)
        rows.append((float(t), latency, "error" if failing else "ok"))
    return rows
