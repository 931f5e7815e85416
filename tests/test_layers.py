"""The layers point one way (core → records → scoring → judging → engines → reports →
CLI and API), and no module imports itself back through others — counting every import:
module level, inside functions, and under ``TYPE_CHECKING``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("harness", "faults", "reports", "sut_adapters")

#: (module prefix, layer): the longest matching prefix decides a module's layer.
LAYERS: list[tuple[str, int]] = [
    ("harness", 0), ("faults", 0),  # core: units, distributions, specs, policies, calls
    ("harness.records", 1),
    ("harness.scoring", 2),
    ("harness.judging", 3), ("harness.compare", 3), ("harness.fidelity", 3),
    ("harness.calibrate", 3),  # reads runs and traces, writes scenarios
    ("harness.engines", 4), ("harness.sim", 4), ("harness.execution", 4),
    ("harness.parallel", 4), ("harness.live", 4), ("sut_adapters", 4),
    # the Chaos Toolkit extension reads runs' records and starts runs: an integration
    ("faults.chaostoolkit", 4),
    ("reports", 5),
    ("harness.api", 6), ("harness.cli", 6), ("harness.pytest_plugin", 6),
]
#: The package roots re-export their API (harness.run …): they sit on top.
TOP = {"harness": 6, "reports": 5, "faults": 0}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def layer(module: str) -> int:
    if module in TOP:
        return TOP[module]
    best = max((p for p, _ in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return dict(LAYERS)[best]


def imports(path: Path, known: dict[str, Path], me: str) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            named = [s for s in subs if s in known]
            if named:
                out.update(named)  # ``from pkg import module``: the module, not the package
            if len(named) < len(subs) and node.module in known:
                out.add(node.module)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
    out.discard(me)
    return out


GRAPH = {name: imports(path, modules(), name) for name, path in modules().items()}


def test_no_module_imports_a_higher_layer() -> None:
    upward = sorted(f"{a} ({layer(a)}) imports {b} ({layer(b)})"
                    for a, deps in GRAPH.items() for b in deps if layer(b) > layer(a))
    assert upward == []


def test_there_are_no_import_cycles() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert cycles == []


@pytest.mark.parametrize("module", ["harness.calls.attempts", "harness.calls.workflow",
                                    "faults.effects", "faults.active"])
def test_the_shared_semantics_know_no_engine(module: str) -> None:
    """What both engines share imports neither engine, nor SimPy, asyncio or a clock."""
    path = modules()[module]
    tree = ast.parse(path.read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
             for a in n.names}
    names |= {n.module.split(".")[0] for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom) and n.module}
    assert not names & {"simpy", "asyncio", "time", "locust", "gevent"}
    assert not {d for d in GRAPH[module] if d.startswith(("harness.sim", "sut_adapters"))}
