"""Where HTTP/1.x messages begin and end in a stream of bytes (sans-IO, as h11 is).

The fault proxy forwards bytes, but its HTTP toxics act on messages: it feeds each
direction of a connection to a :class:`Framer`, which cuts what arrives into segments —
a message's head, its body payload, framing bytes (chunk sizes, trailers) to pass on as
they are, its end — without buffering more than a head. A stream that is not HTTP (a
database's protocol, TLS) turns into ``raw`` segments for the rest of the connection.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from enum import Enum, auto
from typing import NamedTuple

__all__ = ["Framer", "Head", "Segment"]

MAX_HEAD = 64 * 1024
_REQUEST = re.compile(rb"^[A-Z]{3,10} \S+ HTTP/1\.[01]$")
_RESPONSE = re.compile(rb"^HTTP/1\.[01] (\d{3})(?: .*)?$")
_METHOD_START = re.compile(rb"^[A-Z]{1,10}( |$)")


@dataclass
class Head:
    method: str = ""  #: requests
    status: int = 0  #: responses
    headers: dict[str, str] = field(default_factory=dict)  #: lower-case names

    @property
    def event_stream(self) -> bool:
        return self.headers.get("content-type", "").startswith("text/event-stream")


class Segment(NamedTuple):
    kind: str  #: head | body (payload) | frame (framing bytes) | end | raw
    data: bytes
    head: Head | None


class _State(Enum):
    HEAD = auto()
    LENGTH = auto()
    UNTIL_CLOSE = auto()
    CHUNK_SIZE = auto()
    CHUNK_DATA = auto()
    CHUNK_CRLF = auto()
    TRAILER = auto()
    RAW = auto()


class Framer:
    """One direction of one connection: requests (``responses=False``) or responses,
    which need the methods of the requests they answer (``methods``, oldest first)."""

    def __init__(self, *, responses: bool, methods: deque[str] | None = None) -> None:
        self.responses = responses
        self.methods = methods if methods is not None else deque()
        self.state = _State.HEAD
        self.buf = b""
        self.left = 0
        self.head: Head | None = None

    @property
    def raw(self) -> bool:
        return self.state is _State.RAW

    def feed(self, data: bytes) -> list[Segment]:
        self.buf += data
        out: list[Segment] = []
        while self.buf:
            if not self._step(out):
                break
        return out

    def _step(self, out: list[Segment]) -> bool:
        """Consume what the state can from the buffer; False when it needs more bytes."""
        buf, state = self.buf, self.state
        if state is _State.RAW:
            out.append(Segment("raw", buf, None))
            self.buf = b""
            return False
        if state is _State.HEAD:
            return self._head(out)
        if state in (_State.LENGTH, _State.CHUNK_DATA, _State.UNTIL_CLOSE):
            take = len(buf) if state is _State.UNTIL_CLOSE else min(self.left, len(buf))
            out.append(Segment("body", buf[:take], self.head))
            self.buf = buf[take:]
            self.left -= take
            if state is _State.LENGTH and self.left == 0:
                self._end(out)
            elif state is _State.CHUNK_DATA and self.left == 0:
                self.state = _State.CHUNK_CRLF
            return True
        if state is _State.CHUNK_CRLF:
            if len(buf) < 2:
                return False
            out.append(Segment("frame", buf[:2], self.head))
            self.buf, self.state = buf[2:], _State.CHUNK_SIZE
            return True
        if state is _State.CHUNK_SIZE:
            i = buf.find(b"\r\n")
            if i < 0:
                if len(buf) > 1024:
                    self._to_raw()
                return len(buf) > 1024
            try:
                size = int(buf[:i].split(b";")[0].strip(), 16)
            except ValueError:
                self._to_raw()
                return True
            out.append(Segment("frame", buf[:i + 2], self.head))
            self.buf = buf[i + 2:]
            if size == 0:
                self.state = _State.TRAILER
            else:
                self.left, self.state = size, _State.CHUNK_DATA
            return True
        # TRAILER: an empty line, or trailer fields and an empty line
        if buf.startswith(b"\r\n"):
            end = 2
        else:
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                return False
            end = i + 4
        out.append(Segment("frame", buf[:end], self.head))
        self.buf = buf[end:]
        self._end(out)
        return True

    def _head(self, out: list[Segment]) -> bool:
        buf = self.buf
        i = buf.find(b"\r\n\r\n")
        if i < 0:
            first = buf.split(b"\r\n", 1)[0]
            if len(buf) > MAX_HEAD or not self._plausible(first):
                self._to_raw()
                return True
            return False
        head = self._parse(buf[:i])
        if head is None:
            self._to_raw()
            return True
        out.append(Segment("head", buf[:i + 4], head))
        self.buf, self.head = buf[i + 4:], head
        chunked = "chunked" in head.headers.get("transfer-encoding", "").lower()
        length = head.headers.get("content-length")
        if self.responses:
            if 100 <= head.status < 200:  # an interim response: the real one follows
                out.append(Segment("end", b"", head))
                return True
            method = self.methods.popleft() if self.methods else "GET"
            if method == "HEAD" or head.status in (204, 304):
                self._end(out)
                return True
        if chunked:
            self.state = _State.CHUNK_SIZE
        elif length is not None and length.strip().isdigit():
            self.left = int(length)
            self.state = _State.LENGTH
            if self.left == 0:
                self._end(out)
        elif self.responses:
            self.state = _State.UNTIL_CLOSE
        else:
            self._end(out)
        return True

    def _plausible(self, first: bytes) -> bool:
        if self.responses:
            return b"HTTP/1."[:len(first)] == first[:7]
        return bool(_METHOD_START.match(first[:11])) or not first

    def _parse(self, raw: bytes) -> Head | None:
        lines = raw.split(b"\r\n")
        head = Head()
        if self.responses:
            m = _RESPONSE.match(lines[0])
            if m is None:
                return None
            head.status = int(m.group(1))
        else:
            if not _REQUEST.match(lines[0]):
                return None
            head.method = lines[0].split(b" ", 1)[0].decode()
        for line in lines[1:]:
            name, colon, value = line.partition(b":")
            if not colon:
                return None
            head.headers[name.strip().decode("latin-1").lower()] = \
                value.strip().decode("latin-1")
        return head

    def _end(self, out: list[Segment]) -> None:
        out.append(Segment("end", b"", self.head))
        self.state, self.head = _State.HEAD, None

    def _to_raw(self) -> None:
        self.state = _State.RAW
