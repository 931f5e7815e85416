"""Prometheus ``/metrics`` for reference services (prometheus-client, text format).

Each service describes its state at scrape time (a custom collector: nothing is
counted twice or kept in a global registry); counters the service keeps itself are
exported as counters."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["Metric", "add_metrics", "counter", "gauge"]


def _family(cls: type[Any], name: str, doc: str, labels: list[str],
            values: Iterable[tuple[list[str], float]]) -> Any:
    family = cls(name, doc, labels=labels)
    for label_values, value in values:
        family.add_metric(label_values, value)
    return family


def gauge(name: str, doc: str, labels: list[str],
          values: Iterable[tuple[list[str], float]]) -> GaugeMetricFamily:
    family: GaugeMetricFamily = _family(GaugeMetricFamily, name, doc, labels, values)
    return family


def counter(name: str, doc: str, labels: list[str],
            values: Iterable[tuple[list[str], float]]) -> CounterMetricFamily:
    family: CounterMetricFamily = _family(CounterMetricFamily, name, doc, labels, values)
    return family


class _Collector(Collector):
    def __init__(self, collect: Callable[[], Iterable[Metric]]) -> None:
        self._collect = collect

    def collect(self) -> Iterable[Metric]:
        return self._collect()


def add_metrics(app: web.Application, collect: Callable[[], Iterable[Metric]]) -> None:
    """Serve ``GET /metrics`` from ``collect()`` (called at each scrape)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(collect))

    async def metrics(_request: web.Request) -> web.Response:
        body: Any = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/metrics", metrics)
