"""The system model, refitted to what a trace observed.

Each distribution the simulator draws from is replaced by a fit to its observations
(:mod:`harness.calibrate.observe`), when there are at least ``min_samples`` of them;
otherwise it stays as written, and the report says so.

- ``agents.A.service_time`` ← the agent's own time per clean invocation;
- ``endpoints.E.latency`` (a whole-call latency) ← its calls' time; or, for
  ``ttft`` + ``per_token``: when output tokens vary, ``per_token`` is the least-squares
  slope of time on tokens and ``ttft`` the fit of what is left; when they do not, the
  written ``per_token`` is kept and ``ttft`` fitted to time − per_token × (tokens − 1);
- ``tools.T.latency`` ← its calls' time;
- ``agents.A.llm[i]``: ``calls``, ``input_tokens``, ``output_tokens``; and
  ``agents.A.tools[i].calls`` ← per invocation;
- ``agents.A.cold_start`` ← the time from each cold replica start to its serving (the
  autoscaler's cold start, which the agent's overrides, is left as it is).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.calibrate.fit import Fit, fit_count, fit_duration
from harness.calibrate.observe import Observed
from harness.dists import Constant, DistSpec
from harness.scenario.system import Agent, Endpoint, System

__all__ = ["MIN_SAMPLES", "Fitted", "calibrate_system"]

MIN_SAMPLES = 30
_VARIES = 0.05  # output tokens vary when their coefficient of variation exceeds this


@dataclass(frozen=True)
class Fitted:
    """One distribution of the model and what became of it."""

    path: str  #: where it is in the scenario: ``system.endpoints.frontier.ttft``
    n: int  #: observations
    fit: Fit | None  #: None: too few observations, kept as written
    before: DistSpec | None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "n": self.n,
                               "before": _spec(self.before), "note": self.note or None}
        if self.fit is not None:
            out.update(self.fit.to_json(), after=_spec(self.fit.dist))
        return out


def _spec(dist: DistSpec | None) -> Any:
    if dist is None:
        return None
    data = dist.model_dump(mode="json", exclude_defaults=True)
    return data.get("mean") if set(data) == {"mean"} else {"dist": dist.kind, **data}


class _Fitter:
    def __init__(self, min_samples: int, seed: int) -> None:
        self.min_samples, self.seed = min_samples, seed
        self.report: list[Fitted] = []

    def __call__(self, path: str, values: np.ndarray | None, before: DistSpec | None,
                 fitter: Callable[..., Fit] = fit_duration, note: str = "") -> DistSpec | None:
        """The fitted distribution, or None to keep ``before``."""
        n = 0 if values is None else len(values)
        if values is None or n < self.min_samples:
            self.report.append(Fitted(path, n, None, before,
                                      f"{n} observations (fewer than {self.min_samples}): "
                                      "kept as written"))
            return None
        fit = fitter(values, seed=self.seed)
        self.report.append(Fitted(path, n, fit, before, note))
        return fit.dist


def _endpoint(name: str, spec: Endpoint, obs: Observed, fit: _Fitter) -> Endpoint:
    path = f"system.endpoints.{name}"
    took = obs.endpoint.get(name)
    if spec.latency is not None or took is None:
        dist = fit(f"{path}.latency" if spec.latency is not None else f"{path}.ttft", took,
                   spec.latency or spec.ttft)
        if dist is None:
            return spec
        return spec.model_copy(update={"latency" if spec.latency is not None else "ttft": dist})
    tokens = np.maximum(obs.endpoint_tokens[name] - 1, 0.0)
    varies = tokens.mean() > 0 and tokens.std() / max(tokens.mean(), 1e-12) > _VARIES \
        and len(np.unique(tokens)) >= 3
    if varies and len(took) >= fit.min_samples:
        slope = float(np.polyfit(tokens, took, 1)[0])
        per = max(slope, 0.0)
        note = (f"per_token {1000 * per:.4g} ms: the slope of time on output tokens "
                f"({len(np.unique(tokens))} distinct counts)")
        per_token: DistSpec = Constant(mean=float(f"{per:.4g}"))
    else:
        per = spec.per_token.mean_value()
        note = "output tokens do not vary: per_token kept as written"
        per_token = spec.per_token
    dist = fit(f"{path}.ttft", took - per * tokens, spec.ttft, note=note)
    if dist is None:
        return spec
    return spec.model_copy(update={"ttft": dist, "per_token": per_token})


def _sum(arrays: Iterable[np.ndarray | None]) -> np.ndarray | None:
    """Per-invocation counts summed over callees (aligned: one order of invocations)."""
    found = [a for a in arrays if a is not None]
    return np.sum(found, axis=0) if found else None


def _joined(arrays: Iterable[np.ndarray | None]) -> np.ndarray | None:
    found = [a for a in arrays if a is not None]
    return np.concatenate(found) if found else None


def _agent(name: str, spec: Agent, obs: Observed, fit: _Fitter, system: System) -> Agent:
    path = f"system.agents.{name}"
    update: dict[str, Any] = {}
    service = fit(f"{path}.service_time", obs.service.get(name), spec.service_time)
    if service is not None:
        update["service_time"] = service
    endpoints = [c.endpoint for c in spec.llm]
    # low-priority requests send every LLM call of the agent to its low_priority endpoint:
    # with one entry those calls are the entry's; with more, they cannot be told apart
    low = spec.low_priority.endpoint if spec.low_priority is not None else None
    llm = []
    for i, call in enumerate(spec.llm):
        if endpoints.count(call.endpoint) > 1 or (low is not None and len(spec.llm) > 1):
            llm.append(call)  # which entry made a call cannot be told: kept as written
            continue
        at = f"{path}.llm[{i}]"
        went = [call.endpoint] + ([low] if low is not None and low != call.endpoint else [])
        changes = {
            "calls": fit(f"{at}.calls", _sum(obs.calls.get((name, "llm", e)) for e in went),
                         call.calls, fit_count),
            "input_tokens": fit(f"{at}.input_tokens",
                                _joined(obs.tokens_in.get((name, e)) for e in went),
                                call.input_tokens, fit_count),
            "output_tokens": fit(f"{at}.output_tokens",
                                 _joined(obs.tokens_out.get((name, e)) for e in went),
                                 call.output_tokens, fit_count),
        }
        llm.append(call.model_copy(update={k: v for k, v in changes.items() if v is not None}))
    tools = []
    names = [t.tool for t in spec.tools]
    for i, use in enumerate(spec.tools):
        calls = None if names.count(use.tool) > 1 else fit(
            f"{path}.tools[{i}].calls", obs.calls.get((name, "tool", use.tool)), use.calls,
            fit_count)
        tools.append(use if calls is None else use.model_copy(update={"calls": calls}))
    update.update(llm=llm, tools=tools)
    if name in obs.cold_start:
        cold = fit(f"{path}.cold_start", obs.cold_start[name][0],
                   system.cold_start_for(name))
        if cold is not None:
            update["cold_start"] = cold
    return spec.model_copy(update=update)


def calibrate_system(system: System, obs: Observed, *, min_samples: int = MIN_SAMPLES,
                     seed: int = 0) -> tuple[System, list[Fitted]]:
    """``system`` with every distribution the observations cover refitted, and a line
    per distribution saying how."""
    fit = _Fitter(min_samples, seed)
    endpoints = {n: _endpoint(n, e, obs, fit) for n, e in system.endpoints.items()}
    tools = {}
    for name, tool in system.tools.items():
        dist = fit(f"system.tools.{name}.latency", obs.tool.get(name), tool.latency)
        tools[name] = tool if dist is None else tool.model_copy(update={"latency": dist})
    agents = {n: _agent(n, a, obs, fit, system) for n, a in system.agents.items()}
    update: dict[str, Any] = {"endpoints": endpoints, "tools": tools, "agents": agents}
    if obs.request_overhead is not None:
        overhead = fit("system.request_overhead", obs.request_overhead,
                       system.request_overhead)
        if overhead is not None:
            update["request_overhead"] = overhead
    fitted = system.model_copy(update=update)
    # through validation again: what is written must load as it is
    return System.model_validate(fitted.model_dump(mode="json", by_alias=True)), fit.report
