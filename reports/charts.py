"""Charts as inline SVG (matplotlib, no pyplot global state, no network).

Series are aggregated per SLA window before drawing, so a chart's size does not grow
with the number of requests.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["FaultBand", "Series", "line_chart", "svg"]

PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04",
           "#db2777", "#4b5563", "#65a30d"]
FAULT_COLORS = ["#f97316", "#a855f7", "#ef4444", "#14b8a6", "#eab308"]


@dataclass(frozen=True)
class Series:
    label: str
    x: Sequence[float]
    y: Sequence[float]
    style: str = "-"
    color: str | None = None
    step: bool = False


@dataclass(frozen=True)
class FaultBand:
    label: str
    start: float
    end: float


def svg(fig: Figure) -> str:
    """The figure as an ``<svg>`` element (no XML prolog, ids unique per chart)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    # matplotlib names clip paths and glyphs with ids that would clash across charts.
    prefix = f"c{id(fig):x}"
    text = re.sub(r'id="([^"]+)"', lambda m: f'id="{prefix}-{m[1]}"', text)
    return re.sub(r'(href="#|url\(#)([^")]+)', lambda m: f"{m[1]}{prefix}-{m[2]}", text)


def shade_faults(ax: Axes, faults: Sequence[FaultBand], minutes: bool) -> None:
    scale = 60.0 if minutes else 1.0
    for i, band in enumerate(faults):
        color = FAULT_COLORS[i % len(FAULT_COLORS)]
        end = band.end if band.end > band.start else band.start + scale * 0.1
        ax.axvspan(band.start / scale, end / scale, color=color, alpha=0.15, lw=0)
        ax.annotate(band.label, xy=(band.start / scale, 1.0), xycoords=("data", "axes fraction"),
                    fontsize=7, color=color, rotation=0, va="bottom")


def line_chart(title: str, series: Sequence[Series], *, ylabel: str = "",
               faults: Sequence[FaultBand] = (), hlines: Sequence[tuple[float, str]] = (),
               duration: float = 0.0, logy: bool = False, height: float = 2.6) -> str:
    fig = Figure(figsize=(9.0, height), dpi=96)
    ax = fig.add_subplot()
    minutes = duration > 300
    scale = 60.0 if minutes else 1.0
    for i, s in enumerate(series):
        xs = [x / scale for x in s.x]
        color = s.color or PALETTE[i % len(PALETTE)]
        if s.step:
            ax.step(xs, s.y, where="post", label=s.label, color=color, lw=1.3, ls=s.style)
        else:
            ax.plot(xs, s.y, label=s.label, color=color, lw=1.3, ls=s.style)
    for value, label in hlines:
        ax.axhline(value, color="#111827", lw=1, ls="--")
        ax.annotate(label, xy=(1.0, value), xycoords=("axes fraction", "data"), fontsize=7,
                    ha="right", va="bottom")
    shade_faults(ax, faults, minutes)
    if logy:
        ax.set_yscale("log")
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_xlabel("minutes" if minutes else "seconds", fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.25)
    if duration:
        ax.set_xlim(0, duration / scale)
    if series:
        ax.legend(fontsize=7, loc="upper left", ncols=min(len(series), 5), frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return svg(fig)
