"""One HTTP call from one reference component to another, and how its result maps to
the error kinds both engines use (:class:`harness.outcomes.ErrorKind`).

Calls between the reference system's own services go through :class:`HttpPool`, a
minimal HTTP/1.1 keep-alive client on asyncio streams: these hops carry small JSON bodies
with a Content-Length between services Squall wrote, and a general client's per-call
bookkeeping would be most of the latency a hop adds (measured: about 0.35 ms of about
1 ms per hop with aiohttp's client on these machines).

An answer is read as the caller would read it: a 2xx with a JSON body is a success; a
2xx whose body is not the JSON expected is ``malformed``; a 429 is ``rate_limited``
(its ``Retry-After`` kept); a 503 says ``overloaded`` or ``unavailable``; other 5xx and
4xx are ``error``; no answer by the limit is ``timeout``; a refused connection is
``unavailable``; a connection dropped mid-call (the callee died) is ``crash``.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from faults.specs import CutMode
from harness.calls.aio import sleep_on
from harness.outcomes import ErrorKind

__all__ = ["ANSWER_GRACE_S", "NO_LIMIT_S", "Answer", "HttpPool", "call_json", "cut_call",
           "hop"]

_KINDS = {k.value for k in ErrorKind}
NO_LIMIT_S = 365 * 86400.0  #: a limit this far off (or infinite) needs no timer
#: A reference service answers by the limit it is given (``X-Squall-Limit``), with what
#: the caller's trace needs (its spans, how long it queued); the caller waits this much
#: longer (wall seconds) for that answer, so it is not lost to the hop's transit time.
ANSWER_GRACE_S = 0.25


@dataclass
class Answer:
    error: str | None  #: None, or an ErrorKind value
    body: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None
    status: int = 0
    #: (tokens in, tokens out, cost) of a failed call that was billed all the same
    billed: tuple[int, int, float] | None = None
    served_s: float | None = None  #: the callee's own time on the call (its Server-Timing)


def hop(sent: float, answered: float, served: float | None) -> float | None:
    """The hop's transit overhead of a call sent at ``sent`` and answered at
    ``answered`` (``time.monotonic()``) by a callee that spent ``served`` on it."""
    return None if served is None else round(max(answered - sent - served, 0.0), 6)


def _served(headers: dict[str, str]) -> float | None:
    """``app;dur=12.5`` (milliseconds, as the W3C Server-Timing header gives them)."""
    for metric in (headers.get("server-timing") or "").split(","):
        name, _, params = metric.strip().partition(";")
        if name.strip() != "app":
            continue
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur":
                try:
                    ms = float(value)
                except ValueError:
                    return None
                return ms / 1000 if math.isfinite(ms) and ms >= 0 else None
    return None


def _billed(headers: dict[str, str]) -> tuple[int, int, float] | None:
    raw = headers.get("x-squall-usage")
    try:
        tin, tout, cost = (raw or "").split(",")
        return int(tin), int(tout), float(cost)
    except ValueError:
        return None


def _retry_after(headers: dict[str, str]) -> float | None:
    raw = headers.get("retry-after")
    try:
        return max(float(raw), 0.0) if raw is not None else None
    except ValueError:
        return None


class _RefusedError(Exception):
    """The connection could not be made."""


class _DroppedError(Exception):
    """The connection broke before the whole answer came."""


class HttpPool:
    """Keep-alive HTTP/1.1 connections to loopback services, reused per host:port."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[tuple[asyncio.StreamReader,
                                                     asyncio.StreamWriter]]] = {}

    async def close(self) -> None:
        for conns in self._idle.values():
            for _, writer in conns:
                writer.close()
        self._idle.clear()

    async def post(self, url: str, payload: bytes,
                   headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """(status, headers with lower-case names, body)."""
        parts = urlsplit(url)
        key = (parts.hostname or "127.0.0.1", parts.port or 80)
        path = parts.path or "/"
        idle = self._idle.setdefault(key, [])
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        request = (f"POST {path} HTTP/1.1\r\nHost: {key[0]}:{key[1]}\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                   f"{head}\r\n").encode() + payload
        reused = bool(idle)
        if reused:
            reader, writer = idle.pop()
        else:
            try:
                reader, writer = await asyncio.open_connection(*key)
            except OSError as exc:
                raise _RefusedError from exc
        done = False
        try:
            writer.write(request)
            status, answer_headers, body = await _read_response(reader)
            done = True
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            writer.close()
            if reused and isinstance(exc, asyncio.IncompleteReadError) and not exc.partial:
                return await self.post(url, payload, headers)  # it had gone idle-closed
            raise _DroppedError from exc
        finally:
            if not done and not writer.is_closing():
                writer.close()  # cancelled (timed out) mid-call: never reuse it
        if answer_headers.get("connection", "").lower() == "close":
            writer.close()
        else:
            idle.append((reader, writer))
        return status, answer_headers, body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    line = await reader.readuntil(b"\r\n")
    status = int(line.split(b" ", 2)[1])
    headers: dict[str, str] = {}
    while True:
        line = await reader.readuntil(b"\r\n")
        if line == b"\r\n":
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        return status, headers, await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                return status, headers, b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    raise ValueError("an answer without a length")


async def call_json(pool: HttpPool, url: str, body: dict[str, Any], *,
                    limit: float, priority: int = 1, grace: float = 0.0) -> Answer:
    """POST ``body`` to ``url``; give up at ``limit`` (``time.monotonic()`` seconds).

    ``grace``: for a callee that is given the same limit and answers by it with its
    trace (an agent replica), wait that much longer for the answer so the trace is not
    lost to the hop's transit time; an answer after the limit is still a ``timeout``,
    with its body kept (the spans and the cost of the work done before the limit)."""
    left = limit - time.monotonic()
    if left <= 0:
        return Answer(ErrorKind.TIMEOUT.value)
    wait = left + grace
    try:
        async with asyncio.timeout(wait if wait < NO_LIMIT_S else None):
            sent = {"X-Squall-Priority": str(priority)}
            if limit < NO_LIMIT_S + time.monotonic():
                sent["X-Squall-Limit"] = repr(limit)
            status, headers, raw = await pool.post(url, json.dumps(body).encode(), sent)
    except TimeoutError:
        return Answer(ErrorKind.TIMEOUT.value)
    except _RefusedError:
        return Answer(ErrorKind.UNAVAILABLE.value)
    except _DroppedError:
        return Answer(ErrorKind.CRASH.value)
    retry_after = _retry_after(headers)
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    late = grace > 0 and time.monotonic() > limit
    # a failure billed all the same (malformed, or abandoned work) says so in a header
    billed, served = _billed(headers), _served(headers)
    if not isinstance(data, dict):
        bad = ErrorKind.MALFORMED if 200 <= status < 300 else ErrorKind.ERROR
        return Answer(ErrorKind.TIMEOUT.value if late else bad.value, status=status,
                      billed=billed, served_s=served)
    if late:  # the caller's budget ran out while the answer was on its way
        return Answer(ErrorKind.TIMEOUT.value, data, None, status, billed=billed,
                      served_s=served)
    if 200 <= status < 300:
        return Answer(None, data, status=status, served_s=served)
    said = data.get("error", {}).get("type") if isinstance(data.get("error"), dict) else None
    if status == 429:
        kind = ErrorKind.RATE_LIMITED.value
    elif said in _KINDS:
        kind = said
    else:
        kind = ErrorKind.ERROR.value
    return Answer(kind, data, retry_after, status, billed=billed, served_s=served)


async def cut_call(mode: CutMode, limit: float) -> str:
    """A call across a partition: refused at once, or hanging until its limit."""
    if mode is CutMode.FAIL_FAST:
        return ErrorKind.PARTITION.value
    await sleep_on(time.monotonic, limit - time.monotonic())
    return ErrorKind.TIMEOUT.value
