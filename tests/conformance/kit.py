"""The engine conformance suite's harness: one engine under test, its records, and the
tolerance each case states for engines that run on a real clock.

Cases are written against the engine seam (:class:`harness.engines.Engine`): they build a
scenario, let the engine run its arrival schedule into a run directory, and check the
records. The simulator must meet every expectation exactly (its clock is exact); an
engine on a wall clock (the live engine against the reference system) must meet it
within the slack the case states next to each timing, and within the statistical
tolerance of each share — those are the same for every engine.
"""

from __future__ import annotations

import json
import os
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.engines import Mode, engine_for
from harness.records.writer import RunWriter
from harness.scenario import Scenario, parse_scenario
from harness.scenario.schedule import build_schedule

#: The live engine plays each case this many times faster (a 3-minute case in 18 s); its
#: records are in scenario seconds, so the cases' expectations do not change.
LIVE_SCALE = float(os.environ.get("SQUALL_CONFORMANCE_SCALE", "10"))

#: Wall seconds a live fault may take to be applied or removed after its scheduled time
#: (a control call to the reference system, then to the process that owns the target).
LIVE_EDGE_WALL_S = 0.1


def scenario(text: str, *overrides: str) -> Scenario:
    return parse_scenario(textwrap.dedent(text), "conformance.yaml", overrides)


class EngineUnderTest:
    def __init__(self, mode: Mode, runs: Path) -> None:
        self.mode = mode
        self.exact = mode is Mode.SIM  #: a simulated clock: timings must match exactly
        self._runs = runs

    def __repr__(self) -> str:
        return f"EngineUnderTest({self.mode.value})"

    def run(self, s: Scenario, seed: int | None = None) -> Path:
        """Run ``s`` through the engine's seam; the run directory (records only)."""
        out = Path(tempfile.mkdtemp(prefix=f"{self.mode.value}-", dir=self._runs))
        writer = RunWriter(out, {"mode": self.mode.value})
        seed = s.seed if seed is None else seed
        if self.mode is Mode.LIVE:
            s = s.model_copy(update={"live": s.live.model_copy(
                update={"time_scale": LIVE_SCALE})})
        try:
            engine_for(self.mode).run(s, build_schedule(s, seed), writer, seed)
        finally:
            writer.close()
        return out

    @property
    def edge(self) -> float:
        """Scenario seconds either side of a fault's start or end that a case leaves out:
        none on a simulated clock; on a real one, the time a fault takes to be applied or
        removed, plus one sampling step (a timeseries is sampled, not exact, live)."""
        return 0.0 if self.exact else LIVE_EDGE_WALL_S * LIVE_SCALE + 1.0

    def inside(self, a: float, b: float, margin: float = 0.0) -> tuple[float, float]:
        """[a, b) less ``margin`` and the engine's :attr:`edge` at both ends: the part
        of a fault's span (or of the time between faults) clear of its boundaries."""
        return a + margin + self.edge, b - margin - self.edge

    def slack(self, seconds: float) -> float:
        """The slack for a bound on a timing: none (bar rounding) on a simulated clock;
        ``seconds`` of wall time on a real one — in scenario seconds, times the scale."""
        return 1e-9 if self.exact else seconds * LIVE_SCALE

    def about(self, expected: Any, slack: float) -> Any:
        """``expected`` seconds: exactly on a simulated clock, within ``slack`` seconds of
        wall time on a real one (what the case allows for the network and the event loop;
        a live case played K times faster sees it K times larger in scenario seconds)."""
        return pytest.approx(expected) if self.exact else \
            pytest.approx(expected, abs=slack * LIVE_SCALE)


def spans(run: Path) -> pd.DataFrame:
    return pd.read_parquet(run / "spans.parquet")


def requests(run: Path) -> pd.DataFrame:
    return pd.read_parquet(run / "requests.parquet").sort_values("id").reset_index(drop=True)


def timeseries(run: Path) -> pd.DataFrame:
    return pd.read_parquet(run / "timeseries.parquet")


def level(series: pd.Series, t: float) -> Any:
    """The value a sampled series held at ``t``: its last sample at or before ``t``."""
    held = series[series.index <= t + 1e-9]
    assert len(held), f"no sample at or before {t}"
    return held.iloc[-1]


def events(run: Path, kind: str | None = None) -> list[dict[str, Any]]:
    out = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    out.sort(key=lambda e: e["t_s"])  # a live run writes some as it learns of them
    return [e for e in out if kind is None or e["type"] == kind]
