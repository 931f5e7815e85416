"""Reference-system tests start real processes on loopback: every one is stopped (its
whole process group) when the test ends, pass or fail."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib import error, request

import pytest

from sut_adapters.reference.procs import Service, start_service, stop_service


class Http:
    """A tiny blocking client with a deadline on every call."""

    def __init__(self, base: str, token: str | None = None) -> None:
        self.base, self.token = base, token

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
             headers: dict[str, str] | None = None, auth: bool = True,
             timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        req = request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if auth and self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with request.urlopen(req, timeout=timeout) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def json(self, method: str, path: str, body: Any = None,
             **kw: Any) -> tuple[int, dict[str, Any]]:
        status, _, raw = self.call(method, path, body, **kw)
        return status, json.loads(raw)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    yield from _services(tmp_path)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One mock endpoint (10 ms, no limits) shared by a module's tests; each test's
    faults are removed after it (``clean``)."""
    for start in _services(tmp_path_factory.mktemp("plain")):
        yield start("llm", "big", {"latency": "10ms"})


@pytest.fixture(scope="module")
def module_services(tmp_path_factory: pytest.TempPathFactory
                    ) -> Iterator[Callable[..., Service]]:
    """Like ``services``, for processes a whole module shares."""
    yield from _services(tmp_path_factory.mktemp("svc"))


@pytest.fixture
def clean(plain: Service) -> Iterator[Service]:
    yield plain
    Http(plain.url, "test-token").call("DELETE", "/_squall/faults")


def _services(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    started: list[Service] = []

    def start(kind: str, name: str, spec: dict[str, Any], **kw: Any) -> Service:
        kw.setdefault("token", "test-token")
        service = start_service(kind, name, spec, workdir=tmp_path / "svc", **kw)
        started.append(service)
        return service

    yield start
    for service in started:
        stop_service(service)
    for service in started:  # nothing of theirs may be left running
        try:
            os.killpg(service.proc.pid, 0)
        except ProcessLookupError:
            continue
        pytest.fail(f"process group of {service.name} still alive after stop")


def token() -> str:
    return secrets.token_urlsafe(16)


def elapsed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start
