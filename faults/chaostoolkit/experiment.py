"""``squall chaos export``: a scenario as a Chaos Toolkit experiment.

- *Steady-state hypothesis*: the scenario's SLA — the share of good answers over the
  last SLA window (the ``attainment`` probe) is at least its availability.
- *Method*: the scenario's faults as actions, in order, each at its time after the
  load's warm-up (time-scaled), held until the rollbacks — so the hypothesis checked
  after the method sees them. Faults on the reference system go through its control
  API; faults on ``proxy.NAME`` become toxics on the proxy's API; command faults run
  their command (a ``process`` action).
- *Rollbacks*: one per action, removing what it applied. Every fault is also leased for
  the experiment's length plus a margin, so it lapses by itself if ``chaos run`` dies.
- *Controls*: :mod:`faults.chaostoolkit.control` runs the scenario's load (without its
  own faults) for the experiment.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from faults.proxy.mapping import toxics_for
from faults.specs import CommandFault, FaultSpecBase, PartitionFault, TargetKind


class Scenario(Protocol):
    """What an export reads of a scenario (:class:`harness.scenario.model.Scenario`;
    this module sits below it)."""

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def sla(self) -> Any: ...
    @property
    def target(self) -> Any: ...
    @property
    def fault_list(self) -> list[FaultSpecBase]: ...

__all__ = ["LEASE_MARGIN_S", "experiment_for"]

LEASE_MARGIN_S = 120.0  #: a fault outlives the experiment's planned end by this much


Scale = Callable[[FaultSpecBase], FaultSpecBase]


def _fault_body(spec: FaultSpecBase, scale: Scale) -> dict[str, Any]:
    """The fault as the control API takes it (time-scaled; no id, start or target)."""
    body = scale(spec).model_dump(mode="json", by_alias=True, exclude_none=True)
    for key in ("id", "at", "duration", "target", "description"):
        body.pop(key, None)
    return body


def _actions(spec: FaultSpecBase, scenario: Scenario, scale: Scale, lease: float
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(actions, rollbacks) that apply and remove ``spec``."""
    fid = spec.id or spec.kind_name()
    if isinstance(spec, CommandFault):
        act = [{"type": "action", "name": f"start-{fid}", "provider": {
            "type": "process", "path": spec.start[0], "arguments": spec.start[1:],
            "timeout": spec.timeout}}]
        back = [] if spec.stop is None else [{"type": "action", "name": f"stop-{fid}",
                                              "provider": {"type": "process",
                                                           "path": spec.stop[0],
                                                           "arguments": spec.stop[1:],
                                                           "timeout": spec.timeout}}]
        return act, back
    target = spec.parsed_target
    if target.kind is TargetKind.PROXY:
        proxy = scenario.target.proxies[target.name]
        if proxy.api is None:
            raise ValueError(f"fault {fid!r} targets {target}: give "
                             f"target.proxies.{target.name}.api, where the experiment's "
                             "actions reach that proxy")
        acts, backs = [], []
        for i, toxic in enumerate(toxics_for(scale(spec))):
            name = f"squall-{fid}-{i}"
            args = {"proxy_api": proxy.api, "proxy": target.name}
            acts.append({"type": "action", "name": f"apply-{fid}-{i}", "provider": {
                "type": "python", "module": "faults.chaostoolkit.actions",
                "func": "add_toxic",
                "arguments": {**args, "toxic": {**toxic, "name": name}, "lease_s": lease}}})
            backs.append({"type": "action", "name": f"remove-{fid}-{i}", "provider": {
                "type": "python", "module": "faults.chaostoolkit.actions",
                "func": "remove_toxic", "arguments": {**args, "name": name}}})
        return acts, backs
    args = {"control_url": "${squall_control}", "fault_id": fid}
    apply_args = {**args, "fault": _fault_body(spec, scale), "lease_s": lease,
                  "target": "" if isinstance(spec, PartitionFault) else spec.target}
    return ([{"type": "action", "name": f"apply-{fid}", "provider": {
                "type": "python", "module": "faults.chaostoolkit.actions",
                "func": "apply_fault", "arguments": apply_args}}],
            [{"type": "action", "name": f"remove-{fid}", "provider": {
                "type": "python", "module": "faults.chaostoolkit.actions",
                "func": "remove_fault", "arguments": args}}])


def experiment_for(scenario: Scenario, source: Path, *, control_url: str, run_dir: Path,
                   time_scale: float = 1.0, scale: Scale = lambda spec: spec,
                   warmup_s: float | None = None,
                   window_s: float | None = None) -> dict[str, Any]:
    """The experiment for ``scenario`` (read from ``source``), its load written to
    ``run_dir`` and its faults applied on the reference system at ``control_url`` (or
    the scenario's proxies), played ``time_scale`` times faster (``scale`` gives a
    fault's parameters at that scale). A ValueError says what cannot be exported."""
    k = time_scale
    sla = scenario.sla
    window = window_s if window_s is not None else sla.window
    faults = sorted(scenario.fault_list, key=lambda f: f.at)
    if not faults:
        raise ValueError("the scenario has no faults: an experiment needs a method")
    warmup = warmup_s if warmup_s is not None else max(window, min(faults[0].at, 60.0))
    ends = [f.at + (f.duration or 0.0) for f in faults]
    lease = round((max(ends) - min(f.at for f in faults)) / k + LEASE_MARGIN_S, 3)
    method: list[dict[str, Any]] = []
    rollbacks: list[dict[str, Any]] = []
    clock = warmup
    for spec in faults:
        actions, backs = _actions(spec, scenario, scale, lease)
        wait = max(spec.at - clock, 0.0) / k
        clock = max(clock, spec.at)
        if wait > 0:
            actions[0]["pauses"] = {"before": round(wait, 3)}
        method += actions
        rollbacks = backs + rollbacks  # undone in reverse order
    last = faults[-1]
    hold = min(last.duration or window, 2 * window) / k  # long enough to show in a window
    method[-1].setdefault("pauses", {})["after"] = round(max(hold, window / k), 3)
    kinds = ", ".join(sorted({f.kind_name() for f in faults}))
    return {
        "version": "1.0.0",
        "title": f"{scenario.name} holds its SLA under {kinds}",
        "description": (scenario.description or f"Exported by squall from {source.name}.")
        + f" SLA: {sla.availability:.2%} of answers ok within {sla.objective:g} s over "
          f"{window:g} s windows.",
        "tags": ["squall", scenario.name],
        "configuration": {
            "squall_run": str(run_dir),
            "squall_control": control_url,
            "squall_token": {"type": "env", "key": "SQUALL_TOKEN", "default": ""},
        },
        "controls": [{"name": "squall-load", "provider": {
            "type": "python", "module": "faults.chaostoolkit.control",
            "arguments": {"scenario": str(source.resolve()), "out": str(run_dir),
                          "target": "${squall_control}" if control_url else "",
                          "time_scale": k, "warmup_s": warmup}}}],
        "steady-state-hypothesis": {
            "title": f"{scenario.name} meets its SLA",
            "probes": [{"type": "probe", "name": "attainment-over-the-last-window",
                        "tolerance": {"type": "range",
                                      "range": [sla.availability, 1.0]},
                        "provider": {"type": "python",
                                     "module": "faults.chaostoolkit.probes",
                                     "func": "attainment",
                                     "arguments": {"window_s": window}}}],
        },
        "method": method,
        "rollbacks": rollbacks,
    }
