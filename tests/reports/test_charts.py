"""Charts say what they show: enough axis labels to read a value off."""

from __future__ import annotations

import re

import numpy as np

from reports.charts import cdf_chart


def x_tick_labels(svg: str) -> list[str]:
    labels = re.findall(r'<g id="[^"]*xtick_\d+">.*?<text[^>]*>([^<]*)</text>', svg, re.S)
    return [label.strip() for label in labels if label.strip()]


def test_a_latency_cdf_within_one_decade_has_several_tick_labels() -> None:
    values = np.linspace(1.2, 3.5, 200)
    svg = cdf_chart({"run": (values, np.linspace(0, 1, 200))}, objective=3.0)
    labels = x_tick_labels(svg)
    assert {"2", "3"} <= set(labels), labels


def test_a_latency_cdf_over_decades_labels_each_decade() -> None:
    values = np.geomspace(0.01, 50, 200)
    svg = cdf_chart({"run": (values, np.linspace(0, 1, 200))}, objective=3.0)
    labels = set(x_tick_labels(svg))
    assert {"0.1", "1", "10"} <= labels, labels
