"""The ``target`` section: which system ``--mode live`` drives, and how.

Absent, or ``adapter: reference``: the bundled reference system, started from the
scenario's ``system`` (or attached to with ``live.target``). For a user's own system:

.. code-block:: yaml

    target:
      adapter: http                  # any HTTP/JSON agent API
      url: http://127.0.0.1:8080
      path: /agents/{workflow}/run   # {workflow}: the request's workflow
      method: POST
      headers: {X-Tenant: acme}
      body: {task: "{{payload}}", priority: "{{priority}}", id: "{{request_id}}"}
      payloads: samples.jsonl        # one JSON value per line; each request picks one
      timeout: 60s
      success: {status: [200], json: {$.status: done}}
      trace: {steps: $.trace.steps, tokens_in: $.usage.input_tokens,
              tokens_out: $.usage.output_tokens, cost: $.cost_usd}
      proxies:                       # squall proxy in front of the system's dependencies
        llm: {listen: 127.0.0.1:9001, upstream: 127.0.0.1:8000, stands_for: endpoint.large}

    target:
      adapter: openai                # any OpenAI-compatible chat endpoint
      url: http://127.0.0.1:8000/v1
      model: gpt-4o-mini
      stream: true
      max_tokens: 256
      payloads: prompts.jsonl        # a prompt (string) or a list of messages per line
      price: large                   # an endpoint of system whose price applies

Template variables: ``{{workflow}}``, ``{{priority}}``, ``{{request_id}}`` (a number
when it is the whole string) and ``{{payload}}`` (the sample itself when it is the whole
string, its text inside a longer one). Faults target ``proxy.NAME``; the simulator
applies them to the component the proxy ``stands_for``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Discriminator,
    Field,
    PositiveInt,
    PrivateAttr,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from harness.jsonpath import JsonPath
from harness.spec import Name, Spec
from harness.units import PositiveDuration

__all__ = [
    "VARIABLES",
    "HttpTarget",
    "OpenAiTarget",
    "ProxySpec",
    "ReferenceTarget",
    "TargetSpec",
    "http_url",
    "load_payloads",
]

VARIABLES = ("workflow", "priority", "request_id", "payload")
MAX_PAYLOADS = 100_000  #: samples in a payloads file
MAX_PAYLOAD_BYTES = 64 * 1024 * 1024


class ProxySpec(Spec):
    """A ``squall proxy`` proxy in front of one dependency of the system under test."""

    listen: str | None = None  #: HOST:PORT the system calls instead of the dependency
    upstream: str | None = None  #: HOST:PORT of the dependency
    api: str | None = None  #: a running proxy's API URL; absent: the run starts one
    stands_for: str | None = None  #: the model's component (endpoint.NAME, tool.NAME …)

    @field_validator("listen", "upstream")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            host, colon, port = value.rpartition(":")
            if not colon or not host or not port.isdigit() or not 0 <= int(port) < 65536:
                raise ValueError(f"{value!r} is not HOST:PORT")
        return value

    @field_validator("api")
    @classmethod
    def _api(cls, value: str | None) -> str | None:
        return None if value is None else http_url(value)

    @model_validator(mode="after")
    def _placed(self) -> ProxySpec:
        if self.api is None and (self.listen is None or self.upstream is None):
            raise ValueError("give listen and upstream (the run starts the proxy), or the "
                             "api of a proxy already running")
        return self


def http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value.rstrip("/")


class _External(Spec):
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    payloads: str | None = None  #: a JSONL file beside the scenario
    timeout: PositiveDuration = 60.0
    proxies: dict[Name, ProxySpec] = Field(default_factory=dict)
    _samples: list[Any] = PrivateAttr(default_factory=list)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return http_url(value)

    @model_validator(mode="after")
    def _load_payloads(self, info: ValidationInfo) -> _External:
        context = info.context or {}
        if self.payloads is not None and not (context.get("trusted") and not (
                Path(context.get("base_dir") or ".") / self.payloads).exists()):
            # (a scenario restored from a run directory is scored, not sent: its
            # payloads may have moved since)
            self._samples = load_payloads(self.payloads, context)
        return self

    @property
    def samples(self) -> list[Any]:
        """The payload samples (none: every request has the payload ``null``)."""
        return self._samples


def load_payloads(file: str, context: dict[str, Any]) -> list[Any]:
    from harness.scenario.demand import trace_path  # the same rule as traces: no escapes

    path = trace_path(file, context)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ValueError(f"cannot read {file!r}: {exc.strerror}") from None
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"{file!r} is {size / 2**20:,.0f} MB: payloads files hold at most "
                         f"{MAX_PAYLOAD_BYTES // 2**20} MB")
    samples: list[Any] = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            if len(samples) >= MAX_PAYLOADS:
                raise ValueError(f"{file!r} has more than {MAX_PAYLOADS:,} samples")
            try:
                samples.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{file}:{n}: not JSON ({exc.msg}): write one JSON value "
                                 "per line") from None
    if not samples:
        raise ValueError(f"{file!r} has no samples")
    return samples


class Success(Spec):
    """When an answer counts as a success: its status, and values at JSON paths."""

    status: list[Annotated[int, Field(ge=100, le=599)]] = Field(
        default_factory=lambda: list(range(200, 300)))
    json_: dict[JsonPath, Any] = Field(default_factory=dict, alias="json")


class TraceFields(Spec):
    """Where the answer says what the request did (JSON paths); absent: not recorded.

    ``spans``: a list of the calls the system made, each ``{kind: agent | llm | tool,
    component, start_s, end_s}`` — seconds from when the request was sent — and
    optionally ``caller``, ``attempt``, ``queue_s``, ``error`` (an error kind),
    ``tokens_in``, ``tokens_out``, ``cost``, ``hop_s`` (the call's time in transit, for
    ``squall calibrate``). Entries that do not fit are left out."""

    spans: JsonPath | None = None
    steps: JsonPath | None = None
    attempts: JsonPath | None = None
    tokens_in: JsonPath | None = None
    tokens_out: JsonPath | None = None
    cost: JsonPath | None = None


class HttpTarget(_External):
    adapter: Literal["http"] = "http"
    method: Literal["POST", "PUT", "PATCH", "GET"] = "POST"
    path: str = "/"
    body: Any = Field(default_factory=lambda: {
        "workflow": "{{workflow}}", "priority": "{{priority}}",
        "request_id": "{{request_id}}", "input": "{{payload}}"})
    success: Success = Success()
    trace: TraceFields = TraceFields()

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"{value!r}: a path starts with /")
        leftover = value.replace("{workflow}", "")
        if "{" in leftover or "}" in leftover:
            raise ValueError(f"{value!r}: the only path variable is {{workflow}}")
        return value


class OpenAiTarget(_External):
    adapter: Literal["openai"] = "openai"
    model: str = "mock"
    stream: bool = True
    max_tokens: PositiveInt | None = None
    #: an endpoint of ``system`` whose price applies to the tokens (absent: no cost)
    price: Name | None = None
    prompt: str = "{{payload}}"  #: the user message when a sample is not a message list


class ReferenceTarget(Spec):
    adapter: Literal["reference"] = "reference"


def _adapter(value: Any) -> str:
    if isinstance(value, Spec):
        return str(getattr(value, "adapter", "reference"))
    if isinstance(value, dict):
        return str(value.get("adapter", "reference"))
    return "reference"


#: Any target, chosen by its ``adapter``.
TargetSpec = Annotated[
    Annotated[ReferenceTarget, Tag("reference")] | Annotated[HttpTarget, Tag("http")]
    | Annotated[OpenAiTarget, Tag("openai")],
    Discriminator(_adapter),
]
