"""``squall proxy``: the fault proxy in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

import yaml

from faults.proxy.core import ProxyError, split_address
from faults.proxy.server import ProxyServer
from harness.errors import InputError

__all__ = ["load_config", "run"]


def load_config(path: Path) -> list[dict[str, Any]]:
    """The proxies of a ``--config`` file: a YAML or JSON list of ``{name, listen,
    upstream}`` (Toxiproxy's ``-config`` format), or ``{proxies: [...]}``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise InputError(f"not YAML or JSON: {exc}", source=str(path)) from None
    if isinstance(data, dict) and "proxies" in data:
        data = data["proxies"]
    if not isinstance(data, list) or not all(isinstance(p, dict) for p in data):
        raise InputError("give a list of proxies, each {name, listen, upstream}",
                         source=str(path))
    return data


def run(api: str, proxies: list[dict[str, Any]], *, allow_hosts: frozenset[str] = frozenset(),
        seed: int | None = None) -> None:
    """Serve the API on ``api`` (HOST:PORT) with ``proxies`` until interrupted."""
    from faults.proxy.api import serve

    try:
        host, port = split_address(api, "--api")
    except ProxyError as exc:
        raise InputError(str(exc), source="--api") from None
    server = ProxyServer(seed=seed, allow_hosts=allow_hosts)

    def ready(url: str) -> None:
        lines = [f"squall proxy: API on {url} (Toxiproxy-compatible)"]
        lines += [f"  {p.name:<12} {p.listen} → {p.upstream}" for p in server.proxies.values()]
        print("\n".join([*lines, "  Ctrl-C stops it"]), flush=True)

    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    try:
        asyncio.run(serve(server, host, port, proxies, ready))
    except ProxyError as exc:
        raise InputError(str(exc), source="squall proxy") from None
    except OSError as exc:
        raise InputError(f"cannot listen on {api}: {exc.strerror or exc}",
                         source="--api") from None
    finally:
        print("squall proxy: stopped", file=sys.stderr, flush=True)
