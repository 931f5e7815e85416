"""OpenTelemetry traces (OTLP JSON) as Squall spans: the way to build a twin of one's own
system from a pilot.

The file is what an OpenTelemetry Collector's ``file`` exporter writes, or an OTLP/HTTP
JSON body: ``{"resourceSpans": [{"resource": {...}, "scopeSpans": [{"spans": [...]}]}]}``,
one such object per file or one per line (JSON Lines). Spans are named after the
`GenAI semantic conventions <https://opentelemetry.io/docs/specs/semconv/gen-ai/>`_:

=================================================  ======================================
span                                               becomes
=================================================  ======================================
``gen_ai.operation.name`` = ``invoke_agent``       an **agent** call: the agent is
                                                   ``gen_ai.agent.name`` (else the span's
                                                   name without ``invoke_agent``)
``chat``, ``text_completion``,                     an **LLM** call to the endpoint
``generate_content``, ``embeddings``               ``gen_ai.request.model`` (else
                                                   ``gen_ai.response.model``); tokens from
                                                   ``gen_ai.usage.input_tokens`` /
                                                   ``output_tokens``
``execute_tool``                                   a **tool** call: ``gen_ai.tool.name``
                                                   (else the name without ``execute_tool``)
a trace's root span                                the **request**; its name is the
                                                   workflow
anything else                                      not a call: its time is its agent's own
=================================================  ======================================

An LLM or tool call belongs to the nearest agent above it; with no agent above it, to an
agent named after the workflow. A span failed when its status is ``ERROR`` or it has an
``error.type`` (``timeout`` and HTTP 429 are told apart).

Spans the conventions do not cover are named by a mapping file
(:mod:`harness.calibrate.mapping`).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.calibrate.mapping import Mapping, read_mapping
from harness.errors import InputError
from harness.outcomes import ErrorKind

__all__ = ["MAX_BYTES", "MAX_SPANS", "OtlpTrace", "read_otlp", "starter_scenario"]

MAX_BYTES = 512 * 1024 * 1024  #: a trace file larger than this is refused
MAX_SPANS = 5_000_000  #: and so is one with more spans
_LLM_OPS = {"chat", "text_completion", "generate_content", "embeddings"}
# --- OTLP JSON -------------------------------------------------------------------------


def _value(v: Any) -> Any:
    """An OTLP ``AnyValue``."""
    if not isinstance(v, dict):
        return None
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:  # int64 as a JSON string, or a number
        try:
            return int(v["intValue"])
        except (TypeError, ValueError):
            return None
    if "arrayValue" in v:
        return [_value(x) for x in (v["arrayValue"] or {}).get("values", [])]
    return None


def _attributes(raw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for a in raw or []:
        if isinstance(a, dict) and isinstance(a.get("key"), str):
            out[a["key"]] = _value(a.get("value"))
    return out


def _documents(path: Path) -> Iterator[tuple[int, Any]]:
    """One OTLP object per file, or one per line (JSON Lines)."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InputError(f"is {size / 2**20:,.0f} MiB: traces are read up to "
                             f"{MAX_BYTES / 2**20:,.0f} MiB (split it, or sample)",
                             source=str(path))
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the traces: {exc}", source=str(path)) from None
    try:
        yield 1, json.loads(text)
        return
    except json.JSONDecodeError:
        pass
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"line {n} is not JSON ({exc.msg}): the file is OTLP JSON, "
                             "one object or one per line", source=str(path)) from None


def _nanos(v: Any) -> int | None:
    try:
        n = int(v)
    except (TypeError, ValueError):
        return None
    return n if n >= 0 else None


@dataclass
class _Span:
    trace: str
    span: str
    parent: str | None
    name: str
    start: int
    end: int
    attrs: dict[str, Any]
    failed: str | None  #: an ErrorKind value, or None


def _error(status: Any, attrs: dict[str, Any]) -> str | None:
    kind = attrs.get("error.type")
    code = status.get("code") if isinstance(status, dict) else None
    failed = kind is not None or code in (2, "STATUS_CODE_ERROR")
    if not failed:
        return None
    text = str(kind or "").lower()
    http = attrs.get("http.response.status_code")
    if "timeout" in text or "deadline" in text:
        return ErrorKind.TIMEOUT.value
    if http == 429 or "429" in text or "rate" in text:
        return ErrorKind.RATE_LIMITED.value
    return ErrorKind.ERROR.value


def _spans(path: Path) -> list[_Span]:
    found: list[_Span] = []
    for line, doc in _documents(path):
        where = f"{path}" + (f": line {line}" if line > 1 else "")
        if not isinstance(doc, dict) or not isinstance(doc.get("resourceSpans"), list):
            raise InputError("is not OTLP JSON: it has no resourceSpans list", source=where)
        for rs in doc["resourceSpans"]:
            resource = _attributes(((rs or {}).get("resource") or {}).get("attributes"))
            for ss in (rs or {}).get("scopeSpans") or []:
                for s in (ss or {}).get("spans") or []:
                    if not isinstance(s, dict):
                        continue
                    start, end = _nanos(s.get("startTimeUnixNano")), \
                        _nanos(s.get("endTimeUnixNano"))
                    trace, span = s.get("traceId"), s.get("spanId")
                    if start is None or end is None or end < start or not trace or not span:
                        continue  # not a usable span: no times, or no ids
                    attrs = {**resource, **_attributes(s.get("attributes"))}
                    found.append(_Span(str(trace), str(span), s.get("parentSpanId") or None,
                                       str(s.get("name") or ""), start, end, attrs,
                                       _error(s.get("status"), attrs)))
                    if len(found) > MAX_SPANS:
                        raise InputError(f"holds more than {MAX_SPANS:,} spans: sample the "
                                         "traces first", source=str(path))
    if not found:
        raise InputError("holds no spans with ids and times", source=str(path))
    return found


# --- the mapping to agents, endpoints and tools ----------------------------------------


def _strip(name: str, prefix: str) -> str:
    return name[len(prefix):].strip() if name.startswith(prefix) else name


def _classify(s: _Span, mapping: Mapping) -> tuple[str, str] | None:
    """(kind, component) of a call, ("ignore", "") or None (not a call)."""
    named = mapping.name(s.name, s.attrs)
    if named is not None:
        return named
    op = s.attrs.get("gen_ai.operation.name")
    if op == "invoke_agent":
        return "agent", str(s.attrs.get("gen_ai.agent.name") or _strip(s.name, "invoke_agent"))
    if op in _LLM_OPS:
        model = s.attrs.get("gen_ai.request.model") or s.attrs.get("gen_ai.response.model")
        return "llm", str(model or _strip(s.name, str(op)))
    if op == "execute_tool":
        return "tool", str(s.attrs.get("gen_ai.tool.name") or _strip(s.name, "execute_tool"))
    return None


def _name(text: str) -> str:
    """A scenario name: letters, digits, ``-`` and ``_`` (``gpt-4o-mini``, not
    ``gpt-4o/mini``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-_")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"c-{cleaned}" if cleaned else "unnamed"
    return cleaned[:64]


def _int(v: Any) -> int:
    try:
        n = int(v)
    except (TypeError, ValueError):
        return 0
    return n if n >= 0 else 0


@dataclass
class OtlpTrace:
    """The traces as Squall's span columns, and what the structure looked like."""

    spans: pd.DataFrame
    traces: int
    #: workflow → count, and its most frequent sequence of top-level agent steps
    workflows: dict[str, tuple[int, list[list[str]]]]
    agents: dict[str, int]  #: agent → the most invocations in flight at once
    calls: dict[str, dict[str, set[str]]]  #: agent → {"llm": endpoints, "tool": tools}
    rate: float  #: requests per second over the traces' span
    duration: float  #: seconds from the first request to the last one's end
    latency_p95: float  #: of the root spans
    notes: list[str] = field(default_factory=list)

    def missing_from(self, system: Any) -> list[str]:
        """What the traces call that ``system`` (a scenario's) does not have."""
        out = []
        known = {"agent": set(system.agents), "llm": set(system.endpoints),
                 "tool": set(system.tools)}
        for kind, label in (("agent", "agents"), ("llm", "endpoints"), ("tool", "tools")):
            seen = set(self.spans.loc[self.spans["kind"] == kind, "component"])
            gone = sorted(seen - known[kind])
            if gone:
                out.append(f"{label} {', '.join(gone)}")
        return out


class _Forest:
    """The traces' spans as trees: each call's agent, each request's workflow."""

    def __init__(self, raw: list[_Span], mapping: Mapping) -> None:
        self.raw = raw
        self.by_id = {(s.trace, s.span): s for s in raw}
        self.t0 = min(s.start for s in raw)
        self.kinds = {(s.trace, s.span): _classify(s, mapping) for s in raw}
        self.roots: dict[str, _Span] = {}
        for s in raw:
            if self.parent(s) is None:
                known = self.roots.get(s.trace)
                if known is None or s.start < known.start:
                    self.roots[s.trace] = s
        order = sorted(self.roots, key=lambda t: self.roots[t].start)
        self.ids = {trace: i for i, trace in enumerate(order)}
        self.workflow_of = {}
        for trace, root in self.roots.items():
            self.workflow_of[trace] = _name(mapping.workflow_of(root.name, root.attrs))
        self.top_steps: dict[str, list[tuple[int, int, str]]] = {t: [] for t in self.roots}
        self.calls: dict[str, dict[str, set[str]]] = {}
        self.orphans = 0

    def parent(self, s: _Span) -> _Span | None:
        return self.by_id.get((s.trace, s.parent)) if s.parent else None

    def _kind(self, s: _Span) -> tuple[str, str] | None:
        return self.kinds[(s.trace, s.span)]

    def _agent_above(self, s: _Span) -> _Span | None:
        up = self.parent(s)
        while up is not None and (self._kind(up) or ("",))[0] != "agent":
            up = self.parent(up)
        return up

    def _row(self, request: int, kind: str, component: str, caller: str, s: _Span, *,
             tokens: tuple[int, int] = (0, 0)) -> tuple[Any, ...]:
        return (request, kind, component, caller, 1, (s.start - self.t0) / 1e9,
                (s.end - self.t0) / 1e9, 0.0, s.failed, False, *tokens)

    def spans(self) -> pd.DataFrame:
        rows = []
        for s in self.raw:
            kc = self._kind(s)
            if kc is None or kc[0] == "ignore" or s.trace not in self.roots:
                continue
            kind, component = kc[0], _name(kc[1])
            up = self._agent_above(s)
            if kind == "agent":
                caller = "orchestrator"
                if up is None:
                    self.top_steps[s.trace].append((s.start, s.end, component))
            else:
                self.orphans += up is None
                caller = self.workflow_of[s.trace] if up is None else _name(
                    (self._kind(up) or ("", ""))[1])
                self.calls.setdefault(caller, {"llm": set(), "tool": set()})[kind].add(
                    component)
            rows.append(self._row(self.ids[s.trace], kind, component, caller, s, tokens=(
                _int(s.attrs.get("gen_ai.usage.input_tokens")),
                _int(s.attrs.get("gen_ai.usage.output_tokens")))))
        if self.orphans:  # calls made outside any agent: an agent named after the workflow
            callers = {r[3] for r in rows if r[1] != "agent"}
            for trace, root in self.roots.items():
                wf = self.workflow_of[trace]
                if wf in callers and not self.top_steps[trace]:
                    rows.append(self._row(self.ids[trace], "agent", wf, "orchestrator", root))
                    self.top_steps[trace].append((root.start, root.end, wf))
        return pd.DataFrame(rows, columns=["request_id", "kind", "component", "caller",
                                           "attempt", "start_s", "end_s", "queue_s",
                                           "error_kind", "fallback", "tokens_in",
                                           "tokens_out"])

    def workflows(self, notes: list[str]) -> dict[str, tuple[int, list[list[str]]]]:
        """Workflow → (requests, its most frequent sequence of top-level agent steps)."""
        patterns: dict[str, Counter[tuple[tuple[str, ...], ...]]] = {}
        for trace, steps in self.top_steps.items():
            patterns.setdefault(self.workflow_of[trace], Counter())[_steps(steps)] += 1
        out = {}
        for wf, counter in patterns.items():
            shape, seen = counter.most_common(1)[0]
            total = sum(counter.values())
            out[wf] = (total, [list(group) for group in shape])
            if seen < total:
                notes.append(f"workflow {wf}: {len(counter)} different step sequences; the "
                             f"most frequent ({seen:,} of {total:,}) is the model's")
        return out


def read_otlp(path: Path, mapping_file: Path | None = None) -> OtlpTrace:
    """The traces in ``path`` (OTLP JSON), named by the conventions and ``mapping_file``."""
    mapping = read_mapping(mapping_file) if mapping_file is not None else Mapping()
    forest = _Forest(_spans(path), mapping)
    spans = forest.spans()
    notes = []
    if forest.orphans:
        notes.append(f"{forest.orphans:,} LLM or tool calls had no agent span above them: "
                     "they belong to an agent named after their workflow")
    workflows = forest.workflows(notes)
    t0 = forest.t0
    starts = np.array([(r.start - t0) / 1e9 for r in forest.roots.values()])
    ends = np.array([(r.end - t0) / 1e9 for r in forest.roots.values()])
    span_s = float(starts.max() - starts.min()) if len(starts) > 1 else 0.0
    return OtlpTrace(
        spans=spans, traces=len(forest.roots), workflows=workflows,
        agents=_peaks(spans), calls=forest.calls,
        rate=(len(starts) - 1) / span_s if span_s > 0 else 0.0,
        duration=float(ends.max()) if len(ends) else 0.0,
        latency_p95=float(np.quantile(ends - starts, 0.95)) if len(ends) else 0.0,
        notes=notes)


def _steps(steps: list[tuple[int, int, str]]) -> tuple[tuple[str, ...], ...]:
    """Top-level agent calls in order; calls that overlap are one parallel step."""
    groups: list[list[str]] = []
    end = -1
    for start, stop, name in sorted(steps):
        if groups and start < end:
            groups[-1].append(name)
            end = max(end, stop)
        else:
            groups.append([name])
            end = stop
    return tuple(tuple(sorted(g)) for g in groups)


def _peaks(spans: pd.DataFrame) -> dict[str, int]:
    out = {}
    for name, part in spans[spans["kind"] == "agent"].groupby("component"):
        marks = np.concatenate([part["start_s"].to_numpy(), part["end_s"].to_numpy()])
        steps = np.concatenate([np.ones(len(part)), -np.ones(len(part))])
        order = np.lexsort((steps, marks))  # an end before a start at the same instant
        out[str(name)] = max(int(np.cumsum(steps[order]).max()), 1)
    return out


def starter_scenario(trace: OtlpTrace) -> Any:
    """A scenario of the system the traces show: its agents, endpoints, tools and
    workflows, demand at the traces' mean rate, and an SLA at their p95 (placeholders
    where traces cannot tell: capacity, prices, the objective)."""
    from harness.scenario.model import Scenario

    endpoints = sorted(set(trace.spans.loc[trace.spans["kind"] == "llm", "component"]))
    tools = sorted(set(trace.spans.loc[trace.spans["kind"] == "tool", "component"]))
    agents = {}
    for name, peak in sorted(trace.agents.items()):
        made = trace.calls.get(name, {"llm": set(), "tool": set()})
        agents[name] = {"replicas": 1, "concurrency": peak,
                        "llm": [{"endpoint": e} for e in sorted(made["llm"])],
                        "tools": [{"tool": t} for t in sorted(made["tool"])]}
    total = sum(n for n, _ in trace.workflows.values())
    workflows = {}
    for wf, (n, steps) in sorted(trace.workflows.items()):
        if not steps:
            continue
        workflows[wf] = {"weight": round(n / total, 4), "steps": [
            group[0] if len(group) == 1 else {"parallel": list(group)} for group in steps]}
    if not agents or not workflows:
        raise InputError("the traces show no agent calls (invoke_agent spans, or LLM and tool "
                         "calls under a root span): nothing to model; a --mapping can name "
                         "them")
    rate = trace.rate if trace.rate > 0 else 1.0
    objective = max(float(f"{trace.latency_p95:.2g}"), 0.001)
    data = {
        "name": "otlp-twin",
        "description": f"A twin built from {trace.traces:,} traces by squall calibrate.",
        "duration": max(math.ceil(trace.duration), 60),
        "system": {"endpoints": {e: {"ttft": 0.5} for e in endpoints},
                   "tools": {t: {"latency": 0.1} for t in tools},
                   "agents": agents, "workflows": workflows},
        "demand": {"curve": {"constant": float(f"{rate:.4g}")}, "arrivals": "poisson"},
        "sla": {"objective": objective},
    }
    trace.notes.append("capacity is not in traces: each agent has 1 replica serving the "
                       "most calls seen in flight at once; set replicas and concurrency to "
                       "your deployment's, and prices to your providers'")
    trace.notes.append(f"demand: {rate:.4g} requests/s (the traces' mean); sla.objective: "
                       f"{objective:g} s (the traces' p95)")
    return Scenario.model_validate(data)
