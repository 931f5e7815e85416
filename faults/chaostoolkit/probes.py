"""Chaos Toolkit probes: SLA figures of a running Squall run, from its records.

A live run writes its records as it goes (``squall run --mode live --out DIR``); these
probes read what is there and look at the answers that came in the last ``window_s``
seconds (scenario time, counted back from the latest answer). The run directory is the
``run`` argument or the experiment's ``squall_run`` configuration; the SLA objective is
the run's own scenario's.
"""

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from harness.records.reader import read_so_far
from harness.records.rundir import RunDir

__all__ = ["attainment", "error_rate", "latency_p95", "sla_figures"]

COLUMNS = ["end_s", "latency_s", "outcome"]


class ProbeError(Exception):
    """The run directory cannot be read (the message says why)."""


def _run_dir(run: str, configuration: dict[str, Any] | None) -> Path:
    where = run or (configuration or {}).get("squall_run")
    if not where:
        raise ProbeError("give the run directory: the probe's run argument, or the "
                         "experiment's squall_run configuration")
    return Path(where)


def sla_figures(run: str = "", window_s: float = 30.0,
                configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """The last ``window_s`` seconds of answers: how many, the share within the SLA
    (``attainment``), the ``error_rate``, the ``p95_s`` latency of successes, and the
    scenario time ``t_s`` of the latest answer. With no answer yet: zeros, ``p95_s``
    null."""
    directory = _run_dir(run, configuration)
    try:
        scenario = json.loads(RunDir(directory).scenario.read_text(encoding="utf-8"))
        objective = float(scenario["sla"]["objective"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProbeError(f"{directory} is not a Squall run directory (yet): {exc}") from None
    req = read_so_far(directory, columns=COLUMNS)
    figures: dict[str, Any] = {"requests": 0, "attainment": 0.0, "error_rate": 0.0,
                               "p95_s": None, "t_s": 0.0, "objective_s": objective}
    if req is None:
        return figures
    req = req.dropna(subset=["end_s"])
    if req.empty:
        return figures
    now = float(req["end_s"].max())
    recent = req[req["end_s"] > now - window_s]
    ok = (recent["outcome"] == "ok").to_numpy()
    latency = recent["latency_s"].to_numpy(dtype=float)
    good = ok & (latency <= objective)
    figures.update(requests=len(recent), t_s=round(now, 3),
                   attainment=round(float(good.mean()), 6),
                   error_rate=round(1 - float(ok.mean()), 6))
    if ok.any():
        p95 = float(np.percentile(latency[ok], 95))
        figures["p95_s"] = round(p95, 6) if math.isfinite(p95) else None
    return figures


def attainment(run: str = "", window_s: float = 30.0,
               configuration: dict[str, Any] | None = None) -> float:
    """The share of the last window's answers that were good (ok within the SLA)."""
    return float(sla_figures(run, window_s, configuration)["attainment"])


def error_rate(run: str = "", window_s: float = 30.0,
               configuration: dict[str, Any] | None = None) -> float:
    """The share of the last window's answers that failed."""
    return float(sla_figures(run, window_s, configuration)["error_rate"])


def latency_p95(run: str = "", window_s: float = 30.0,
                configuration: dict[str, Any] | None = None) -> float:
    """The 95th percentile latency of the last window's successes (inf: none)."""
    p95 = sla_figures(run, window_s, configuration)["p95_s"]
    return math.inf if p95 is None else float(p95)
