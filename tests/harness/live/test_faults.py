"""The live fault controller's own logic, on a recording target: when faults are
applied and removed (scenario seconds ÷ K), that leases are renewed while a fault is
active, that a fault the system refuses makes the run doubtful, and that stopping rolls
back what is active. (The live tests drive the real reference system.)"""

from __future__ import annotations

import time
from typing import Any

from faults.specs import FaultSpecBase
from harness.live.faults import FaultController
from harness.live.target import TargetError
from harness.scenario import parse_scenario

TEXT = """
name: f
duration: 100s
system:
  endpoints: {m: {latency: 1s}}
  agents: {a: {replicas: 2, llm: {endpoint: m}}}
  workflows: {w: {steps: [a]}}
demand: {curve: {constant: 1}}
faults:
  - {id: slow, kind: latency, target: endpoint.m, at: 10s, duration: 20s, add: 2s}
  - {id: boom, kind: crash, target: agent.a, at: 20s, count: 1}
  - {id: down, kind: outage, target: agent.a, at: 50s}
sla: {objective: 5s}
"""


class Recorder:
    def __init__(self, refuse: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.calls: list[tuple[float, str, str, Any]] = []
        self.refuse = refuse
        self.t0 = time.monotonic()

    def _log(self, what: str, fault_id: str, extra: Any = None) -> None:
        self.calls.append((time.monotonic() - self.t0, what, fault_id, extra))

    def apply(self, fault_id: str, target: str, fault: dict[str, Any], lease_s: float) -> None:
        if fault_id in self.refuse:
            raise TargetError("422 the system cannot take it")
        self._log("apply", fault_id, fault)

    def renew(self, fault_id: str, lease_s: float) -> None:
        self._log("renew", fault_id)

    def remove(self, fault_id: str) -> None:
        self._log("remove", fault_id)

    def remove_all(self) -> None:
        self._log("remove_all", "*")


def controller(target: Recorder, k: float = 100.0, lease: float = 0.06) -> FaultController:
    s = parse_scenario(TEXT)
    faults: list[FaultSpecBase] = s.fault_list
    return FaultController(target, faults, t0=time.monotonic(), k=k,  # type: ignore[arg-type]
                           lease=lease)


def test_faults_are_applied_and_removed_on_the_scaled_timeline_and_renewed() -> None:
    target = Recorder()
    ctl = controller(target)
    ctl.start()
    time.sleep(0.7)  # 70 scenario seconds
    events = ctl.events()
    last = ctl.stop()
    order = [(what, fid) for _t, what, fid, _x in target.calls if what != "renew"]
    assert order == [("apply", "slow"), ("apply", "boom"), ("remove", "boom"),
                     ("remove", "slow"), ("apply", "down"), ("remove", "down"),
                     ("remove_all", "*")]
    applied = {fid: (t, x) for t, what, fid, x in target.calls if what == "apply"}
    assert applied["slow"][0] >= 0.10  # at 10 s ÷ 100
    assert applied["slow"][1]["add"] == 0.02  # 2 s of added latency ÷ 100
    assert applied["down"][0] >= 0.50
    renewed = [fid for _t, what, fid, _x in target.calls if what == "renew"]
    assert renewed.count("slow") >= 3  # 20 s ÷ 100 = 200 ms, a renewal every 20 ms
    assert "boom" not in renewed  # a crash without restart is an event, not a window
    types = [(e[1], e[2]["fault"]) for e in events + last]
    # as the simulator writes them: a crash without restart has no end
    assert types == [("fault_start", "slow"), ("fault_start", "boom"), ("fault_end", "slow"),
                     ("fault_start", "down"), ("fault_end", "down")]
    assert ctl.doubts == []


def test_a_fault_the_system_refuses_makes_the_run_doubtful() -> None:
    target = Recorder(refuse={"slow"})
    ctl = controller(target)
    ctl.start()
    time.sleep(0.35)
    ctl.stop()
    assert ctl.doubts == ["fault 'slow' could not be applied: 422 the system cannot take it"]
    assert all(fid != "slow" for _t, _w, fid, _x in target.calls)
