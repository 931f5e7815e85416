"""``squall reference up`` as a user runs it: the whole system as real processes, every
replica fault applied through the supervisor, restarts, and no orphans at the end."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.sut_adapters.reference.conftest import Http

pytestmark = pytest.mark.live

SCENARIO = """
name: tiny
duration: 1m
system:
  endpoints: {m: {latency: 30ms, concurrency: 8}}
  tools: {db: {latency: 10ms}}
  agents:
    a: {replicas: 3, service_time: 20ms, llm: {endpoint: m}, tools: [{tool: db}],
        fallback: [b], cold_start: 1s}
    b: {replicas: 1, service_time: 10ms}
  workflows: {flow: {steps: [a, b]}}
demand: {curve: {constant: 2}}
sla: {objective: 2s}
"""
TOKEN = "sup-token"


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    orchestrator: str
    control: Http
    output: str

    def state(self) -> dict[str, Any]:
        status, body = self.control.json("GET", "/_squall/state")
        assert status == 200
        return body

    def events_after(self, seq: int) -> list[dict[str, Any]]:
        status, body = self.control.json("GET", f"/_squall/state?events_after={seq}")
        assert status == 200
        events: list[dict[str, Any]] = body["events"]
        return events

    def pids(self) -> list[int]:
        state = self.state()
        services = [state["orchestrator"], *state["endpoints"].values(),
                    *state["tools"].values()]
        services += [r["service"] for rs in state["agents"].values() for r in rs]
        return [s["pid"] for s in services if s is not None]

    def flow(self) -> tuple[int, dict[str, Any]]:
        return Http(self.orchestrator).json("POST", "/v1/workflows/flow", {})


def start(tmp_path: Path, text: str = SCENARIO, *extra: str) -> Running:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "s.yaml"
    path.write_text(text)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli.main", "reference", "up", str(path),
         "--token", TOKEN, "--logs", str(tmp_path / "logs"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    out = _read_until(proc, "Ctrl-C stops it", within=30)
    lines = {line.split()[0]: line.split()[1] for line in out.splitlines()[1:] if line.strip()}
    return Running(proc, lines["workflows"].removesuffix("/v1/workflows/NAME"),
                   Http(lines["control"].removesuffix("/_squall/state"), TOKEN), out)


def _read_until(proc: subprocess.Popen[bytes], marker: str, within: float) -> str:
    assert proc.stdout is not None
    deadline, text = time.monotonic() + within, b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while marker.encode() not in text:
            left = deadline - time.monotonic()
            if left <= 0 or proc.poll() is not None:
                stop(proc)
                err = proc.stderr.read().decode() if proc.stderr and proc.poll() is not None \
                    else ""
                pytest.fail(f"reference up did not come up: {text.decode()} {err}")
            if sel.select(min(left, 0.2)):
                text += os.read(proc.stdout.fileno(), 4096)
    return text.decode()


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        return proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout=5)
    finally:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def gone(pids: list[int], within: float = 10.0) -> list[int]:
    """The pids still alive after ``within`` seconds."""
    deadline = time.monotonic() + within
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        time.sleep(0.1)
    return alive


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def wait_for(predicate: Any, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start(tmp_path_factory.mktemp("ref"))
    pids = running.pids()
    try:
        yield running
        pids += running.pids()
    finally:
        stop(running.proc)
    assert gone(pids) == [], "a process outlived `squall reference up`"


@pytest.fixture
def ref(system: Running) -> Iterator[Running]:
    yield system
    system.control.call("DELETE", "/_squall/faults")


def ready(run: Running, agent: str) -> list[int]:
    return [r["replica"] for r in run.state()["agents"][agent] if r["ready"]]


def all_ready(run: Running, agent: str) -> bool:
    """Every replica the agent has now serves (tests share one system: a crash without
    restart earlier in the module leaves fewer)."""
    replicas = run.state()["agents"][agent]
    return bool(replicas) and all(r["ready"] for r in replicas)


def test_up_prints_its_urls_and_serves(ref: Running) -> None:
    assert "tiny is up (8 processes)" in ref.output
    status, body = ref.flow()
    assert status == 200
    assert body["squall"]["steps"] == 2
    assert Http(ref.control.base).json("GET", "/_squall/state")[0] == 401


def test_a_crash_with_restart_comes_back_after_restart_and_cold_start(ref: Running) -> None:
    wait_for(lambda: all_ready(ref, "a"))
    before = {r["replica"]: r["service"]["pid"] for r in ref.state()["agents"]["a"]}
    seq = ref.state()["events_seq"]
    ref.control.json("PUT", "/_squall/faults/c", {"target": "agent.a", "fault": {
        "kind": "crash", "count": 1, "restart_after": "500ms"}})
    wait_for(lambda: len(ready(ref, "a")) == len(before) - 1, within=5)
    assert ref.flow()[0] == 200  # the others serve meanwhile
    started = time.monotonic()
    wait_for(lambda: len(ready(ref, "a")) == len(before))
    assert time.monotonic() - started >= 1.0  # restart_after, then the 1 s cold start
    after = {r["replica"]: r["service"]["pid"] for r in ref.state()["agents"]["a"]}
    assert sorted(after) == sorted(before)
    assert sum(before[i] != after[i] for i in before) == 1  # one new process
    # the books, as the simulator keeps them: a crash restarting in place, then ready
    logged = ref.events_after(seq)
    assert [(e["type"], e.get("restart_s")) for e in logged] == [
        ("replica_crash", 1.5), ("replica_ready", None)]
    assert logged[1]["t"] - logged[0]["t"] >= 1.5


def test_a_replica_that_dies_on_its_own_is_restarted(ref: Running) -> None:
    victim = ref.state()["agents"]["b"][0]["service"]["pid"]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: (s := ref.state()["agents"]["b"][0])["ready"]
             and s["service"]["pid"] != victim)
    assert ref.state()["restarts"] >= 1


def test_a_partial_outage_takes_replicas_out_of_rotation_and_back(ref: Running) -> None:
    wait_for(lambda: all_ready(ref, "a"))
    count = len(ref.state()["agents"]["a"]) - 1
    ref.control.json("PUT", "/_squall/faults/p", {"target": "agent.a", "fault": {
        "kind": "partial_outage", "count": count}})
    away = [r for r in ref.state()["agents"]["a"] if r["away"]]
    assert len(away) == count
    served = {ref.flow()[1]["squall"]["spans"][0]["replica"] for _ in range(6)}
    assert len(served) == 1  # only the one left in rotation
    assert ref.control.json("DELETE", "/_squall/faults/p")[0] == 200
    wait_for(lambda: not any(r["away"] for r in ref.state()["agents"]["a"]))


def test_per_call_faults_go_to_their_owners_and_lapse_with_their_lease(ref: Running) -> None:
    status, _ = ref.control.json("PUT", "/_squall/faults/e", {
        "target": "endpoint.m", "lease_s": 1, "fault": {"kind": "error"}})
    assert status == 201
    status, body = ref.flow()
    agents = [(s["component"], s["error"]) for s in body["squall"]["spans"]
              if s["kind"] == "agent"]
    assert agents[0] == ("a", "error")  # a's LLM failed; b took over as its fallback
    wait_for(lambda: ref.flow()[0] == 200 and ref.flow()[1]["squall"]["fallback"] is False,
             within=5)
    assert ref.control.json("GET", "/_squall/state")[1]["faults"] == []


def test_a_crash_without_restart_leaves_the_replica_gone(ref: Running) -> None:
    wait_for(lambda: all_ready(ref, "a"))
    replicas = len(ref.state()["agents"]["a"])
    seq = ref.state()["events_seq"]
    ref.control.json("PUT", "/_squall/faults/k", {"target": "agent.a", "fault": {
        "kind": "crash", "count": 1}})
    wait_for(lambda: len(ref.state()["agents"]["a"]) == replicas - 1)
    assert [(e["type"], e["reason"]) for e in ref.events_after(seq)] == [
        ("replica_stop", "crash")]
    time.sleep(1.5)  # well past a restart's cold start: it stays gone
    assert len(ref.state()["agents"]["a"]) == replicas - 1


@pytest.mark.parametrize(("fault", "status", "says"), [
    ({"target": "agent.nope", "fault": {"kind": "crash"}}, 404, "no target"),
    ({"target": "tool.db", "fault": {"kind": "crash"}}, 400, "fault"),
    ({"target": "tool.db", "fault": {"kind": "partial_outage", "count": 1}}, 422, "concurrency"),
])
def test_faults_the_system_cannot_take_are_refused(ref: Running, fault: dict[str, Any],
                                                   status: int, says: str) -> None:
    got, body = ref.control.json("PUT", "/_squall/faults/x", fault)
    assert got == status
    assert says in body["error"]["message"]


def test_a_killed_supervisor_takes_its_services_with_it(tmp_path: Path) -> None:
    running = start(tmp_path)
    pids = running.pids()
    stop(running.proc, signal.SIGKILL)
    assert gone(pids) == []


def test_a_bad_scenario_or_a_busy_port_fails_fast(tmp_path: Path) -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "harness.cli.main", "reference", "up", "/nonexistent.yaml"],
        capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2
    assert "nonexistent.yaml" in bad.stderr
    running = start(tmp_path / "one")
    try:
        port = running.control.base.rsplit(":", 1)[1]
        (tmp_path / "two").mkdir()
        (tmp_path / "two" / "s.yaml").write_text(SCENARIO)
        busy = subprocess.run(
            [sys.executable, "-m", "harness.cli.main", "reference", "up",
             str(tmp_path / "two" / "s.yaml"), "--port", port],
            capture_output=True, text=True, timeout=60, check=False, start_new_session=True)
        assert busy.returncode == 2
        assert f"port {port}" in busy.stderr
        assert "Traceback" not in busy.stderr
    finally:
        pids = running.pids()
        stop(running.proc)
    assert gone(pids) == []


SCALING = """
name: scaling
duration: 1m
system:
  agents:
    w: {replicas: {initial: 1, min: 1, max: 5}, concurrency: 1, service_time: 300ms}
  autoscaler: {metric: utilization, target: 50%, interval: 1s, scale_down_window: 2s,
               cold_start: 500ms}
  workflows: {flow: {steps: [w]}}
demand: {curve: {constant: 2}}
sla: {objective: 5s}
"""


def test_the_autoscaler_adds_real_replicas_under_load_and_drains_them_after(
        tmp_path: Path) -> None:
    running = start(tmp_path, SCALING)
    stop_load = threading.Event()

    def load() -> None:
        while not stop_load.is_set():
            running.flow()

    workers = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    try:
        for w in workers:
            w.start()
        wait_for(lambda: len(ready(running, "w")) == 5, within=30)
        pids = {r["service"]["pid"] for r in running.state()["agents"]["w"]}
        assert len(pids) == 5  # five real processes
        stop_load.set()
        for w in workers:
            w.join(timeout=10)
        wait_for(lambda: len(running.state()["agents"]["w"]) == 1, within=20)
        events = running.state()["scale_events"]
        assert max(e["desired"] for e in events) == 5
        assert gone(sorted(pids - {running.state()["agents"]["w"][0]["service"]["pid"]})) == []
        # four drained at once: the orchestrator's rotation is the one left, not a stale
        # list naming stopped replicas (their calls would fail as unavailable)
        rotation = ("squall_replicas_in_rotation", (("agent", "w"),))
        wait_for(lambda: scrape(running.orchestrator)[rotation] == 1, within=5)
        assert all(running.flow()[0] == 200 for _ in range(10))
    finally:
        stop_load.set()
        all_pids = running.pids()
        stop(running.proc)
    assert gone(all_pids) == []


def test_the_autoscaler_ticks_from_the_runs_clock_once_a_run_sets_it(tmp_path: Path) -> None:
    running = start(tmp_path, SCALING)
    try:
        for body, says in (({"t0": "soon"}, "t0 must be a number"),
                           ({"t0": time.monotonic() + 1e6}, "is not a time on it"),
                           ([], "must be a JSON object")):
            status, answer = running.control.json("PUT", "/_squall/clock", body)
            assert status == 400
            assert says in answer["error"]["message"]
        t0 = time.monotonic() + 0.35  # as a run sets it: just ahead of its first arrival
        status, answer = running.control.json("PUT", "/_squall/clock", {"t0": t0})
        assert (status, answer["t0"]) == (200, t0)
        assert running.state()["clock"] == t0
        wait_for(lambda: sum(e["t"] > t0 for e in running.state()["scale_events"]) >= 3,
                 within=10)
        ticks = [e["t"] - t0 for e in running.state()["scale_events"] if e["t"] > t0]
        # at t0 + 1 s, + 2 s, …: the simulator's ticks (interval 1 s), not the start's
        assert [round(t) for t in ticks[:3]] == [1, 2, 3]
        assert all(abs(t - round(t)) < 0.25 for t in ticks)
    finally:
        pids = running.pids()
        stop(running.proc)
    assert gone(pids) == []


def test_a_dead_endpoint_comes_back_on_its_port_with_its_faults(ref: Running) -> None:
    before = ref.state()["endpoints"]["m"]
    ref.control.json("PUT", "/_squall/faults/slow", {"target": "endpoint.m", "fault": {
        "kind": "latency", "add": "300ms"}})
    os.kill(before["pid"], signal.SIGKILL)
    wait_for(lambda: (m := ref.state()["endpoints"]["m"])["pid"] != before["pid"]
             and m["alive"])
    assert ref.state()["endpoints"]["m"]["url"] == before["url"]
    wait_for(lambda: ref.flow()[0] == 200, within=5)
    _status, body = ref.flow()
    llm = [s for s in body["squall"]["spans"] if s["kind"] == "llm"]
    assert llm[0]["end"] - llm[0]["start"] >= 0.3  # the fault came back with it


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, headers, raw = Http(base).call("GET", "/metrics", auth=False)
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(raw.decode())
            for s in family.samples}


def test_metrics_on_the_orchestrator_and_the_supervisor(ref: Running) -> None:
    wait_for(lambda: len(ready(ref, "b")) == 1)
    before = scrape(ref.orchestrator).get(
        ("squall_requests_total", (("outcome", "ok"), ("workflow", "flow"))), 0.0)
    assert ref.flow()[0] == 200
    orch = scrape(ref.orchestrator)
    assert orch[("squall_requests_total", (("outcome", "ok"), ("workflow", "flow")))] \
        == before + 1
    assert orch[("squall_replicas_in_rotation", (("agent", "b"),))] == 1
    ref.control.json("PUT", "/_squall/faults/m", {"target": "endpoint.m", "fault": {
        "kind": "latency", "add": "1ms"}})
    sup = scrape(ref.control.base)
    assert sup[("squall_replicas", (("agent", "b"), ("state", "ready")))] == 1
    assert sup[("squall_active_faults", (("kind", "latency"),))] == 1


@pytest.mark.parametrize(("between", "cut_kinds"), [
    (["orchestrator", "agent.a"], {"agent"}),
    (["agent.a", "endpoint.m"], {"llm", "agent"}),  # the agent's span carries the cause
])
def test_a_partition_cuts_only_its_link_until_removed(ref: Running, between: list[str],
                                                      cut_kinds: set[str]) -> None:
    wait_for(lambda: len(ready(ref, "a")) >= 1)
    status, _ = ref.control.json("PUT", "/_squall/faults/cut", {
        "fault": {"kind": "partition", "between": between}})
    assert status == 201
    status, body = ref.flow()
    assert status == 200  # a's fallback, b, served
    trace = body["squall"]
    assert trace["fallback"] is True
    cut = [s for s in trace["spans"] if s["error"] == "partition"]
    assert {s["kind"] for s in cut} == cut_kinds
    ref.control.json("DELETE", "/_squall/faults/cut")
    status, body = ref.flow()
    assert body["squall"]["fallback"] is False


def test_a_partition_with_no_traffic_is_refused(ref: Running) -> None:
    status, body = ref.control.json("PUT", "/_squall/faults/x", {
        "fault": {"kind": "partition", "between": ["endpoint.m", "tool.db"]}})
    assert status == 422
    assert "no calls go between" in body["error"]["message"]


def test_a_cold_start_storm_and_a_burst_of_crashes_leave_the_supervisor_standing(
        ref: Running) -> None:
    wait_for(lambda: all_ready(ref, "a") and all_ready(ref, "b"))
    replicas = len(ref.state()["agents"]["a"])
    before = {r["service"]["pid"] for r in ref.state()["agents"]["a"]}
    status, _ = ref.control.json("PUT", "/_squall/faults/storm", {
        "target": "agent.a", "fault": {"kind": "cold_start_storm", "cold_start": "500ms"}})
    assert status == 201
    for i in range(5):  # a burst of crashes on b, each restarting at once
        ref.control.json("PUT", f"/_squall/faults/burst{i}", {
            "target": "agent.b", "fault": {"kind": "crash", "restart_after": "0s"}})
    assert ref.proc.poll() is None
    wait_for(lambda: len(ready(ref, "a")) == replicas and all_ready(ref, "b"), within=30)
    after = {r["service"]["pid"] for r in ref.state()["agents"]["a"]}
    assert not before & after  # every replica of a is a new process
    assert ref.flow()[0] == 200


def test_the_control_api_answers_bad_requests_with_json(ref: Running) -> None:
    for raw, status in ((b"nope", 400), (b"[]", 400), (b'{"target": "agent.a"}', 400)):
        got, _, body = ref.control.call("PUT", "/_squall/faults/bad", raw=raw)
        assert got == status
        assert "error" in json.loads(body)
    assert ref.control.json("GET", "/_squall/state")[0] == 200
    status, body = ref.control.json("GET", "/_squall/state?events_after=soon")
    assert (status, body["error"]["type"]) == (400, "invalid_request")


def test_the_state_says_how_busy_every_service_is(ref: Running) -> None:
    status, state = ref.control.json("GET", "/_squall/state?load=1")
    assert status == 200
    assert state["endpoints"]["m"]["load"] == {"busy": 0, "queued": 0, "capacity": 8}
    assert state["tools"]["db"]["load"]["capacity"] == -1  # no limit
    assert all("load" in r["service"] for r in state["agents"]["a"] if r["ready"])
    assert "load" not in ref.state()["endpoints"]["m"]  # only when asked


def test_a_stop_while_starting_stops_what_was_started(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli.main", "reference", "up", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    try:  # signal it once the first services run, before the system is up
        wait_for(lambda: len(_services_of(proc.pid)) >= 1, within=30)
        started = _services_of(proc.pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    finally:
        stop(proc)
    assert gone(started) == []


def _services_of(parent: int) -> list[int]:
    """The service processes ``parent`` started (each in its own session)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(parent)], capture_output=True,
                         text=True, check=False).stdout
    return [int(p) for p in out.split()]
