"""Frames between the driver process and the engine: ``kind`` (1 byte), length (4
bytes, big-endian), then a pickled payload. Both ends are Squall's own processes on one
machine; nothing else writes to the pipe.

- ``R`` ready: ``{"pid": …}``
- ``B`` a batch of results: ``[(id, sent, end, status, body, error), …]`` — ``sent`` and
  ``end`` on ``time.monotonic()``; ``status`` the HTTP status, 0 when there was none
  (``error`` names the transport failure), −1 when the arrival was never sent or never
  answered (``error`` says why)
- ``E`` the end: the driver's own figures (CPU seconds, peak in flight, …)
"""

from __future__ import annotations

import pickle
import struct
from typing import Any

__all__ = ["HEADER", "MAX_FRAME", "FrameReader", "frame"]

HEADER = struct.Struct(">cI")
MAX_FRAME = 256 << 20  #: a frame larger than this is a broken pipe, not data


def frame(kind: bytes, payload: Any) -> bytes:
    data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(kind, len(data)) + data


class FrameReader:
    """Feed bytes as they arrive; take whole frames out."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, Any]]:
        self._buffer += data
        out = []
        while len(self._buffer) >= HEADER.size:
            kind, size = HEADER.unpack_from(self._buffer)
            if size > MAX_FRAME:
                raise ValueError(f"a frame of {size} bytes from the driver: the pipe is broken")
            end = HEADER.size + size
            if len(self._buffer) < end:
                break
            out.append((kind, pickle.loads(self._buffer[HEADER.size:end])))
            del self._buffer[:end]
        return out

    @property
    def pending(self) -> int:
        return len(self._buffer)
