"""All the proxies of one ``squall proxy`` process, and the leases of their toxics."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from typing import Any

from faults.proxy.core import Proxy, ProxyError, split_address
from harness.hosts import is_loopback

__all__ = ["ProxyServer"]

LEASE_CHECK_S = 0.1


class ProxyServer:
    """All proxies of one ``squall proxy`` process, by name."""

    def __init__(self, *, seed: int | None = None,
                 allow_hosts: frozenset[str] = frozenset()) -> None:
        self.proxies: dict[str, Proxy] = {}
        self.rng = random.Random(seed)
        self.allow_hosts = allow_hosts
        self._lease_task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._lease_task = asyncio.create_task(self._leases())

    async def close(self) -> None:
        if self._lease_task is not None:
            self._lease_task.cancel()
        for proxy in self.proxies.values():
            await proxy.disable()

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ProxyError(f"proxy not found: {name}", 404)
        return proxy

    async def create(self, body: Any) -> Proxy:
        if not isinstance(body, dict):
            raise ProxyError("a proxy is a JSON object with name, listen, upstream")
        unknown = set(body) - {"name", "listen", "upstream", "enabled"}
        if unknown:
            raise ProxyError(f"unknown field(s) {', '.join(sorted(unknown))}")
        name, upstream = body.get("name"), body.get("upstream")
        if not isinstance(name, str) or not name:
            raise ProxyError("missing required field: name")
        if not isinstance(upstream, str) or not upstream:
            raise ProxyError("missing required field: upstream")
        if name in self.proxies:
            raise ProxyError(f"proxy already exists: {name}", 409)
        self._check_upstream(upstream)
        proxy = Proxy(name, str(body.get("listen") or "127.0.0.1:0"), upstream, self.rng)
        if body.get("enabled", True):
            await proxy.enable()
        self.proxies[name] = proxy
        return proxy

    async def update(self, name: str, body: Any) -> Proxy:
        proxy = self.get(name)
        if not isinstance(body, dict):
            raise ProxyError("a proxy update is a JSON object")
        unknown = set(body) - {"name", "listen", "upstream", "enabled"}
        if unknown:
            raise ProxyError(f"unknown field(s) {', '.join(sorted(unknown))}")
        if "upstream" in body:
            self._check_upstream(str(body["upstream"]))
            split_address(body["upstream"], "upstream")
            proxy.upstream = body["upstream"]
        if "listen" in body and body["listen"] != proxy.listen:
            split_address(body["listen"], "listen")
            was = proxy.enabled
            await proxy.disable()
            proxy.listen = body["listen"]
            if was:
                await proxy.enable()
        if "enabled" in body:
            await (proxy.enable() if body["enabled"] else proxy.disable())
        return proxy

    async def delete(self, name: str) -> None:
        await self.get(name).disable()
        del self.proxies[name]

    async def reset(self) -> None:
        """Every proxy enabled, every toxic removed (Toxiproxy's ``POST /reset``)."""
        for proxy in self.proxies.values():
            for toxic in list(proxy.toxics):
                proxy.remove(toxic)
            await proxy.enable()

    def _check_upstream(self, upstream: str) -> None:
        host, _ = split_address(upstream, "upstream")
        if not is_loopback(host) and host not in self.allow_hosts:
            raise ProxyError(f"upstream {host} is outside loopback: start the proxy with "
                             f"--allow-host {host} to forward there")

    async def _leases(self) -> None:
        while True:
            await asyncio.sleep(LEASE_CHECK_S)
            now = time.monotonic()
            for proxy in self.proxies.values():
                for name in proxy.lapse(now):
                    print(f"squall proxy: the lease of toxic {name} on {proxy.name} lapsed: "
                          "removed", file=sys.stderr, flush=True)
