"""The ``openai`` target: any OpenAI-compatible chat endpoint (``POST
{url}/chat/completions``), plain or streaming.

Each arrival sends one chat completion: the payload sample is the user message (a
string, through ``prompt``) or the messages themselves (a list, or ``{messages: […]}``).
Streaming answers are read as they arrive, and measured as aiperf defines it: time to
first token from the request's send to the first chunk with content, inter-token latency
``(last chunk − first token) / (output tokens − 1)``. Tokens come from ``usage`` (the
request asks for it in streams), else from the chunks with content; cost from the price
of the scenario's endpoint named by ``price``. A stream without its ``[DONE]`` is
``truncated``; a chunk that is not JSON is ``malformed``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from harness.live.target import Answer, Request
from harness.outcomes import ErrorKind
from harness.scenario.model import Scenario
from harness.scenario.system import Price
from harness.scenario.target import OpenAiTarget
from sut_adapters.external import ExternalTarget, bodies, status_kind, target_spec

__all__ = ["OpenAiAdapter", "open_openai"]


def open_openai(scenario: Scenario, *, url: str | None = None, token: str | None = None,
                time_scale: float = 1.0) -> OpenAiAdapter:
    return OpenAiAdapter(scenario, target_spec(scenario, OpenAiTarget, url), time_scale)


def _messages(sample: Any, prompt: str) -> Any:
    if isinstance(sample, list):
        return sample
    if isinstance(sample, dict) and isinstance(sample.get("messages"), list):
        return sample["messages"]
    return [{"role": "user", "content": prompt}]


def _usage(event: Any) -> tuple[int, int] | None:
    usage = event.get("usage") if isinstance(event, dict) else None
    if not isinstance(usage, dict):
        return None
    tin, tout = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if isinstance(tin, int) and isinstance(tout, int):
        return tin, tout
    return None


def _content(event: Any, key: str) -> str:
    """The text of the first choice's ``key`` (delta or message), or ''."""
    choices = event.get("choices") if isinstance(event, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    part = choices[0].get(key)
    text = part.get("content") if isinstance(part, dict) else None
    return text if isinstance(text, str) else ""


class OpenAiAdapter(ExternalTarget):
    def __init__(self, scenario: Scenario, spec: OpenAiTarget, k: float) -> None:
        super().__init__(scenario, spec, k)
        self.spec = spec
        endpoint = scenario.system.endpoints.get(spec.price) if spec.price else None
        self.price = endpoint.price if endpoint is not None else Price()

    def request(self, workflows: Sequence[str]) -> Request:
        spec = self.spec
        templates = []
        for sample in spec.samples or [None]:
            body: dict[str, Any] = {"model": spec.model,
                                    "messages": _messages(sample, spec.prompt),
                                    "stream": spec.stream}
            if spec.max_tokens is not None:
                body["max_tokens"] = spec.max_tokens
            if spec.stream:
                body["stream_options"] = {"include_usage": True}
            templates += bodies(body, [sample])
        return Request([f"{self.prefix}/chat/completions"] * len(workflows), templates,
                       headers=dict(spec.headers), stream=spec.stream,
                       timeout_s=self.timeout_s)

    def answer(self, status: int, body: bytes | None, transport: str | None,
               t0: float, k: float, *, sent: float | None = None,
               marks: list[tuple[int, float]] | None = None) -> Answer:
        failed = self.failed(status, transport)
        if failed is not None:
            return failed
        if status != 200:
            return Answer(error=status_kind(status), attempts=1, steps=1)
        if marks is None:
            return self._whole(body)
        return self._streamed(body or b"", marks, transport, sent, k)

    def _whole(self, body: bytes | None) -> Answer:
        try:
            data = json.loads(body or b"")
        except ValueError:
            return Answer(error=ErrorKind.MALFORMED.value, attempts=1, steps=1)
        usage = _usage(data)
        if usage is None or not isinstance(data.get("choices"), list):
            return Answer(error=ErrorKind.MALFORMED.value, attempts=1, steps=1)
        tin, tout = usage
        return Answer(attempts=1, steps=1, tokens_in=tin, tokens_out=tout,
                      cost=self.price.of(tin, tout))

    def _streamed(self, body: bytes, marks: list[tuple[int, float]], transport: str | None,
                  sent: float | None, k: float) -> Answer:
        first = last = None
        chunks, usage, done, error = 0, None, False, None
        start = 0
        for end, at in marks:
            line = body[start:end].strip()
            start = end
            if not line.startswith(b"data:"):
                continue  # blank lines, comments, event names
            data = line[5:].strip()
            if data == b"[DONE]":
                done = True
                continue
            try:
                event = json.loads(data)
            except ValueError:
                error = ErrorKind.MALFORMED.value
                continue
            usage = _usage(event) or usage
            if _content(event, "delta"):
                chunks += 1
                first = at if first is None else first
                last = at
        tin, tout = usage if usage is not None else (0, chunks)
        if error is None and (transport is not None or not done):
            error = ErrorKind.TRUNCATED.value
        ans = Answer(error=error, attempts=1, steps=1, tokens_in=tin, tokens_out=tout,
                     cost=self.price.of(tin, tout))
        if first is not None and sent is not None:
            ans.ttft_s = (first - sent) * k
            if tout > 1 and last is not None:
                ans.itl_s = (last - first) / (tout - 1) * k
        return ans
