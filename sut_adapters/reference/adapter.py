"""The reference agent system as a live target (:class:`harness.live.target.Target`).

Embedded (no ``url``): the supervisor is started as a process of its own from the
scenario's ``system`` (time-scaled when the run is), starts everything else, and is
stopped — every process it started with it — when the run ends. Attached (``url``: the
control URL ``squall reference up`` prints, with its ``token``): a running reference
system is driven and left running, its faults rolled back.

Responses carry their trace (``squall``: steps, attempts, spans on the machine's
monotonic clock); this adapter turns it into the same request and span fields the
simulator writes, in scenario seconds.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from faults.specs import FaultSpecBase, ToxicFault
from harness.errors import InputError
from harness.live.target import Answer, Request, TargetError, seconds, transport_kind
from harness.outcomes import ErrorKind
from harness.scenario.model import Scenario
from harness.scenario.timescale import time_scaled
from sut_adapters.reference.procs import Service, StartError, start_service, stop_service

__all__ = ["ReferenceTarget", "cannot_apply", "open_reference"]

_KINDS = {k.value for k in ErrorKind}
#: The driver's transport failures, as the simulator names them.
CONTROL_TIMEOUT_S = 10.0  #: a control call that takes longer is a broken system
STOP_GRACE_S = 20.0  #: how long the supervisor may take to stop everything


def open_reference(scenario: Scenario, *, url: str | None = None, token: str | None = None,
                   time_scale: float = 1.0, workdir: Path | None = None) -> ReferenceTarget:
    if url is not None:
        if not token:
            raise InputError("driving a running reference system needs its control token "
                             "(--token, or SQUALL_TOKEN)", source="--target")
        return ReferenceTarget(scenario, url.rstrip("/"), token, time_scale)
    token = secrets.token_urlsafe(24)
    system = scenario.system if time_scale == 1 else time_scaled(scenario.system, time_scale)
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="squall-live-")) if workdir is None else workdir
    processes = 2 + len(system.endpoints) + len(system.tools) + sum(
        a.replicas.initial for a in system.agents.values())
    try:
        service = start_service("supervisor", scenario.name, system.model_dump(mode="json"),
                                 token=token, seed=scenario.seed, workdir=work,
                                 ready_within=30.0 + 2.0 * processes, await_clock=True)
    except StartError as exc:
        if own:
            shutil.rmtree(work, ignore_errors=True)
        raise TargetError(f"the reference system did not start: {exc}") from None
    target = ReferenceTarget(scenario, service.url, token, time_scale)
    target._service, target._workdir = service, (work if own else None)
    return target


class ReferenceTarget:
    def __init__(self, scenario: Scenario, control: str, token: str, k: float) -> None:
        self.scenario, self.control, self.token, self.k = scenario, control, token, k
        self._service: Service | None = None
        self._workdir: Path | None = None
        self._applied: set[str] = set()
        state = self._call("GET", "/_squall/state")
        self._seq = int(state.get("events_seq", 0))  #: replica events read up to here
        self._first = True
        orchestrator = state.get("orchestrator") or {}
        if not isinstance(orchestrator, dict) or not orchestrator.get("url"):
            raise TargetError(f"{control} is not a reference system's control API")
        self.url: str = orchestrator["url"]
        known = set(state.get("agents") or {})
        if not set(scenario.system.agents) <= known:
            raise TargetError(f"the system at {control} is not this scenario's: it runs "
                              f"the agents {', '.join(sorted(known)) or 'none'}")

    # --- control API -------------------------------------------------------------------

    def _call(self, method: str, path: str, body: Any = None, *,
              missing_ok: bool = False) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.control + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=CONTROL_TIMEOUT_S) as resp:
                answer: dict[str, Any] = json.loads(resp.read() or b"{}")
                return answer
        except urllib.error.HTTPError as exc:
            if missing_ok and exc.code == 404:
                return {}
            try:
                message = json.loads(exc.read())["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = exc.reason
            if exc.code == 401:
                raise TargetError(f"the control API at {self.control} refused the token "
                                  "(401)") from None
            raise TargetError(f"{method} {path}: {exc.code} {message}") from None
        except (OSError, ValueError) as exc:
            raise TargetError(f"the control API at {self.control} did not answer "
                              f"{method} {path}: {exc}") from None

    def apply(self, fault_id: str, target: str, fault: dict[str, Any], lease_s: float) -> None:
        self._call("PUT", f"/_squall/faults/{quote(fault_id, safe='')}",
                   {"target": target, "fault": fault, "lease_s": lease_s})
        self._applied.add(fault_id)

    def renew(self, fault_id: str, lease_s: float) -> None:
        self._call("POST", f"/_squall/faults/{quote(fault_id, safe='')}/renew",
                   {"lease_s": lease_s}, missing_ok=True)

    def remove(self, fault_id: str) -> None:
        self._call("DELETE", f"/_squall/faults/{quote(fault_id, safe='')}", missing_ok=True)
        self._applied.discard(fault_id)

    def begin(self, t0: float) -> None:
        """The run's t = 0: the supervisor's autoscaler ticks from it."""
        self._call("PUT", "/_squall/clock", {"t0": t0})

    def remove_all(self) -> None:
        for fault_id in sorted(self._applied):
            self.remove(fault_id)

    # --- requests ----------------------------------------------------------------------

    def request(self, workflows: Sequence[str]) -> Request:
        return Request([f"/v1/workflows/{quote(w, safe='')}" for w in workflows],
                       ['{"request_id": %(id)d, "priority": "%(priority)s"}'])

    def answer(self, status: int, body: bytes | None, transport: str | None,
               t0: float, k: float, *, sent: float | None = None,
               marks: list[tuple[int, float]] | None = None) -> Answer:
        if status == 0 or transport is not None:
            return Answer(error=transport_kind(transport))
        try:
            data = json.loads(body or b"")
        except ValueError:
            return Answer(error=ErrorKind.MALFORMED.value)
        if not isinstance(data, dict):
            return Answer(error=ErrorKind.MALFORMED.value)
        if status == 200 and data.get("ok") is True:
            error = None
        else:
            raw = data.get("error")
            kind = raw.get("type") if isinstance(raw, dict) else None
            error = kind if kind in _KINDS else ErrorKind.ERROR.value
        trace = data.get("squall")
        if not isinstance(trace, dict):
            return Answer(error=error)
        try:
            return Answer(error=error, attempts=int(trace["attempts"]),
                          steps=int(trace["steps"]), fallback=bool(trace["fallback"]),
                          tokens_in=int(trace["tokens_in"]), tokens_out=int(trace["tokens_out"]),
                          cost=float(trace["cost"]),
                          spans=[_span(s, t0, k) for s in trace["spans"]],
                          events=[_breaker(e, t0, k) for e in trace.get("events", ())])
        except (KeyError, TypeError, ValueError):
            return Answer(error=error or ErrorKind.MALFORMED.value)

    # --- state -------------------------------------------------------------------------

    def sample(self) -> tuple[list[tuple[Any, ...]],
                              list[tuple[float | None, str, dict[str, Any]]]]:
        """Timeseries rows (without time), and the replica events since the last sample
        as the supervisor logged them (their time on its clock). The first sample starts
        the run's books: every replica there is then, started and (if so) ready."""
        state = self._call("GET", f"/_squall/state?load=1&events_after={self._seq}")
        rows: list[tuple[Any, ...]] = []
        events: list[tuple[float | None, str, dict[str, Any]]] = []
        agents = self.scenario.system.agents
        # calls waiting in an agent's shared queue wait at the orchestrator, not a replica
        shared = ((state.get("orchestrator") or {}).get("load") or {}).get("agents") or {}
        for name, listing in (state.get("agents") or {}).items():
            spec = agents.get(name)
            conc = spec.concurrency if spec is not None else 1
            replicas = ready = busy = queued = 0
            for rep in listing:
                service = rep.get("service") or {}
                alive = bool(service.get("alive"))
                up = bool(rep.get("ready")) and alive
                replicas += not rep.get("doomed")
                ready += up and not rep.get("away") and not rep.get("draining")
                load = service.get("load") or {}
                busy += int(load.get("busy", 0))
                queued += int(load.get("queued", 0))
                if self._first and alive and not rep.get("doomed"):
                    index = int(rep["replica"])
                    events.append((None, "replica_start", {
                        "agent": name, "replica": index, "cold_start_s": 0.0,
                        "price_per_s": self._price(name)}))
                    if up:
                        events.append((None, "replica_ready", {"agent": name,
                                                               "replica": index}))
            queued += int((shared.get(name) or {}).get("queued", 0))
            rows.append(("agent", name, replicas, ready, ready * conc, busy, queued, None,
                         None))
        for kind, section in (("endpoint", "endpoints"), ("tool", "tools")):
            for name, service in sorted((state.get(section) or {}).items()):
                load = (service or {}).get("load")
                if load is None:  # down, or too busy to say: no row rather than a guess
                    continue
                rows.append((kind, name, None, None, int(load["capacity"]), int(load["busy"]),
                             int(load["queued"]), None, None))
        for raw in state.get("events") or ():
            self._seq = max(self._seq, int(raw["seq"]))
            type_ = raw["type"]
            fields = {k: v for k, v in raw.items() if k not in ("seq", "t", "type")}
            for key in ("restart_s", "cold_start_s"):  # wall seconds → scenario seconds
                if fields.get(key) is not None:
                    fields[key] = round(float(fields[key]) * self.k, 6)
            if type_ == "replica_start":
                fields["price_per_s"] = self._price(fields["agent"])
            events.append((float(raw["t"]), type_, fields))
        self._first = False
        return rows, events

    def _price(self, agent: str) -> float:
        spec = self.scenario.system.agents.get(agent)
        price = spec.compute_price_per_s if spec is not None else None
        return self.scenario.cost.compute_price_per_s if price is None else price

    def close(self) -> None:
        with contextlib.suppress(TargetError):
            self.remove_all()
        if self._service is not None:
            stop_service(self._service, grace=STOP_GRACE_S)
            self._service = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None


def cannot_apply(scenario: Scenario, fault: FaultSpecBase) -> str | None:
    """The reference system applies every fault kind through its control API, except a
    proxy's toxics (it has no proxies; a command runs beside any target)."""
    if isinstance(fault, ToxicFault):
        return "a toxic acts on a squall proxy, and the reference system has none"
    return None


def _breaker(e: dict[str, Any], t0: float, k: float) -> tuple[float, str, dict[str, Any]]:
    if e["type"] != "breaker":
        raise ValueError(f"an event of an unknown type {e['type']!r}")
    return ((float(e["t"]) - t0) * k, "breaker",
            {"component": str(e["component"]), "from": str(e["from"]), "to": str(e["to"])})


def _span(s: dict[str, Any], t0: float, k: float) -> tuple[Any, ...]:
    return (s["kind"], s["component"], s["caller"], int(s["replica"]), int(s["attempt"]),
            (float(s["start"]) - t0) * k, (float(s["end"]) - t0) * k,
            float(s.get("queue_s") or 0.0) * k, s.get("error"), bool(s.get("fallback")),
            int(s.get("tokens_in") or 0), int(s.get("tokens_out") or 0),
            float(s.get("cost") or 0.0), seconds(s.get("hop_s"), k))
