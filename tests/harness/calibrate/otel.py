"""Traces of a small multi-agent system, written with the OpenTelemetry SDK and encoded
as OTLP JSON by its own encoder — what a user's exporter would hand to `squall
calibrate`. The system's times are drawn from known distributions, so a test can check
what calibration recovers against what was put in.

The system: a `support` request (root span ``POST /support``) goes to a `router` agent
(one chat call to ``gpt-4o-mini``), then to `kb` and `billing` in parallel (each a tool
call then a chat call). A share of the chat calls fail with a timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from google.protobuf.json_format import MessageToJson
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

MS = 1_000_000  # nanoseconds


@dataclass(frozen=True)
class Truth:
    """What the traces were drawn from."""

    router_own_median: float = 0.020  # lognormal, p95 0.060
    router_own_p95: float = 0.060
    ttft_median: float = 0.300  # lognormal, p95 0.900
    ttft_p95: float = 0.900
    per_token: float = 0.010
    search_mean: float = 0.080  # gamma, cv 0.5
    search_cv: float = 0.5
    rate: float = 2.0  # requests per second
    fail_share: float = 0.03


def _lognormal(rng: np.random.Generator, median: float, p95: float) -> float:
    return float(rng.lognormal(np.log(median), np.log(p95 / median) / 1.6448536, 1)[0])


def write_traces(path: Path, requests: int = 600, seed: int = 1, truth: Truth = Truth(),
                 *, lines: bool = False) -> Truth:
    """``requests`` traces into ``path`` (one OTLP JSON object, or one per 100 traces a
    line with ``lines``)."""
    rng = np.random.default_rng(seed)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-app"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("squall-tests")
    chunks: list[str] = []

    def chat(parent: trace.Span, at: int) -> int:
        ctx = trace.set_span_in_context(parent)
        out = int(rng.integers(50, 251))
        took = _lognormal(rng, truth.ttft_median, truth.ttft_p95) + truth.per_token * (out - 1)
        end = at + int(took * 1e9)
        span = tracer.start_span("chat gpt-4o-mini", context=ctx, start_time=at,
                                 kind=trace.SpanKind.CLIENT, attributes={
                                     "gen_ai.operation.name": "chat",
                                     "gen_ai.provider.name": "openai",
                                     "gen_ai.request.model": "gpt-4o-mini",
                                     "gen_ai.usage.input_tokens": 800,
                                     "gen_ai.usage.output_tokens": out})
        if rng.random() < truth.fail_share:
            span.set_attribute("error.type", "timeout")
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end)
        return end

    def agent(name: str, parent: trace.Span, at: int, *, tool: str | None) -> int:
        ctx = trace.set_span_in_context(parent)
        span = tracer.start_span(f"invoke_agent {name}", context=ctx, start_time=at,
                                 attributes={"gen_ai.operation.name": "invoke_agent",
                                             "gen_ai.agent.name": name})
        t = at + int(_lognormal(rng, truth.router_own_median, truth.router_own_p95) * 1e9)
        if tool is not None:
            k = 1 / truth.search_cv**2
            took = float(rng.gamma(k, truth.search_mean / k))
            call = tracer.start_span(f"execute_tool {tool}", context=trace.set_span_in_context(
                span), start_time=t, attributes={"gen_ai.operation.name": "execute_tool",
                                                 "gen_ai.tool.name": tool})
            t += int(took * 1e9)
            call.end(end_time=t)
        t = chat(span, t)
        span.end(end_time=t + 1 * MS)
        return t + 1 * MS

    start = 1_700_000_000 * 10**9
    for i in range(requests):
        start += int(rng.exponential(1 / truth.rate) * 1e9)
        root = tracer.start_span("POST /support", start_time=start,
                                 kind=trace.SpanKind.SERVER)
        t = agent("router", root, start + 2 * MS, tool=None)
        a = agent("kb", root, t + 1 * MS, tool="search")
        b = agent("billing", root, t + 1 * MS, tool="ledger")
        root.end(end_time=max(a, b) + 2 * MS)
        if lines and (i + 1) % 100 == 0:
            chunks.append(_encode(exporter))
    if not lines or exporter.get_finished_spans():
        chunks.append(_encode(exporter))
    path.write_text("\n".join(chunks) + "\n" if lines else chunks[0], encoding="utf-8")
    provider.shutdown()
    return truth


def _encode(exporter: InMemorySpanExporter) -> str:
    text = MessageToJson(encode_spans(exporter.get_finished_spans()), indent=None)
    exporter.clear()
    return text
