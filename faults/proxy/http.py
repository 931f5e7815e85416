"""The HTTP toxics' decisions for one message: answer it here, corrupt its body, or cut
its event stream after so many events."""

from __future__ import annotations

import json
import random

from faults.proxy.framing import Head
from faults.proxy.toxics import Toxic

__all__ = ["Message", "garbage"]

_REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout"}


class Message:
    """What the HTTP toxics decided for the message in flight on one stream."""

    def __init__(self) -> None:
        self.start(None, [])

    def start(self, head: Head | None, toxics: list[Toxic]) -> None:
        self.answer: bytes | None = None
        self.corrupt = False
        self.cut: int | None = None
        self.events = 0
        self.tail = b""
        for toxic in toxics:
            if toxic.type == "http_status" and self.answer is None:
                self.answer = _status_answer(toxic)
            elif toxic.type == "http_corrupt":
                self.corrupt = True
            elif toxic.type == "sse_cut":
                self.cut = toxic.attr("events")

    def cut_at(self, data: bytes) -> int | None:
        """Where in ``data`` the stream is cut (after the cut-th event), or None yet."""
        assert self.cut is not None
        if self.cut == 0:
            return 0
        seen = self.tail + data
        pos = 0
        while True:
            i = seen.find(b"\n\n", pos)
            if i < 0:
                break
            self.events += 1
            pos = i + 2
            if self.events >= self.cut:
                return max(pos - len(self.tail), 0)
        self.tail = seen[-1:]
        return None


def _status_answer(toxic: Toxic) -> bytes:
    status = toxic.attr("status")
    reason = _REASONS.get(status, "Error")
    body = toxic.attr("body")
    if body is None:
        kind = "rate_limit_exceeded" if status == 429 else "server_error"
        body = json.dumps({"error": {"message": "injected by squall proxy", "type": kind,
                                     "code": status}})
    data = str(body).encode()
    lines = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json",
             f"Content-Length: {len(data)}"]
    retry = toxic.attr("retry_after")
    if retry is not None:
        lines.append(f"Retry-After: {retry:g}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def garbage(n: int, rng: random.Random) -> bytes:
    """``n`` bytes that no JSON, SSE or UTF-8 parser accepts."""
    return bytes(0xFF if i % 7 == 0 else rng.randrange(0x80, 0xC0) for i in range(n))
