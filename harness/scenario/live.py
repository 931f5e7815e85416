"""The ``live`` section (how a live run drives its target) and ``stop_conditions``.

Both are read only by ``--mode live``; a simulation ignores them.

.. code-block:: yaml

    live:
      time_scale: 4            # play the scenario 4× faster (see harness.scenario.timescale)
      target: http://127.0.0.1:8700   # a running reference system's control URL;
                                      # absent: the embedded one is started and stopped
      allow_hosts: []          # hosts outside 127.0.0.0/8 that may be driven
      max_send_lag: 50ms       # p99 send lag above this: the run is inconclusive
      max_inflight: 1000       # arrivals beyond this many open requests are dropped
      lease: 10s               # how long a fault outlives a silent driver
      load_workers: 0          # local Locust load workers under a master (0: one process)

    stop_conditions:
      - when: error_rate > 50%
        for: 30s
"""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, PositiveInt, field_validator

from harness.hosts import is_loopback
from harness.spec import Spec
from harness.units import Duration, PositiveDuration, parse_duration, parse_percent

__all__ = ["Live", "StopCondition", "is_loopback"]


class Live(Spec):
    time_scale: Annotated[float, Field(gt=0, le=1000)] = 1.0
    target: str | None = None
    allow_hosts: list[str] = Field(default_factory=list)
    max_send_lag: PositiveDuration = 0.05
    max_inflight: PositiveInt = 1000
    lease: PositiveDuration = 10.0
    load_workers: Annotated[int, Field(ge=0, le=64)] = 0  #: local Locust workers (0: one process)
    join_within: PositiveDuration = 60.0  #: how long the master waits for its load workers

    @field_validator("target")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL such as http://127.0.0.1:8700")
        return value

    def check_target(self) -> str | None:
        """Why the target may not be driven (outside loopback and not allowed), or None."""
        if self.target is None:
            return None
        host = urlsplit(self.target).hostname or ""
        if is_loopback(host) or host in self.allow_hosts:
            return None
        return (f"{host} is outside loopback: list it in live.allow_hosts (or pass "
                f"--allow-host {host}) to drive it")


_WHEN = re.compile(r"^\s*(error_rate|p50|p95|p99|dropped_rate)\s*(>=|>)\s*(\S+)\s*$")
StopMetric = Literal["error_rate", "p50", "p95", "p99", "dropped_rate"]


class StopCondition(Spec):
    """Abort the run when ``when`` holds over the last ``window`` of answers for ``for``
    seconds in a row (AWS FIS stop conditions, k6's ``abortOnFail`` thresholds)."""

    when: str
    for_: Duration = Field(0.0, alias="for")
    window: PositiveDuration = 10.0
    name: str | None = None

    @field_validator("when")
    @classmethod
    def _when(cls, value: str) -> str:
        cls.parse(value)
        return value

    @staticmethod
    def parse(when: str) -> tuple[StopMetric, str, float]:
        m = _WHEN.match(when)
        if m is None:
            raise ValueError(f"{when!r}: write METRIC > VALUE, METRIC one of error_rate, "
                             "dropped_rate (percent) or p50, p95, p99 (a duration)")
        metric, op, raw = m.groups()
        value = parse_percent(raw) if metric.endswith("_rate") else parse_duration(raw)
        return metric, op, value  # type: ignore[return-value]

    @property
    def label(self) -> str:
        return self.name or (self.when + (f" for {self.for_:g}s" if self.for_ else ""))
