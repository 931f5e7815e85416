"""Checks that span the scenario: names that must exist, cycles, faults without effect.

Each check returns ``(path, message)`` pairs so that every problem is reported at once,
at the field that holds the bad reference.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from faults.specs import (
    FaultSpecBase,
    LatencyFault,
    PartialOutageFault,
    PartitionFault,
    RateLimitFault,
    Target,
    TargetKind,
)
from harness.gates.spec import Gate, Scope, parse_gate
from harness.metrics import PHASES
from harness.scenario.demand import Demand
from harness.scenario.system import (
    AgentStep,
    DelegateStep,
    Endpoint,
    ParallelStep,
    ScaleMetric,
    Step,
    System,
    Tool,
)
from harness.suggest import did_you_mean

__all__ = ["Checked", "cross_reference", "gate_problem", "reachable_agents"]


class Checked(Protocol):
    """What the checks read of a scenario (the model calls them while it validates, so
    this module does not import it)."""

    @property
    def seed(self) -> int: ...
    @property
    def duration(self) -> float: ...
    @property
    def system(self) -> System: ...
    @property
    def demand(self) -> Demand: ...
    @property
    def faults(self) -> Sequence[FaultSpecBase]: ...
    @property
    def gates(self) -> Sequence[str]: ...
    @property
    def fault_list(self) -> list[FaultSpecBase]: ...
    @property
    def target(self) -> Any: ...


Loc = tuple[str | int, ...]
Found = Iterator[tuple[Loc, str]]


def _missing(kind: str, name: str, known: Mapping[str, object]) -> str:
    names = ", ".join(sorted(known)) or "none"
    return f"no {kind} named {name!r}{did_you_mean(name, known)}; {kind}s: {names}"


def _walk_steps(steps: list[Step], loc: Loc) -> Iterator[tuple[Step, Loc]]:
    for i, step in enumerate(steps):
        yield step, (*loc, i)
        if isinstance(step, ParallelStep):
            yield from _walk_steps(step.parallel, (*loc, i, "parallel"))


def _check_workflows(system: System) -> Found:
    for wname, wf in system.workflows.items():
        base: Loc = ("system", "workflows", wname, "steps")
        for step, loc in _walk_steps(wf.steps, base):
            if isinstance(step, AgentStep) and step.agent not in system.agents:
                yield (*loc, "agent"), _missing("agent", step.agent, system.agents)
            elif isinstance(step, DelegateStep) and step.workflow not in system.workflows:
                yield (*loc, "workflow"), _missing("workflow", step.workflow, system.workflows)
    # Delegation cycles: a workflow that (indirectly) runs itself never ends.
    calls = {
        w: {s.workflow for s, _ in _walk_steps(wf.steps, ()) if isinstance(s, DelegateStep)}
        for w, wf in system.workflows.items()
    }
    for start in system.workflows:
        seen, frontier = set(), [start]
        while frontier:
            for nxt in calls.get(frontier.pop(), ()):
                if nxt == start:
                    yield ("system", "workflows", start, "steps"), \
                        f"workflow {start!r} delegates to itself (a cycle through {nxt!r})"
                    frontier = []
                    break
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)


def _check_agents(system: System) -> Found:
    reachable = reachable_agents(system)
    for name, agent in system.agents.items():
        loc: Loc = ("system", "agents", name)
        if name not in reachable:
            yield loc, (f"agent {name!r} is never called: no workflow step, fallback or "
                        "low-priority route reaches it (a typo?)")
        for i, call in enumerate(agent.llm):
            if call.endpoint not in system.endpoints:
                yield (*loc, "llm", i, "endpoint"), _missing("endpoint", call.endpoint,
                                                             system.endpoints)
            for j, fb in enumerate(call.fallback):
                if fb not in system.endpoints:
                    yield (*loc, "llm", i, "fallback", j), _missing("endpoint", fb,
                                                                    system.endpoints)
                elif fb == call.endpoint:
                    yield (*loc, "llm", i, "fallback", j), "an endpoint cannot fall back to itself"
        for i, tcall in enumerate(agent.tools):
            if tcall.tool not in system.tools:
                yield (*loc, "tools", i, "tool"), _missing("tool", tcall.tool, system.tools)
        for j, fb in enumerate(agent.fallback):
            if fb not in system.agents:
                yield (*loc, "fallback", j), _missing("agent", fb, system.agents)
            elif fb == name:
                yield (*loc, "fallback", j), "an agent cannot fall back to itself"
        if agent.low_priority is not None:
            lp = agent.low_priority
            if lp.agent is not None and lp.agent not in system.agents:
                yield (*loc, "low_priority", "agent"), _missing("agent", lp.agent, system.agents)
            if lp.endpoint is not None and lp.endpoint not in system.endpoints:
                yield (*loc, "low_priority", "endpoint"), _missing("endpoint", lp.endpoint,
                                                                   system.endpoints)
            if lp.endpoint is not None and not agent.llm:
                yield (*loc, "low_priority", "endpoint"), "the agent makes no LLM call to reroute"
        scaler = system.autoscaler_for(name)
        if agent.replicas.initial == 0 and scaler is None:
            yield (*loc, "replicas", "initial"), \
                "starts with no replica and no autoscaler can add one: it can never serve"
        if scaler is not None and scaler.metric is ScaleMetric.UTILIZATION and scaler.target > 1:
            where = (*loc, "autoscaler", "target") if agent.autoscaler else \
                ("system", "autoscaler", "target")
            yield where, "a utilization target is a fraction of busy slots: at most 1 (100%)"
    yield from _fallback_cycles(system)
    for kind, table in (("endpoints", system.endpoints), ("tools", system.tools)):
        for name, server in table.items():
            if server.queue_limit is not None and server.concurrency is None:
                yield ("system", kind, name, "queue_limit"), (
                    "queue_limit has no effect without concurrency "
                    "(unlimited capacity never queues)")


def _fallback_cycles(system: System) -> Found:
    for start, agent in system.agents.items():
        path, node = [start], agent
        while node.fallback:
            nxt = node.fallback[0]
            if nxt not in system.agents:
                break
            if nxt in path:
                if nxt == start and len(path) > 1:
                    yield ("system", "agents", start, "fallback"), \
                        "fallback cycle: " + " → ".join([*path, nxt])
                break
            path.append(nxt)
            node = system.agents[nxt]


def reachable_agents(system: System) -> set[str]:
    """Agents some workflow can call, directly or as a fallback / low-priority route."""
    found: set[str] = set()
    for wf in system.workflows.values():
        for step, _ in _walk_steps(wf.steps, ()):
            if isinstance(step, AgentStep):
                found.add(step.agent)
    frontier = list(found)
    while frontier:
        agent = system.agents.get(frontier.pop())
        if agent is None:
            continue
        extra = list(agent.fallback)
        if agent.low_priority and agent.low_priority.agent:
            extra.append(agent.low_priority.agent)
        for nxt in extra:
            if nxt not in found:
                found.add(nxt)
                frontier.append(nxt)
    return found


def _callees(system: System, agents: set[str]) -> tuple[set[str], set[str]]:
    endpoints: set[str] = set()
    tools: set[str] = set()
    for name in agents:
        agent = system.agents.get(name)
        if agent is None:
            continue
        for call in agent.llm:
            endpoints.add(call.endpoint)
            endpoints.update(call.fallback)
        if agent.low_priority and agent.low_priority.endpoint:
            endpoints.add(agent.low_priority.endpoint)
        tools.update(t.tool for t in agent.tools)
    return endpoints, tools


def _target_problem(system: System, target: Target, used: dict[TargetKind, set[str]]) -> str | None:
    tables: dict[TargetKind, Mapping[str, object]] = {
        TargetKind.AGENT: system.agents, TargetKind.ENDPOINT: system.endpoints,
        TargetKind.TOOL: system.tools, TargetKind.WORKFLOW: system.workflows,
    }
    if target.kind is TargetKind.ORCHESTRATOR:
        return None
    table = tables[target.kind]
    if target.name not in table:
        return _missing(target.kind.value, target.name, table)
    if target.name not in used[target.kind]:
        return f"{target} is never called by any workflow: the fault would have no effect"
    return None


def _calls(system: System, a: Target, b: Target) -> bool:
    """Whether ``a`` calls ``b`` directly in this system."""
    if a.kind is TargetKind.ORCHESTRATOR:
        return b.kind is TargetKind.AGENT
    if a.kind is not TargetKind.AGENT:
        return False
    agent = system.agents[a.name]
    if b.kind is TargetKind.ENDPOINT:
        return any(b.name == c.endpoint or b.name in c.fallback for c in agent.llm) or bool(
            agent.low_priority and agent.low_priority.endpoint == b.name
        )
    if b.kind is TargetKind.TOOL:
        return any(t.tool == b.name for t in agent.tools)
    return False


def _check_faults(scenario: Checked) -> Found:
    system = scenario.system
    agents = reachable_agents(system)
    endpoints, tools = _callees(system, agents)
    used = {
        TargetKind.AGENT: agents, TargetKind.ENDPOINT: endpoints, TargetKind.TOOL: tools,
        TargetKind.WORKFLOW: set(system.workflows),
    }
    seen: dict[str, int] = {}
    faults: list[FaultSpecBase] = list(scenario.faults)
    for i, fault in enumerate(faults):
        loc: Loc = ("faults", i)
        if fault.id in seen:
            yield (*loc, "id"), f"fault id {fault.id!r} is already used by faults[{seen[fault.id]}]"
        seen.setdefault(fault.id or "", i)
        if fault.at >= scenario.duration:
            yield (*loc, "at"), "starts after the run ends: it would have no effect"
        if isinstance(fault, PartitionFault):
            sides = fault.sides()
            for j, side in enumerate(sides):
                problem = _target_problem(system, side, used)
                if problem:
                    yield (*loc, "between", j), problem
            if all(_target_problem(system, s, used) is None for s in sides) and not (
                _calls(system, *sides) or _calls(system, sides[1], sides[0])
            ):
                yield (*loc, "between"), \
                    f"{sides[0]} and {sides[1]} never call each other: no traffic to cut"
            continue
        if fault.parsed_target.kind is TargetKind.PROXY:
            yield from _check_proxy(scenario, fault, loc, used)
            continue
        problem = _target_problem(system, fault.parsed_target, used)
        if problem:
            yield (*loc, "target"), problem
        else:
            yield from _no_effect(system, fault, loc)


def _check_proxy(scenario: Checked, fault: FaultSpecBase, loc: Loc,
                 used: dict[TargetKind, set[str]]) -> Found:
    """A fault on ``proxy.NAME``: the target must declare the proxy, and what the proxy
    stands for must be a component of the model."""
    name = fault.parsed_target.name
    proxies = getattr(scenario.target, "proxies", None)
    if proxies is None:
        yield (*loc, "target"), (f"{fault.target} is a proxy, and the "
                                 f"{scenario.target.adapter} target has none: proxies are "
                                 "for the http and openai targets (target.proxies)")
        return
    if name not in proxies:
        yield (*loc, "target"), _missing("proxy", name, proxies)
        return
    stands_for = proxies[name].stands_for
    if stands_for is not None:
        try:
            component = Target.parse(stands_for)
        except ValueError as exc:
            yield ("target", "proxies", name, "stands_for"), str(exc)
            return
        problem = _target_problem(scenario.system, component, used)
        if problem:
            yield ("target", "proxies", name, "stands_for"), problem


def _radius_total(system: System, target: Target) -> int | None:
    """How many replicas (agents) or slots (servers) a fault's ``count`` can take."""
    if target.kind is TargetKind.AGENT:
        return system.agents[target.name].replicas.upper
    if target.kind in (TargetKind.ENDPOINT, TargetKind.TOOL):
        table: Mapping[str, Endpoint | Tool] = (
            system.endpoints if target.kind is TargetKind.ENDPOINT else system.tools)
        return table[target.name].concurrency
    return None


def _no_effect(system: System, fault: FaultSpecBase, loc: Loc) -> Found:
    """Faults whose parameters cannot change anything on this particular target."""
    target = fault.parsed_target
    count = getattr(fault, "count", None)
    total = _radius_total(system, target)
    if count is not None and total is not None and count > total:
        unit = "replicas" if target.kind is TargetKind.AGENT else "slots"
        yield (*loc, "count"), (f"count {count} is more than the {total} {unit} {target} can "
                                "ever have")
    servers: Mapping[str, Endpoint | Tool] = (
        system.endpoints if target.kind is TargetKind.ENDPOINT else system.tools)
    if isinstance(fault, PartialOutageFault) and target.kind in (
            TargetKind.ENDPOINT, TargetKind.TOOL) and servers[target.name].concurrency is None:
        yield (*loc, "target"), (
            f"{target} has unlimited concurrency: losing a share of it changes nothing "
            "(give it a concurrency, or use an error fault with a probability)")
    if isinstance(fault, RateLimitFault) and target.kind is TargetKind.TOOL and (
            fault.rpm is not None or fault.tpm is not None):
        yield (*loc, "rpm" if fault.rpm is not None else "tpm"), \
            "tools have no rate limits to lower: use probability for a 429 storm"
    if isinstance(fault, LatencyFault) and target.kind is TargetKind.WORKFLOW \
            and fault.multiply != 1 and fault.add == 0:
        yield (*loc, "multiply"), (
            "a workflow fault adds latency before each of its agent calls: multiply has "
            "nothing to multiply; use add, or target the agents")


def gate_problem(scenario: Checked, gate: Gate) -> str | None:
    """What is wrong with ``gate``'s scope in ``scenario`` (a phase, fault or workflow
    that does not exist), or None."""
    if gate.scope is Scope.PHASE and gate.scope_name not in PHASES:
        faults = [f.id for f in scenario.fault_list if f.id]
        if gate.scope_name not in faults:
            known = [*PHASES, *faults]
            return (f"no phase or fault named {gate.scope_name!r}"
                    f"{did_you_mean(gate.scope_name or '', known)}; phases: "
                    f"{', '.join(PHASES)}; faults: {', '.join(faults) or 'none'}")
    if gate.scope is Scope.WORKFLOW and gate.scope_name not in scenario.system.workflows:
        return _missing("workflow", gate.scope_name or "", scenario.system.workflows)
    return None


def _check_gates(scenario: Checked) -> Found:
    for i, text in enumerate(scenario.gates):
        problem = gate_problem(scenario, parse_gate(text))
        if problem:
            yield ("gates", i), problem


def _check_demand(scenario: Checked) -> Found:
    mix = scenario.demand.mix
    if mix is not None:
        for name in mix:
            if name not in scenario.system.workflows:
                yield ("demand", "mix", name), _missing("workflow", name,
                                                        scenario.system.workflows)
    curve = scenario.demand.build_curve(scenario.seed)
    if curve.integral(0.0, scenario.duration) <= 0:
        yield ("demand", "curve"), "the curve's rate is zero over the whole run: no arrivals"


def cross_reference(scenario: Checked) -> list[tuple[Loc, str]]:
    """Every cross-reference problem of ``scenario``."""
    system = scenario.system
    return [
        *_check_workflows(system),
        *_check_agents(system),
        *_check_faults(scenario),
        *_check_gates(scenario),
        *_check_demand(scenario),
    ]
