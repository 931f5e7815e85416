"""What the adapters for users' own systems share (``http``, ``openai``).

Such a system is reached only through its API: the adapter sends requests and reads
answers, and applies faults through ``squall proxy`` proxies placed in front of the
system's dependencies (``target.proxies``; faults on ``proxy.NAME``), each toxic under a
lease the proxy enforces. A proxy without an ``api`` is started by the run and stopped
after it. There is no view inside the system: its timeseries are the driver's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from pydantic import TypeAdapter, ValidationError

from faults.proxy.mapping import toxics_for
from faults.specs import CommandFault, FaultSpec, FaultSpecBase, Target, TargetKind
from harness.errors import InputError
from harness.hosts import is_loopback
from harness.live.target import Answer, TargetError, transport_kind
from harness.outcomes import ErrorKind
from harness.scenario.model import Scenario
from harness.scenario.target import VARIABLES, HttpTarget, OpenAiTarget, ProxySpec
from harness.spec import Spec

__all__ = ["ExternalTarget", "ProxyFaults", "bodies", "cannot_apply", "check_host",
           "status_kind", "target_spec"]

CONTROL_TIMEOUT_S = 10.0
PROXY_START_S = 30.0
_FAULT = TypeAdapter(FaultSpec)


def target_spec(scenario: Scenario, kind: type[Spec], url: str | None) -> Any:
    """The scenario's target settings (of type ``kind``), at ``url`` when one is given."""
    spec = scenario.target
    if not isinstance(spec, kind):
        raise TypeError(f"the scenario's target is {spec.adapter}, not {kind.__name__}")
    return spec if url is None else spec.model_copy(update={"url": url})


def cannot_apply(scenario: Scenario, fault: FaultSpecBase) -> str | None:
    """Why an ``http`` or ``openai`` target cannot apply ``fault`` live, or None."""
    if isinstance(fault, CommandFault):
        return None
    target = fault.parsed_target
    if target.kind is not TargetKind.PROXY:
        return (f"the {scenario.target.adapter} target reaches the system only through "
                f"its API and cannot act on {target}: put `squall proxy` in front of the "
                "dependency and target proxy.NAME, or use a command fault")
    try:
        toxics_for(fault)
    except ValueError as exc:
        return str(exc)
    return None


def check_host(url: str, allow_hosts: list[str], where: str) -> None:
    host = urlsplit(url).hostname or ""
    if not (is_loopback(host) or host in allow_hosts):
        raise InputError(f"{host} is outside loopback: list it in live.allow_hosts (or pass "
                         f"--allow-host {host}) to drive it", source=where)


def status_kind(status: int) -> str:
    """The error kind an HTTP status means."""
    if status == 429:
        return ErrorKind.RATE_LIMITED.value
    if status == 503:
        return ErrorKind.OVERLOADED.value
    if status in (408, 504):
        return ErrorKind.TIMEOUT.value
    if status >= 500:
        return ErrorKind.ERROR.value
    return ErrorKind.UNEXPECTED.value


# --- request bodies ----------------------------------------------------------------------

_VAR = re.compile(r"\{\{\s*(" + "|".join(VARIABLES) + r")\s*\}\}")
_MARKS = {"workflow": "\x00W\x00", "priority": "\x00P\x00", "request_id": "\x00I\x00"}
_NUMBER = "\x00N\x00"  #: the request id as a JSON number
_FORMATS = {"\\u0000W\\u0000": "%(workflow)s", "\\u0000P\\u0000": "%(priority)s",
            "\\u0000I\\u0000": "%(id)d", '"\\u0000N\\u0000"': "%(id)d"}


def _render(node: Any, sample: Any) -> Any:
    if isinstance(node, str):
        whole = _VAR.fullmatch(node)
        if whole and whole.group(1) == "payload":
            return sample
        if whole and whole.group(1) == "request_id":
            return _NUMBER
        return _VAR.sub(lambda m: _MARKS.get(m.group(1)) or (
            sample if isinstance(sample, str) else json.dumps(sample)), node)
    if isinstance(node, dict):
        return {_render(k, sample) if isinstance(k, str) else k: _render(v, sample)
                for k, v in node.items()}
    if isinstance(node, list):
        return [_render(v, sample) for v in node]
    return node


def bodies(template: Any, samples: list[Any]) -> list[str]:
    """The driver's ``%``-templates of ``template``, one per payload sample."""
    out = []
    for sample in samples or [None]:
        text = json.dumps(_render(template, sample), separators=(",", ":"))
        text = text.replace("%", "%%")
        for mark, fmt in _FORMATS.items():
            text = text.replace(mark, fmt)
        out.append(text)
    return out


# --- proxies -----------------------------------------------------------------------------

def _call(api: str, method: str, path: str, body: Any = None, *,
          missing_ok: bool = False) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(api + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=CONTROL_TIMEOUT_S) as resp:
            raw = resp.read()
            return json.loads(raw) if raw.strip() else None
    except urllib.error.HTTPError as exc:
        if missing_ok and exc.code == 404:
            return None
        try:
            why = json.loads(exc.read())["error"]
        except (ValueError, KeyError, TypeError):
            why = exc.reason
        raise TargetError(f"the proxy API at {api}: {method} {path}: {exc.code} {why}") \
            from None
    except (OSError, ValueError) as exc:
        raise TargetError(f"the proxy API at {api} did not answer {method} {path}: {exc}") \
            from None


class ProxyFaults:
    """The run's proxies, and the toxics each scenario fault put on them."""

    def __init__(self, proxies: dict[str, ProxySpec], allow_hosts: list[str]) -> None:
        self.apis: dict[str, str] = {}
        self.applied: dict[str, list[tuple[str, str, str]]] = {}  #: fault → (api, proxy, toxic)
        self._proc: subprocess.Popen[bytes] | None = None
        self._config: Path | None = None
        self._log: Path | None = None
        try:
            self._start(proxies, allow_hosts)
        except BaseException:
            self.close()
            raise

    def _start(self, proxies: dict[str, ProxySpec], allow_hosts: list[str]) -> None:
        embedded = {n: p for n, p in proxies.items() if p.api is None}
        if embedded:
            self._spawn(embedded, allow_hosts)
        for name, spec in proxies.items():
            if spec.api is None:
                continue
            check_host(spec.api, allow_hosts, f"target.proxies.{name}.api")
            self.apis[name] = spec.api
            if spec.listen is not None and spec.upstream is not None:
                _call(spec.api, "POST", "/populate", [{"name": name, "listen": spec.listen,
                                                        "upstream": spec.upstream}])
            elif _call(spec.api, "GET", f"/proxies/{quote(name)}", missing_ok=True) is None:
                raise TargetError(f"the proxy API at {spec.api} has no proxy {name!r}: give "
                                  "target.proxies.{name}.listen and upstream to create it")

    def _spawn(self, proxies: dict[str, ProxySpec], allow_hosts: list[str]) -> None:
        fd, config = tempfile.mkstemp(prefix="squall-proxies-", suffix=".json")
        self._config = Path(config)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump([{"name": n, "listen": p.listen, "upstream": p.upstream}
                       for n, p in proxies.items()], fh)
        cmd = [sys.executable, "-m", "harness.cli.main", "proxy", "--api", "127.0.0.1:0",
               "--config", config]
        for host in allow_hosts:
            cmd += ["--allow-host", host]
        self._log = self._config.with_suffix(".log")
        with self._log.open("wb") as log:  # a file, not a pipe: it can never block it
            self._proc = proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                                 stdin=subprocess.DEVNULL,
                                                 start_new_session=True)
        deadline = time.monotonic() + PROXY_START_S
        while True:
            said = self._log.read_text(encoding="utf-8", errors="replace")
            m = re.search(r"API on (http://\S+)", said)
            if m:
                break
            if proc.poll() is not None:
                tail = said.strip().splitlines()[-1:] or ["no output"]
                raise TargetError(f"squall proxy stopped: {tail[0]}")
            if time.monotonic() > deadline:
                raise TargetError(f"squall proxy did not start within {PROXY_START_S:g} s")
            time.sleep(0.05)
        for name in proxies:
            self.apis[name] = m.group(1)

    def apply(self, fault_id: str, target: str, fault: dict[str, Any], lease_s: float) -> None:
        try:
            spec = _FAULT.validate_python(fault)
        except ValidationError as exc:
            raise TargetError(f"fault {fault_id}: {exc.errors()[0]['msg']}") from None
        name = Target.parse(target).name
        api = self.apis[name]
        try:
            toxics = toxics_for(spec)
        except ValueError as exc:
            raise TargetError(f"fault {fault_id}: {exc}") from None
        placed = self.applied.setdefault(fault_id, [])
        for i, toxic in enumerate(toxics):
            toxic_name = f"squall-{fault_id}-{i}"
            _call(api, "POST", f"/proxies/{quote(name)}/toxics",
                  {**toxic, "name": toxic_name, "lease_s": lease_s})
            placed.append((api, name, toxic_name))

    def renew(self, fault_id: str, lease_s: float) -> None:
        for api, name, toxic in self.applied.get(fault_id, []):
            _call(api, "POST", f"/proxies/{quote(name)}/toxics/{quote(toxic)}",
                  {"lease_s": lease_s}, missing_ok=True)

    def remove(self, fault_id: str) -> None:
        for api, name, toxic in self.applied.pop(fault_id, []):
            _call(api, "DELETE", f"/proxies/{quote(name)}/toxics/{quote(toxic)}",
                  missing_ok=True)

    def remove_all(self) -> None:
        for fault_id in sorted(self.applied):
            self.remove(fault_id)

    def close(self) -> None:
        with contextlib.suppress(TargetError):
            self.remove_all()
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGTERM)
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=10)
            self._proc = None
        for path in (self._config, self._log):
            if path is not None:
                path.unlink(missing_ok=True)
        self._config = self._log = None


class ExternalTarget:
    """The parts of a :class:`~harness.live.target.Target` every external system shares:
    where it is, faults through its proxies, no state to sample."""

    def __init__(self, scenario: Scenario, spec: HttpTarget | OpenAiTarget, k: float) -> None:
        self.scenario, self.k = scenario, k
        allow = scenario.live.allow_hosts
        check_host(spec.url, allow, "target.url")
        parts = urlsplit(spec.url)
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.prefix = parts.path.rstrip("/")
        self.timeout_s = spec.timeout / k
        self.proxies = ProxyFaults(spec.proxies, allow)

    def failed(self, status: int, transport: str | None) -> Answer | None:
        """The answer to a request that got no response, or None."""
        if status == 0:
            return Answer(error=transport_kind(transport), attempts=1, steps=1)
        return None

    def apply(self, fault_id: str, target: str, fault: dict[str, Any], lease_s: float) -> None:
        self.proxies.apply(fault_id, target, fault, lease_s)

    def renew(self, fault_id: str, lease_s: float) -> None:
        self.proxies.renew(fault_id, lease_s)

    def remove(self, fault_id: str) -> None:
        self.proxies.remove(fault_id)

    def begin(self, t0: float) -> None:
        """Nothing to align: the system keeps its own time."""

    def remove_all(self) -> None:
        self.proxies.remove_all()

    def sample(self) -> tuple[list[tuple[Any, ...]],
                              list[tuple[float | None, str, dict[str, Any]]]]:
        return [], []

    def close(self) -> None:
        self.proxies.close()
