"""``squall demand plot``: the rate curve over the realised arrivals per window."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib
import numpy as np

matplotlib.use("Agg")
from matplotlib.figure import Figure

from harness.errors import InputError
from harness.scenario.schedule import build_schedule

if TYPE_CHECKING:
    from harness.scenario.model import Scenario

__all__ = ["plot_demand"]


def plot_demand(scenario: Scenario, output: Path, *, seed: int | None = None,
                window: float = 10.0) -> int:
    """Draw the curve and the arrivals per ``window``; return the number of arrivals."""
    seed = scenario.seed if seed is None else seed
    schedule = build_schedule(scenario, seed)
    curve = scenario.demand.build_curve(seed)
    duration = scenario.duration
    minutes = duration > 600
    scale = 60.0 if minutes else 1.0
    t = np.linspace(0.0, duration, 2000)
    counts = schedule.counts(window)
    edges = np.arange(len(counts)) * window
    fig = Figure(figsize=(10, 3.6), dpi=110)
    ax = fig.add_subplot()
    ax.bar(edges / scale, counts / window, width=window / scale, align="edge", alpha=0.35,
           color="#2563eb", label=f"realised arrivals per {window:g} s (seed {seed})")
    ax.plot(t / scale, np.maximum(curve(t), 0.0), color="#dc2626", lw=1.5, label="rate curve")
    ax.set_xlabel("minutes" if minutes else "seconds")
    ax.set_ylabel("requests / s")
    ax.set_title(f"{scenario.name}: {len(schedule):,} arrivals "
                 f"({scenario.demand.arrivals.process.value})", loc="left", fontsize=10)
    ax.legend(frameon=False, fontsize=8)
    ax.grid(alpha=0.25)
    ax.set_xlim(0, duration / scale)
    if output.suffix.lower() != ".png":
        raise InputError("the plot is a PNG: give a file ending in .png", source=str(output))
    try:
        fig.savefig(output, format="png", bbox_inches="tight")
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror}", source=str(output)) from None
    return len(schedule)
