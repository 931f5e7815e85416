"""The load driver's own CPU use, sampled from ``/proc`` (Linux): the driver process and
its load workers (one process group). Locust warns only after 10 s above 90% (and its
first sample is 0, so a short saturated run never warns); this is sampled at every
timeseries step and kept with the generator's health."""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["GroupCpu"]

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _group_ticks(pgid: int) -> int | None:
    total, found = 0, False
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for name in entries:
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[2]) != pgid:  # field 5 of stat: the process group
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
        found = True
    return total if found else None


class GroupCpu:
    """CPU share (1.0 = one core busy) of a process group between calls."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self._last = (time.monotonic(), _group_ticks(pgid))
        self.samples: list[float] = []

    def sample(self) -> float | None:
        now, ticks = time.monotonic(), _group_ticks(self.pgid)
        then, before = self._last
        self._last = (now, ticks)
        if ticks is None or before is None or now <= then:
            return None
        share = (ticks - before) / _TICK / (now - then)
        self.samples.append(share)
        return share

    def summary(self) -> dict[str, float | None]:
        if not self.samples:
            return {"cpu_peak": None, "cpu_mean": None}
        return {"cpu_peak": round(max(self.samples), 3),
                "cpu_mean": round(sum(self.samples) / len(self.samples), 3)}
