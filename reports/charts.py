"""Charts as inline SVG (matplotlib, no pyplot global state, no network).

Text stays text (``svg.fonttype: none``): smaller files, page fonts, selectable. Every
time chart shades and labels the fault windows.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")

from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator

__all__ = [
    "FaultBand",
    "Series",
    "breaker_chart",
    "cdf_chart",
    "cost_chart",
    "frontier_chart",
    "line_chart",
    "stacked_chart",
    "svg",
]

PALETTE = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#ca8a04",
           "#db2777", "#4b5563", "#65a30d"]
FAULT_COLORS = ["#f97316", "#a855f7", "#ef4444", "#14b8a6", "#eab308"]
OUTCOME_COLORS = {"ok": "#16a34a", "error": "#dc2626", "timeout": "#ea580c",
                  "rejected": "#9333ea", "dropped": "#6b7280"}
STATE_COLORS = {"open": "#dc2626", "half_open": "#f59e0b"}
_RC: Any = {
       "svg.fonttype": "none", "font.size": 8, "axes.titlesize": 10,
       "axes.titlelocation": "left", "legend.frameon": False, "legend.fontsize": 7,
       "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.25}


@dataclass(frozen=True)
class Series:
    label: str
    x: Sequence[float]
    y: Sequence[float | None]
    style: str = "-"
    color: str | None = None
    step: bool = False


@dataclass(frozen=True)
class FaultBand:
    label: str
    start: float
    end: float


def svg(fig: Figure) -> str:
    """The figure as an ``<svg>`` element (no XML prolog; ids unique per chart)."""
    buf = io.StringIO()
    with rc_context(_RC):
        fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    prefix = f"c{id(fig):x}"
    text = re.sub(r'id="([^"]+)"', lambda m: f'id="{prefix}-{m[1]}"', text)
    return re.sub(r'(href="#|url\(#)([^")]+)', lambda m: f"{m[1]}{prefix}-{m[2]}", text)


def _figure(height: float = 2.6) -> tuple[Figure, Axes]:
    with rc_context(_RC):
        fig = Figure(figsize=(9.0, height), dpi=96)
        ax = fig.add_subplot()
    return fig, ax


class _Time:
    """Seconds or minutes on the x axis, by the run's length."""

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self.scale = 60.0 if duration > 300 else 1.0
        self.label = "minutes" if self.scale == 60 else "seconds"

    def __call__(self, xs: Sequence[float] | np.ndarray) -> np.ndarray:
        return np.asarray(xs, dtype=float) / self.scale

    def finish(self, ax: Axes, faults: Sequence[FaultBand]) -> None:
        for i, band in enumerate(faults):
            color = FAULT_COLORS[i % len(FAULT_COLORS)]
            start = band.start / self.scale
            end = max(band.end, band.start + 0.004 * self.duration) / self.scale
            ax.axvspan(start, end, color=color, alpha=0.15, lw=0)
            ax.annotate(f" {band.label}", xy=(start, 0.99 - 0.07 * (i % 3)),
                        xycoords=("data", "axes fraction"), fontsize=7, color=color,
                        va="top", ha="left")
        ax.set_xlabel(self.label)
        if self.duration:
            ax.set_xlim(0, self.duration / self.scale)


def _y(values: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def line_chart(title: str, series: Sequence[Series], *, ylabel: str = "",
               faults: Sequence[FaultBand] = (), hlines: Sequence[tuple[float, str]] = (),
               duration: float = 0.0, logy: bool = False, height: float = 2.6) -> str:
    fig, ax = _figure(height)
    time = _Time(duration)
    with rc_context(_RC):
        for i, s in enumerate(series):
            color = s.color or PALETTE[i % len(PALETTE)]
            if s.step:
                ax.step(time(s.x), _y(s.y), where="post", label=s.label, color=color, lw=1.3,
                        ls=s.style)
            else:
                ax.plot(time(s.x), _y(s.y), label=s.label, color=color, lw=1.3, ls=s.style)
        for value, label in hlines:
            ax.axhline(value, color="#111827", lw=1, ls="--")
            ax.annotate(label, xy=(1.0, value), xycoords=("axes fraction", "data"),
                        fontsize=7, ha="right", va="bottom")
        time.finish(ax, faults)
        if logy:
            ax.set_yscale("log")
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        if series:
            ax.legend(loc="upper left", bbox_to_anchor=(0, -0.18), ncols=min(len(series), 6))
    return svg(fig)


def stacked_chart(title: str, x: Sequence[float], layers: dict[str, Sequence[float | None]],
                  *, colors: dict[str, str], ylabel: str = "", faults: Sequence[FaultBand] = (),
                  duration: float = 0.0) -> str:
    fig, ax = _figure()
    time = _Time(duration)
    with rc_context(_RC):
        ys = [np.nan_to_num(_y(v)) for v in layers.values()]
        ax.stackplot(time(x), ys, labels=list(layers), step="post",
                     colors=[colors.get(k, "#999") for k in layers], alpha=0.85)
        time.finish(ax, faults)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.legend(loc="upper left", bbox_to_anchor=(0, -0.18), ncols=len(layers))
    return svg(fig)


def breaker_chart(spans: dict[str, list[tuple[float, float, str]]], *,
                  faults: Sequence[FaultBand] = (), duration: float = 0.0) -> str:
    """When each breaker was open (red) or half-open (amber)."""
    names = sorted(spans)
    fig, ax = _figure(max(1.2, 0.35 * len(names) + 0.9))
    time = _Time(duration)
    with rc_context(_RC):
        for row, name in enumerate(names):
            for state in ("open", "half_open"):
                bars = [(s / time.scale, max(e - s, 0.002 * duration) / time.scale)
                        for s, e, st in spans[name] if st == state]
                if bars:
                    ax.broken_barh(bars, (row - 0.35, 0.7), color=STATE_COLORS[state],
                                   label=state.replace("_", "-") if row == 0 else None)
        ax.set_yticks(range(len(names)), names)
        ax.set_ylim(-0.6, len(names) - 0.4)
        time.finish(ax, faults)
        ax.set_title("Circuit breakers: open (red) and half-open (amber)")
        ax.grid(axis="y", visible=False)
    return svg(fig)


def cost_chart(times: Sequence[float], cumulative: Sequence[float], *,
               faults: Sequence[FaultBand] = (), duration: float = 0.0) -> str:
    fig, ax = _figure()
    time = _Time(duration)
    t = np.asarray(times, dtype=float)
    c = np.asarray(cumulative, dtype=float)
    with rc_context(_RC):
        if len(t) > 1:
            step = max(1, len(t) // 300)
            tt, cc = t[::step], c[::step]
            rate = np.diff(cc) / np.maximum(np.diff(tt), 1e-9) * 60
            ax.bar(time(tt[:-1]), rate, width=np.diff(time(tt)), align="edge", color="#93c5fd",
                   label="cost rate (USD/min)")
            twin = ax.twinx()
            twin.plot(time(t), c, color="#1e3a8a", lw=1.4, label="cumulative (USD)")
            twin.set_ylabel("USD")
            twin.grid(False)
            twin.legend(loc="upper right")
        time.finish(ax, faults)
        ax.set_title("Cost")
        ax.set_ylabel("USD / minute")
        if ax.get_legend_handles_labels()[1]:
            ax.legend(loc="upper left")
    return svg(fig)


def cdf_chart(runs: Mapping[str, tuple[Sequence[float], Sequence[float]]],
              objective: float) -> str:
    fig, ax = _figure(2.4)
    with rc_context(_RC):
        for i, (label, (values, probs)) in enumerate(runs.items()):
            ax.plot(np.maximum(np.asarray(values), 1e-4), probs, label=label,
                    color=PALETTE[i % len(PALETTE)], lw=1.4)
        ax.axvline(objective, color="#111827", lw=1, ls="--")
        ax.set_xscale("log")
        shown = [v for values, _ in runs.values() for v in values if v > 0]
        span = max(shown) / min(shown) if shown else 10.0
        # Less than a few decades of data: label 1-2-5 (or every) step, not one lone power.
        subs = (1.0, 2.0, 5.0) if span >= 10 else tuple(float(k) for k in range(1, 10))
        if span < 1000:
            ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
        ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _pos: ""))
        ax.set_xlabel("latency of successful requests (s, log scale)")
        ax.set_ylabel("fraction at or below")
        ax.set_title("Latency distribution")
        ax.legend(loc="lower right")
    return svg(fig)


def frontier_chart(cost: Sequence[float], quality: Sequence[float], passed: Sequence[bool],
                   frontier: Sequence[int], labels: Sequence[str]) -> str:
    """Every sweep point by cost and attainment; the frontier joined; passing points filled."""
    fig, ax = _figure(3.2)
    c, q = np.asarray(cost, dtype=float), np.asarray(quality, dtype=float) * 100
    ok = np.asarray(passed, dtype=bool)
    with rc_context(_RC):
        ax.scatter(c[ok], q[ok], color="#16a34a", s=28, label="passes every gate", zorder=3)
        ax.scatter(c[~ok], q[~ok], facecolors="none", edgecolors="#dc2626", s=28,
                   label="fails a gate", zorder=3)
        if frontier:
            order = sorted(frontier, key=lambda i: c[i])
            ax.plot(c[order], q[order], color="#2563eb", lw=1.2, label="frontier", zorder=2)
        for i, label in enumerate(labels):
            ax.annotate(label, (c[i], q[i]), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")
        ax.set_xlabel("total cost (USD)")
        ax.set_ylabel("SLA attainment (%)")
        ax.set_title("Cost and attainment of every configuration")
        ax.legend(loc="lower right")
    return svg(fig)
