"""One HTTP call from one reference component to another, and how its result maps to
the error kinds both engines use (:class:`harness.outcomes.ErrorKind`).

An answer is read as the caller would read it: a 2xx with a JSON body is a success; a
2xx whose body is not the JSON expected is ``malformed``; a 429 is ``rate_limited``
(its ``Retry-After`` kept); a 503 says ``overloaded`` or ``unavailable``; other 5xx and
4xx are ``error``; no answer by the limit is ``timeout``; a refused connection is
``unavailable``; a connection dropped mid-call (the callee died) is ``crash``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from harness.outcomes import ErrorKind

__all__ = ["Answer", "call_json"]

_KINDS = {k.value for k in ErrorKind}
NO_LIMIT_S = 365 * 86400.0  #: a limit this far off (or infinite) needs no timer


@dataclass
class Answer:
    error: str | None  #: None, or an ErrorKind value
    body: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None
    status: int = 0


def _retry_after(headers: Any) -> float | None:
    raw = headers.get("Retry-After")
    try:
        return max(float(raw), 0.0) if raw is not None else None
    except ValueError:
        return None


async def call_json(session: aiohttp.ClientSession, url: str, body: dict[str, Any], *,
                    limit: float, priority: int = 1) -> Answer:
    """POST ``body`` to ``url``; give up at ``limit`` (``time.monotonic()`` seconds)."""
    left = limit - time.monotonic()
    if left <= 0:
        return Answer(ErrorKind.TIMEOUT.value)
    try:
        async with asyncio.timeout(left if left < NO_LIMIT_S else None):
            async with session.post(url, json=body,
                                    headers={"X-Squall-Priority": str(priority)}) as r:
                raw = await r.read()
                status = r.status
                retry_after = _retry_after(r.headers)
    except TimeoutError:
        return Answer(ErrorKind.TIMEOUT.value)
    except aiohttp.ClientConnectorError:
        return Answer(ErrorKind.UNAVAILABLE.value)
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError,
            aiohttp.ClientOSError):
        return Answer(ErrorKind.CRASH.value)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict):
        bad = ErrorKind.MALFORMED if 200 <= status < 300 else ErrorKind.ERROR
        return Answer(bad.value, status=status)
    if 200 <= status < 300:
        return Answer(None, data, status=status)
    said = data.get("error", {}).get("type") if isinstance(data.get("error"), dict) else None
    if status == 429:
        kind = ErrorKind.RATE_LIMITED.value
    elif said in _KINDS:
        kind = said
    else:
        kind = ErrorKind.ERROR.value
    return Answer(kind, data, retry_after, status)
