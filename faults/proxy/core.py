"""The fault proxy's data path: listeners, connections, and the toxics acting on them.

Each proxy listens on its own address and forwards every connection to its upstream,
one pump per direction. A pump reads what arrives, lets the HTTP framer say where
messages are (for the HTTP toxics), passes the bytes through the TCP toxics active on
its stream, and writes them on. Toxics are read at every chunk, so adding or removing
one acts on open connections too. A toxic added with a lease (``lease_s``, Squall's
extension of Toxiproxy's API) is removed by the proxy itself when nobody renews it
(:mod:`faults.proxy.server`): a driver that dies leaves the dependency healthy again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import time
from collections import deque
from typing import Any

from faults.proxy.framing import Framer, Head, Segment
from faults.proxy.http import Message, garbage
from faults.proxy.toxics import Stream, Toxic, ToxicError

__all__ = ["Proxy", "ProxyError", "split_address"]

READ_SIZE = 64 * 1024
UPSTREAM_CHECK_S = 0.1  #: how often a proxy whose upstream refused looks again


class ProxyError(ValueError):
    """A proxy request that cannot be done; ``status`` is the HTTP answer (400, 404, 409)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def split_address(text: str, what: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:port`` for IPv6) → (host, port)."""
    host, colon, port = str(text).rpartition(":")
    host = host.strip("[]")
    if not colon or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ProxyError(f"{what} {text!r} is not HOST:PORT")
    return host, int(port)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (connection reset by peer), not a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Conn:
    """One client connection and its upstream connection."""

    def __init__(self, proxy: Proxy, client: asyncio.StreamWriter,
                 upstream: asyncio.StreamWriter) -> None:
        self.proxy, self.client, self.upstream = proxy, client, upstream
        self.rolls: dict[int, bool] = {}  #: toxic → acts on this connection (TCP toxics)
        self.sent = {Stream.UPSTREAM: 0, Stream.DOWNSTREAM: 0}
        self.methods: deque[str] = deque()
        self.opened = time.monotonic()
        self.closed = False
        self.tasks: list[asyncio.Task[None]] = []

    def acts(self, toxic: Toxic) -> bool:
        key = id(toxic)
        if key not in self.rolls:
            self.rolls[key] = self.proxy.rng.random() < toxic.toxicity
        return self.rolls[key]

    def close(self, *, reset: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        for writer in (self.client, self.upstream):
            if reset:
                _reset(writer)
            else:
                writer.close()
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()


class Proxy:
    """One named proxy: ``listen`` → ``upstream``, with its toxics."""

    def __init__(self, name: str, listen: str, upstream: str, rng: random.Random) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        split_address(listen, "listen")
        split_address(upstream, "upstream")
        self.enabled = False
        self.toxics: dict[str, Toxic] = {}
        self.rng = rng
        self.gone: dict[int, asyncio.Event] = {}  #: toxic → set when it is removed
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()
        self._watch: asyncio.Task[None] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "listen": self.listen, "upstream": self.upstream,
                "enabled": self.enabled, "toxics": [t.to_json() for t in self.toxics.values()]}

    # --- lifecycle ---------------------------------------------------------------------

    async def enable(self) -> None:
        if self.enabled:
            return
        host, port = split_address(self.listen, "listen")
        try:
            self._server = await asyncio.start_server(self._accept, host, port,
                                                      reuse_address=True, limit=READ_SIZE)
        except OSError as exc:
            raise ProxyError(f"proxy {self.name}: cannot listen on {self.listen}: "
                             f"{exc.strerror or exc}", 409) from None
        bound = self._server.sockets[0].getsockname()
        self.listen = f"{host}:{bound[1]}" if ":" not in host else f"[{host}]:{bound[1]}"
        self.enabled = True

    async def _refuse_until_up(self, host: str, port: int) -> None:
        """The upstream refused: stop listening (new connections are refused by the
        kernel, as the upstream's are) and listen again once it accepts."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        try:
            while self.enabled:
                try:
                    _, probe = await asyncio.open_connection(host, port)
                except OSError:
                    await asyncio.sleep(UPSTREAM_CHECK_S)
                    continue
                probe.close()
                break
            if self.enabled:
                self.enabled = False
                await self.enable()
        finally:
            self._watch = None

    async def disable(self) -> None:
        """Stop listening and drop every connection (Toxiproxy's ``enabled: false``)."""
        self.enabled = False
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._server is not None:
            self._server.close()
            self._server = None
        for conn in list(self._conns):
            conn.close(reset=True)
        self._conns.clear()

    # --- toxics ------------------------------------------------------------------------

    def add(self, toxic: Toxic) -> None:
        if toxic.name in self.toxics:
            raise ProxyError(f"toxic {toxic.name} already exists on proxy {self.name}", 409)
        if toxic.lease_s is not None:
            toxic.expires = time.monotonic() + toxic.lease_s
        self.toxics[toxic.name] = toxic
        self.gone[id(toxic)] = asyncio.Event()

    def toxic(self, name: str) -> Toxic:
        toxic = self.toxics.get(name)
        if toxic is None:
            raise ProxyError(f"toxic not found: {name} on proxy {self.name}", 404)
        return toxic

    def update(self, name: str, body: dict[str, Any]) -> Toxic:
        toxic = self.toxic(name)
        try:
            toxic.update(body)
        except ToxicError as exc:
            raise ProxyError(str(exc)) from None
        if "lease_s" in body:
            toxic.expires = None if toxic.lease_s is None else \
                time.monotonic() + toxic.lease_s
        return toxic

    def remove(self, name: str) -> None:
        toxic = self.toxic(name)
        del self.toxics[name]
        event = self.gone.pop(id(toxic), None)
        if event is not None:
            event.set()

    def lapse(self, now: float) -> list[str]:
        """Remove the toxics whose lease ran out; their names."""
        lapsed = [t.name for t in self.toxics.values()
                  if t.expires is not None and t.expires <= now]
        for name in lapsed:
            self.remove(name)
        return lapsed

    def _active(self, stream: Stream, conn: _Conn, *, http: bool) -> list[Toxic]:
        return [t for t in self.toxics.values()
                if t.stream is stream and t.http is http and (http or conn.acts(t))]

    # --- connections -------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        host, port = split_address(self.upstream, "upstream")
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port, limit=READ_SIZE)
        except OSError as exc:
            _reset(writer)  # this one was accepted already: the closest is a reset
            if isinstance(exc, ConnectionRefusedError) and self._watch is None:
                # the next ones are refused, as the upstream refuses them, until it is back
                self._watch = asyncio.create_task(self._refuse_until_up(host, port))
            return
        conn = _Conn(self, writer, up_writer)
        self._conns.add(conn)
        for sock_writer in (writer, up_writer):
            sock = sock_writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.tasks = [asyncio.current_task()]  # type: ignore[list-item]
        down = asyncio.create_task(self._pump(conn, up_reader, writer, Stream.DOWNSTREAM))
        conn.tasks.append(down)
        try:
            await asyncio.gather(self._pump(conn, reader, up_writer, Stream.UPSTREAM), down)
        except (asyncio.CancelledError, ConnectionError):
            pass
        finally:
            conn.close()
            self._conns.discard(conn)

    async def _pump(self, conn: _Conn, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                    stream: Stream) -> None:
        framer = Framer(responses=stream is Stream.DOWNSTREAM, methods=conn.methods)
        msg = Message()
        reset = [t for t in self._active(stream, conn, http=False) if t.type == "reset_peer"]
        if reset:
            await self._reset_peer(conn, reset[0])
            return
        while not conn.closed:
            try:
                data = await src.read(READ_SIZE)
            except (ConnectionError, OSError):
                conn.close(reset=True)
                return
            if not data:
                await self._closing(conn, dst, stream)
                return
            arrived = time.monotonic()
            out = data if framer.raw else self._http(conn, framer.feed(data), msg, stream)
            if out is None:  # an HTTP toxic cut the connection
                conn.close(reset=True)
                return
            if out and not await self._through(conn, out, dst, stream, arrived):
                return

    # --- HTTP toxics -------------------------------------------------------------------

    def _http(self, conn: _Conn, segments: list[Segment], msg: Message,
              stream: Stream) -> bytes | None:
        """What of ``segments`` goes on (HTTP toxics applied); None: reset the connection."""
        out = bytearray()
        for seg in segments:
            if seg.kind == "head":
                assert seg.head is not None
                msg.start(seg.head, self._http_toxics(stream, conn, seg.head))
                if msg.answer is None:
                    if stream is Stream.UPSTREAM:
                        conn.methods.append(seg.head.method)
                    out += seg.data
            elif seg.kind == "end":
                if msg.answer is not None:
                    conn.client.write(msg.answer)
                msg.start(None, [])
            elif msg.answer is not None:  # the request is answered here, not forwarded
                continue
            elif seg.kind == "body" and msg.cut is not None:
                cut = msg.cut_at(seg.data)
                if cut is not None:
                    out += seg.data[:cut]
                    conn.client.write(bytes(out))
                    return None
                out += seg.data
            elif seg.kind == "body" and msg.corrupt:
                out += garbage(len(seg.data), self.rng)
            else:
                out += seg.data
        return bytes(out)

    def _http_toxics(self, stream: Stream, conn: _Conn, head: Head) -> list[Toxic]:
        return [t for t in self._active(stream, conn, http=True)
                if self.rng.random() < t.toxicity
                and (t.type != "sse_cut" or head.event_stream)]

    # --- TCP toxics --------------------------------------------------------------------

    async def _through(self, conn: _Conn, data: bytes, dst: asyncio.StreamWriter,
                       stream: Stream, arrived: float) -> bool:
        """Pass ``data`` through the stream's TCP toxics and write it; False: closed."""
        chunks = [data]
        active = self._active(stream, conn, http=False)
        for toxic in active:
            kind = toxic.type
            if kind == "latency":
                jitter = toxic.attr("jitter")
                delay = toxic.attr("latency") + (self.rng.uniform(-jitter, jitter)
                                                 if jitter else 0)
                wait = arrived + max(delay, 0) / 1000 - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            elif kind == "bandwidth":
                await asyncio.sleep(len(data) / (toxic.attr("rate") * 1000))
            elif kind == "timeout":
                if not await self._hold(conn, toxic):
                    return False
            elif kind == "reset_peer":
                await self._reset_peer(conn, toxic)
                return False
            elif kind == "limit_data":
                room = toxic.attr("bytes") - conn.sent[stream]
                if room <= len(data):
                    dst.write(data[:max(room, 0)])
                    conn.sent[stream] += max(room, 0)
                    with contextlib.suppress(ConnectionError):
                        await dst.drain()
                    conn.close()
                    return False
            elif kind == "slicer":
                chunks = self._slices(b"".join(chunks), toxic)
        gap = next((t.attr("delay") for t in active if t.type == "slicer"), 0) / 1e6
        for i, chunk in enumerate(chunks):
            if i and gap:
                await asyncio.sleep(gap)
            dst.write(chunk)
            conn.sent[stream] += len(chunk)
            try:
                await dst.drain()
            except (ConnectionError, OSError):
                conn.close(reset=True)
                return False
        return True

    def _slices(self, data: bytes, toxic: Toxic) -> list[bytes]:
        size, variation = toxic.attr("average_size"), toxic.attr("size_variation")
        out, i = [], 0
        while i < len(data):
            n = max(1, size + (self.rng.randint(-variation, variation) if variation else 0))
            out.append(data[i:i + n])
            i += n
        return out

    async def _hold(self, conn: _Conn, toxic: Toxic) -> bool:
        """A ``timeout`` toxic: no data passes; the connection closes after its timeout
        (0: never). Removed before then: the held data goes on. False: closed."""
        gone = self.gone.get(id(toxic))
        if gone is None:
            return True
        timeout = toxic.attr("timeout") / 1000 or None
        try:
            await asyncio.wait_for(gone.wait(), timeout)
        except TimeoutError:
            conn.close()
            return False
        return True

    async def _reset_peer(self, conn: _Conn, toxic: Toxic) -> None:
        wait = conn.opened + toxic.attr("timeout") / 1000 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        conn.close(reset=True)

    async def _closing(self, conn: _Conn, dst: asyncio.StreamWriter, stream: Stream) -> None:
        """The source closed: close the other side (after any ``slow_close`` delay)."""
        delay = max((t.attr("delay") for t in self._active(stream, conn, http=False)
                     if t.type == "slow_close"), default=0)
        if delay:
            await asyncio.sleep(delay / 1000)
        if dst.can_write_eof():
            with contextlib.suppress(OSError, RuntimeError):
                dst.write_eof()
        if stream is Stream.DOWNSTREAM or dst.is_closing():
            conn.close()
