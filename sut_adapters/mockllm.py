"""``squall mock-llm``: the reference system's mock LLM endpoint on its own.

An OpenAI-compatible ``POST /v1/chat/completions`` (plain and streaming) with a
scenario endpoint's latency model (time to first token and per-token time, or a whole
latency), concurrency and queue limit, RPM/TPM limits, price and error rate, and the same
fault control API as the reference system's services (``PUT /_squall/faults/ID`` with a
scenario fault, under a lease; bearer token). Point an agent framework at it to load-test
the framework without paying for tokens.
"""

from __future__ import annotations

import secrets
import socket
import sys
from typing import Any

from pydantic import ValidationError

from harness.errors import InputError, Problem
from harness.scenario.system import Endpoint
from sut_adapters.reference.llm import llm_app
from sut_adapters.reference.service import serve, setup_logging

__all__ = ["endpoint_spec", "run_mock_llm"]


def endpoint_spec(raw: dict[str, Any], source: str) -> Endpoint:
    """An endpoint spec from plain data; every problem named by its field."""
    try:
        return Endpoint.model_validate(raw)
    except ValidationError as exc:
        raise InputError([Problem(e["msg"], tuple(e["loc"]), source)
                          for e in exc.errors()]) from None


def run_mock_llm(name: str, spec: Endpoint, *, port: int = 0, token: str | None = None,
                 seed: int = 0, output_tokens: int = 64, host: str = "127.0.0.1") -> None:
    """Serve the mock endpoint until Ctrl-C or SIGTERM."""
    token = token or secrets.token_urlsafe(24)
    if port:
        with socket.socket() as probe:
            try:
                probe.bind((host, port))
            except OSError as exc:
                raise InputError(f"cannot listen on port {port}: {exc.strerror}",
                                 source="--port") from None
    setup_logging(f"mock-llm.{name}")
    app, _ = llm_app(name, spec, seed, token, output_tokens=output_tokens)

    def announce(bound: int) -> None:
        first = "latency" if spec.latency is not None else "ttft + per_token"
        print(f"squall mock-llm: {name} is up ({first} model"
              + (f", {spec.concurrency} at a time" if spec.concurrency else "") + ")\n"
              f"  chat       http://{host}:{bound}/v1/chat/completions  (OpenAI-compatible)\n"
              f"  control    http://{host}:{bound}/_squall/faults  (target endpoint.{name})\n"
              f"  token      {token}\n"
              "  Ctrl-C stops it", flush=True)

    try:
        serve(app, host=host, port=port, announce=announce)
    finally:
        print("squall mock-llm: stopped", file=sys.stderr, flush=True)
