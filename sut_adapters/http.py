"""The ``http`` target: any agent system with an HTTP/JSON API (see
:mod:`harness.scenario.target` for its settings).

Each arrival becomes one request built from the body template and a payload sample.
An answer succeeds when its status is one of ``success.status`` and every
``success.json`` path holds its value; otherwise it is an error of a named kind (the
status's meaning, ``malformed`` for a body that is not the JSON expected, ``unexpected``
for one that fails the criteria). ``trace`` paths, when given, fill the request's steps,
attempts, tokens and cost.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from harness.jsonpath import MISSING, lookup
from harness.live.target import Answer, Request, seconds
from harness.outcomes import ErrorKind
from harness.scenario.model import Scenario
from harness.scenario.target import HttpTarget
from sut_adapters.external import ExternalTarget, bodies, status_kind, target_spec

__all__ = ["HttpAdapter", "open_http"]


def open_http(scenario: Scenario, *, url: str | None = None, token: str | None = None,
              time_scale: float = 1.0) -> HttpAdapter:
    return HttpAdapter(scenario, target_spec(scenario, HttpTarget, url), time_scale)


def _number(data: Any, path: str | None) -> float | None:
    if path is None:
        return None
    return seconds(lookup(data, path))


_KINDS = {"agent", "llm", "tool"}
_ERRORS = {k.value for k in ErrorKind}


def _spans(raw: Any, sent_s: float, k: float) -> list[tuple[Any, ...]]:
    """The span rows of the system's own trace (times from the send, wall seconds)."""
    if not isinstance(raw, list):
        return []
    rows = []
    for s in raw:
        try:
            kind, component = s["kind"], str(s["component"])
            start, end = float(s["start_s"]), float(s["end_s"])
            error = s.get("error")
            if kind not in _KINDS or not 0 <= start <= end or not math.isfinite(end) or (
                    error is not None and error not in _ERRORS):
                continue
            rows.append((kind, component, str(s.get("caller") or "system"), -1,
                         int(s.get("attempt") or 1), sent_s + start * k, sent_s + end * k,
                         float(s.get("queue_s") or 0.0) * k, error,
                         bool(s.get("fallback")), int(s.get("tokens_in") or 0),
                         int(s.get("tokens_out") or 0), float(s.get("cost") or 0.0),
                         seconds(s.get("hop_s"), k)))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return rows


class HttpAdapter(ExternalTarget):
    def __init__(self, scenario: Scenario, spec: HttpTarget, k: float) -> None:
        super().__init__(scenario, spec, k)
        self.spec = spec
        self.needs_json = bool(spec.success.json_) or any(
            getattr(spec.trace, f) is not None for f in type(spec.trace).model_fields)

    def request(self, workflows: Sequence[str]) -> Request:
        spec = self.spec
        paths = [self.prefix + spec.path.replace("{workflow}", quote(w, safe=""))
                 for w in workflows]
        return Request(paths, bodies(spec.body, spec.samples), headers=dict(spec.headers),
                       method=spec.method, timeout_s=self.timeout_s)

    def answer(self, status: int, body: bytes | None, transport: str | None,
               t0: float, k: float, *, sent: float | None = None,
               marks: list[tuple[int, float]] | None = None) -> Answer:
        failed = self.failed(status, transport)
        if failed is not None:
            return failed
        if transport is not None:  # the body broke off
            return Answer(error=ErrorKind.TRUNCATED.value, attempts=1, steps=1)
        spec = self.spec
        data: Any = None
        if self.needs_json:
            try:
                data = json.loads(body or b"")
            except ValueError:
                kind = ErrorKind.MALFORMED.value if status in spec.success.status else \
                    status_kind(status)
                return Answer(error=kind, attempts=1, steps=1)
        ans = Answer(attempts=1, steps=1)
        trace = spec.trace
        for field in ("steps", "attempts", "tokens_in", "tokens_out"):
            value = _number(data, getattr(trace, field))
            if value is not None:
                setattr(ans, field, int(value))
        cost = _number(data, trace.cost)
        ans.cost = cost if cost is not None else 0.0
        if trace.spans is not None and sent is not None:
            ans.spans = _spans(lookup(data, trace.spans), (sent - t0) * k, k)
        if status not in spec.success.status:
            ans.error = status_kind(status)
        elif any(lookup(data, path) is MISSING or lookup(data, path) != want
                 for path, want in spec.success.json_.items()):
            ans.error = ErrorKind.UNEXPECTED.value
        return ans
