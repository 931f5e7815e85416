"""Chaos Toolkit actions: faults on a running reference system, toxics on a proxy.

Each fault is applied under a lease (``lease_s``): the system (or the proxy) removes it
by itself when the lease runs out, so an experiment that dies before its rollbacks still
leaves the system as it found it. The control token comes from the ``token`` argument,
the experiment's ``squall_token`` configuration, or ``$SQUALL_TOKEN``.

These functions take plain JSON types (Chaos Toolkit passes the experiment's arguments
as they are) and return what the API answered.
"""

import json
import os
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote

__all__ = ["add_toxic", "apply_fault", "remove_fault", "remove_toxic"]

TIMEOUT_S = 10.0


class ActionError(Exception):
    """The system or the proxy refused or did not answer (the message says which)."""


def _call(url: str, method: str, body: Any = None, token: str | None = None,
          missing_ok: bool = False) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            raw = resp.read()
            return json.loads(raw) if raw.strip() else {}
    except urllib.error.HTTPError as exc:
        if missing_ok and exc.code == 404:
            return {}
        said = exc.read()[:300].decode(errors="replace")
        raise ActionError(f"{method} {url}: {exc.code} {said}") from None
    except OSError as exc:
        raise ActionError(f"{method} {url}: no answer ({exc})") from None


def _token(token: str | None, configuration: dict[str, Any] | None) -> str | None:
    return token or (configuration or {}).get("squall_token") or os.environ.get("SQUALL_TOKEN")


def apply_fault(control_url: str, fault: dict[str, Any], fault_id: str = "chaos",
                target: str = "", lease_s: float = 300.0, token: str = "",
                configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Apply a scenario fault (``{kind: latency, add: 2s}`` …) on ``target``
    (``endpoint.large``; a partition names its sides in the fault's ``between``) of the
    reference system whose control API is at ``control_url``, for at most ``lease_s``."""
    result: dict[str, Any] = _call(
        f"{control_url.rstrip('/')}/_squall/faults/{quote(fault_id, safe='')}", "PUT",
        {"target": target, "fault": fault, "lease_s": lease_s},
        _token(token, configuration))
    return result


def remove_fault(control_url: str, fault_id: str = "chaos", token: str = "",
                 configuration: dict[str, Any] | None = None) -> dict[str, Any]:
    """Remove a fault ``apply_fault`` applied (nothing happens if it is gone already)."""
    result: dict[str, Any] = _call(
        f"{control_url.rstrip('/')}/_squall/faults/{quote(fault_id, safe='')}", "DELETE",
        token=_token(token, configuration), missing_ok=True)
    return result


def add_toxic(proxy_api: str, proxy: str, toxic: dict[str, Any],
              lease_s: float = 300.0) -> dict[str, Any]:
    """Add a toxic (Toxiproxy's JSON: name, type, stream, toxicity, attributes) to
    ``proxy`` on the proxy API at ``proxy_api``, for at most ``lease_s`` (squall proxy;
    Toxiproxy itself ignores the lease)."""
    result: dict[str, Any] = _call(
        f"{proxy_api.rstrip('/')}/proxies/{quote(proxy, safe='')}/toxics", "POST",
        {**toxic, "lease_s": lease_s})
    return result


def remove_toxic(proxy_api: str, proxy: str, name: str) -> dict[str, Any]:
    """Remove the toxic ``name`` from ``proxy`` (nothing happens if it is gone already)."""
    result: dict[str, Any] = _call(
        f"{proxy_api.rstrip('/')}/proxies/{quote(proxy, safe='')}/toxics/"
        f"{quote(name, safe='')}", "DELETE", missing_ok=True)
    return result
