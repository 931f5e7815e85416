"""The system drawn as a graph: workflows → agents → endpoints and tools.

Plain SVG built by hand (three columns of labelled boxes joined by curves), so it
needs no layout engine and stays small. Dashed edges are fallbacks.
"""

from __future__ import annotations

from html import escape

from harness.scenario.system import AgentStep, DelegateStep, ParallelStep, Step, System

__all__ = ["system_graph"]

_W, _BOX_H, _GAP, _COL_W = 760, 26, 10, 170
_X = (10, 295, 580)  # column positions


def _agents_of(steps: list[Step]) -> list[str]:
    out: list[str] = []
    for step in steps:
        if isinstance(step, AgentStep):
            out.append(step.agent)
        elif isinstance(step, ParallelStep):
            out += _agents_of(step.parallel)
    return out


def _y(i: int) -> float:
    return 30 + i * (_BOX_H + _GAP)


def _box(x: float, y: float, label: str, sub: str, fill: str) -> str:
    return (f'<g><rect x="{x}" y="{y}" width="{_COL_W}" height="{_BOX_H}" rx="5" '
            f'fill="{fill}" stroke="#475569" stroke-width="0.8"/>'
            f'<text x="{x + 8}" y="{y + 11}" font-size="10" font-weight="600">{escape(label)}'
            f'</text><text x="{x + 8}" y="{y + 22}" font-size="8" fill="#475569">'
            f'{escape(sub)}</text></g>')


def _edge(x1: float, y1: float, x2: float, y2: float, dashed: bool = False) -> str:
    mid = (x1 + x2) / 2
    dash = ' stroke-dasharray="4 3"' if dashed else ""
    return (f'<path d="M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}" fill="none" '
            f'stroke="#94a3b8" stroke-width="1"{dash}/>')


def system_graph(system: System) -> str:
    workflows = list(system.workflows)
    agents = list(system.agents)
    servers = [("endpoint", n) for n in system.endpoints] + [("tool", n) for n in system.tools]
    rows = max(len(workflows), len(agents), len(servers), 1)
    height = _y(rows) + 10
    pos_w = {n: _y(i) for i, n in enumerate(workflows)}
    pos_a = {n: _y(i) for i, n in enumerate(agents)}
    pos_s = {s: _y(i) for i, s in enumerate(servers)}
    half = _BOX_H / 2
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_W} {height}" '
             f'role="img" aria-label="system graph" font-family="system-ui, sans-serif">']
    for x, title in zip(_X, ("workflows", "agents", "endpoints and tools"), strict=True):
        parts.append(f'<text x="{x}" y="18" font-size="10" fill="#6b7280">{title}</text>')
    for name, wf in system.workflows.items():
        for step_agent in dict.fromkeys(_agents_of(wf.steps)):
            parts.append(_edge(_X[0] + _COL_W, pos_w[name] + half, _X[1],
                               pos_a[step_agent] + half))
        for step in wf.steps:
            if isinstance(step, DelegateStep) and step.workflow in pos_w:
                parts.append(_edge(_X[0] + _COL_W, pos_w[name] + half, _X[0] + _COL_W,
                                   pos_w[step.workflow] + half, dashed=True))
    for name, agent in system.agents.items():
        targets = {("endpoint", c.endpoint) for c in agent.llm}
        targets |= {("endpoint", f) for c in agent.llm for f in c.fallback}
        targets |= {("tool", t.tool) for t in agent.tools}
        for target in sorted(targets):
            if target in pos_s:
                parts.append(_edge(_X[1] + _COL_W, pos_a[name] + half, _X[2],
                                   pos_s[target] + half))
        for fb in agent.fallback:
            if fb in pos_a:
                parts.append(_edge(_X[1] + _COL_W, pos_a[name] + half, _X[1] + _COL_W,
                                   pos_a[fb] + half, dashed=True))
    for name, wf in system.workflows.items():
        parts.append(_box(_X[0], pos_w[name], name,
                          f"weight {wf.weight:g} · {wf.priority.value}", "#eff6ff"))
    for name, spec in system.agents.items():
        r = spec.replicas
        reps = f"{r.initial}" if r.lower == r.upper else f"{r.lower}–{r.upper}"
        parts.append(_box(_X[1], pos_a[name], name,
                          f"replicas {reps} × {spec.concurrency}", "#f0fdf4"))
    for (kind, name), y in pos_s.items():
        if kind == "endpoint":
            ep = system.endpoints[name]
            sub = f"LLM · concurrency {ep.concurrency or '∞'}"
        else:
            sub = f"tool · concurrency {system.tools[name].concurrency or '∞'}"
        parts.append(_box(_X[2], y, name, sub, "#fefce8" if kind == "endpoint" else "#faf5ff"))
    parts.append("</svg>")
    return "".join(parts)
