"""The HTTP framer finds the same messages however the bytes are cut into reads."""

from __future__ import annotations

from collections import deque

from hypothesis import given
from hypothesis import strategies as st

from faults.proxy.framing import Framer

REQUESTS = (b"POST /v1/chat HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n")
RESPONSES = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
             b"HTTP/1.1 204 No Content\r\n\r\n"
             b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n"
             b"b\r\ndata: one\n\n\r\nb\r\ndata: two\n\n\r\n0\r\n\r\n"
             b"HTTP/1.1 500 Oops\r\n\r\nuntil the end")


def messages(data: bytes, cuts: list[int], *, responses: bool) -> list[tuple[str, bytes]]:
    """(kind, bytes) per message part, body and framing bytes joined per message."""
    framer = Framer(responses=responses, methods=deque(["POST", "GET", "POST", "GET"]))
    pieces, last = [], 0
    for cut in sorted(set(cuts)):
        pieces.append(data[last:cut])
        last = cut
    pieces.append(data[last:])
    out: list[tuple[str, bytes]] = []
    for piece in pieces:
        for seg in framer.feed(piece):
            if seg.kind in ("body", "frame") and out and out[-1][0] == seg.kind:
                out[-1] = (seg.kind, out[-1][1] + seg.data)
            elif seg.data or seg.kind == "end":
                out.append((seg.kind, seg.data))
    return out


@given(st.lists(st.integers(0, len(REQUESTS)), max_size=12))
def test_requests_are_framed_the_same_however_the_reads_are_cut(cuts: list[int]) -> None:
    got = messages(REQUESTS, cuts, responses=False)
    whole = messages(REQUESTS, [], responses=False)
    assert got == whole
    assert [k for k, _ in whole].count("end") == 3
    assert b"".join(d for _, d in got) == REQUESTS  # every byte passes on, once


@given(st.lists(st.integers(0, len(RESPONSES)), max_size=12))
def test_responses_are_framed_the_same_however_the_reads_are_cut(cuts: list[int]) -> None:
    got = messages(RESPONSES, cuts, responses=True)
    assert got == messages(RESPONSES, [], responses=True)
    assert b"".join(d for _, d in got) == RESPONSES
    bodies = [d for k, d in got if k == "body"]
    assert bodies == [b"ok", b"data: one\n\n", b"data: two\n\n", b"until the end"]


def test_a_response_to_head_has_no_body_whatever_its_content_length() -> None:
    framer = Framer(responses=True, methods=deque(["HEAD", "GET"]))
    segs = framer.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"
                       b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert [s.kind for s in segs] == ["head", "end", "head", "body", "end"]


def test_a_stream_that_is_not_http_passes_through_raw() -> None:
    framer = Framer(responses=False)
    segs = framer.feed(b"\x16\x03\x01\x02\x00\x01\x00")  # a TLS client hello
    assert [s.kind for s in segs] == ["raw"]
    assert framer.raw
    assert framer.feed(b"more")[0].data == b"more"
