"""``squall proxy`` against httpbin (a third-party app), driven through an existing
Toxiproxy client library from PyPI (``toxiproxy-python``) and raw sockets."""

from __future__ import annotations

import json
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from tests.servers import HTTPBIN, Started, started

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def httpbin() -> Iterator[Started]:
    with started(HTTPBIN) as server:
        yield server


@pytest.fixture(scope="module")
def proxy_server() -> Iterator[Started]:
    with started([sys.executable, "-m", "harness.cli.main", "proxy", "--api", "127.0.0.1:0",
                  "--seed", "7"]) as server:
        yield server


@pytest.fixture
def toxiproxy(proxy_server: Started) -> Iterator[Toxiproxy]:
    client = Toxiproxy()
    client.update_api_consumer("127.0.0.1", proxy_server.port)
    yield client
    client.destroy_all()


@pytest.fixture
def hb(toxiproxy: Toxiproxy, httpbin: Started) -> Any:
    return toxiproxy.create(upstream=f"127.0.0.1:{httpbin.port}", name="hb")


def post(listen: str, path: str = "/post", body: bytes = b'{"a": 1}',
         timeout: float = 10.0) -> tuple[int | str, dict[str, str], bytes]:
    req = urllib.request.Request(f"http://{listen}{path}", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        return type(reason).__name__, {}, b""


def timed(fn: Any) -> tuple[Any, float]:
    start = time.monotonic()
    out = fn()
    return out, time.monotonic() - start


def api(proxy_server: Started, method: str, path: str, body: Any = None,
        raw: bytes | None = None) -> tuple[int, Any]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(proxy_server.url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# --- Toxiproxy's API, through its client ---------------------------------------------------

def test_an_existing_toxiproxy_client_manages_proxies_and_toxics(
        toxiproxy: Toxiproxy, httpbin: Started) -> None:
    assert toxiproxy.running()
    assert toxiproxy.version() == b"2.12.0"
    proxy = toxiproxy.create(upstream=f"127.0.0.1:{httpbin.port}", name="hb")
    host, port = proxy.listen.rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) > 0  # 127.0.0.1:0 became a real port
    assert set(toxiproxy.proxies()) == {"hb"}
    status, _, body = post(proxy.listen)
    assert status == 200
    assert json.loads(body)["json"] == {"a": 1}

    proxy.add_toxic(type="latency", attributes={"latency": 300, "jitter": 0})
    assert set(proxy.toxics()) == {"latency_downstream"}
    (status, _, _), took = timed(lambda: post(proxy.listen))
    assert status == 200
    assert took >= 0.3
    proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {}

    with proxy.down():  # disabled: nothing listens
        assert post(proxy.listen)[0] == "ConnectionRefusedError"
    assert post(proxy.listen)[0] == 200

    proxy.add_toxic(type="timeout", attributes={"timeout": 100})
    assert toxiproxy.reset()
    assert proxy.toxics() == {}
    assert post(proxy.listen)[0] == 200
    assert toxiproxy.destroy(proxy)
    assert toxiproxy.proxies() == {}


def test_the_client_sees_toxiproxys_errors(toxiproxy: Toxiproxy, hb: Any,
                                           httpbin: Started) -> None:
    with pytest.raises(ProxyExists):
        toxiproxy.create(upstream=f"127.0.0.1:{httpbin.port}", name="other",
                         listen=hb.listen)  # the port is taken: 409 as in Toxiproxy
    with pytest.raises(InvalidToxic, match=r"attributes\.latency"):
        hb.add_toxic(type="latency", attributes={"latency": -5})
    with pytest.raises(InvalidToxic, match="unknown toxic type"):
        hb.add_toxic(type="lag")
    with pytest.raises(NotFound):
        hb.destroy_toxic("nothing")


def test_bad_api_calls_answer_400_with_the_reason(proxy_server: Started, hb: Any) -> None:
    code, body = api(proxy_server, "POST", "/proxies/hb/toxics", raw=b"{not json")
    assert (code, body["status"]) == (400, 400)
    assert "not JSON" in body["error"]
    code, body = api(proxy_server, "POST", "/proxies/hb/toxics",
                     {"type": "latency", "attributes": {"latency": 1, "speed": 2}})
    assert code == 400
    assert "speed" in body["error"]
    code, body = api(proxy_server, "POST", "/proxies/hb/toxics",
                     {"type": "http_status", "stream": "downstream"})
    assert code == 400
    assert "upstream stream only" in body["error"]
    code, body = api(proxy_server, "POST", "/proxies/hb/toxics",
                     {"type": "latency", "toxicity": 1.5})
    assert code == 400
    assert "toxicity" in body["error"]
    code, body = api(proxy_server, "POST", "/proxies", {"name": "x", "upstream": "nowhere"})
    assert code == 400
    assert "HOST:PORT" in body["error"]
    code, body = api(proxy_server, "POST", "/proxies",
                     {"name": "x", "upstream": "198.51.100.7:443"})
    assert code == 400
    assert "outside loopback" in body["error"]
    code, _ = api(proxy_server, "GET", "/proxies/nothing")
    assert code == 404


# --- TCP toxics --------------------------------------------------------------------------

def raw_exchange(listen: str, timeout: float = 5.0) -> tuple[bytes, str | None]:
    """One GET over a raw socket: the bytes received, and how the connection ended."""
    host, port = listen.rsplit(":", 1)
    got = b""
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.sendall(b"GET /bytes/2000?seed=1 HTTP/1.1\r\nHost: x\r\n"
                         b"Connection: close\r\n\r\n")
            while chunk := sock.recv(65536):
                got += chunk
    except (ConnectionResetError, BrokenPipeError):
        return got, "reset"
    except TimeoutError:
        return got, "timeout"
    return got, None


def undated(raw: bytes) -> bytes:
    """``raw`` with its Date header's value blanked out, the length kept."""
    return re.sub(rb"(?<=Date: )[^\r\n]*", lambda m: b"-" * len(m.group(0)), raw)


def test_reset_peer_resets_and_limit_data_cuts_after_so_many_bytes(hb: Any) -> None:
    hb.add_toxic(type="reset_peer", attributes={"timeout": 0})
    assert raw_exchange(hb.listen) == (b"", "reset")
    hb.destroy_toxic("reset_peer_downstream")
    whole, how = raw_exchange(hb.listen)
    assert how is None
    assert len(whole) > 2000
    hb.add_toxic(type="limit_data", attributes={"bytes": 100})
    cut, how = raw_exchange(hb.listen)
    assert len(cut) == 100
    assert undated(cut) == undated(whole)[:100]  # (the Date header may tick between them)
    assert how is None


def test_timeout_holds_the_data_then_closes(hb: Any) -> None:
    hb.add_toxic(type="timeout", attributes={"timeout": 400})
    (got, how), took = timed(lambda: raw_exchange(hb.listen))
    assert (got, how) == (b"", None)
    assert took >= 0.4


def test_slicer_and_bandwidth_deliver_every_byte(hb: Any) -> None:
    whole, _ = raw_exchange(hb.listen)
    hb.add_toxic(type="slicer", attributes={"average_size": 64, "size_variation": 16,
                                            "delay": 100})
    sliced, how = raw_exchange(hb.listen)
    hb.destroy_toxic("slicer_downstream")
    hb.add_toxic(type="bandwidth", attributes={"rate": 4})  # 4 KB/s: ~0.5 s for 2 KB
    (slow, _), took = timed(lambda: raw_exchange(hb.listen))
    body = whole.split(b"\r\n\r\n", 1)[1]
    assert sliced.split(b"\r\n\r\n", 1)[1] == body
    assert how is None
    assert slow.split(b"\r\n\r\n", 1)[1] == body
    assert took >= 0.4


def test_toxicity_decides_per_connection(hb: Any) -> None:
    hb.add_toxic(type="reset_peer", toxicity=0.5, attributes={"timeout": 0})
    ends = [raw_exchange(hb.listen)[1] for _ in range(40)]
    assert 5 <= ends.count("reset") <= 35
    assert ends.count(None) == 40 - ends.count("reset")


def test_an_upstream_that_is_down_is_refused_as_it_refuses_until_it_is_back(
        toxiproxy: Toxiproxy) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    proxy = toxiproxy.create(upstream=f"127.0.0.1:{dead}", name="dead")
    assert raw_exchange(proxy.listen) == (b"", "reset")  # the first finds out, accepted
    deadline = time.monotonic() + 5
    while post(proxy.listen)[0] != "ConnectionRefusedError":
        assert time.monotonic() < deadline, "the proxy still accepts"
        time.sleep(0.05)
    with socket.socket() as server:  # the upstream comes back
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", dead))
        server.listen()
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(tuple(proxy.listen.rsplit(":", 1)), timeout=2
                                         ).close()
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "the proxy did not listen again"
                time.sleep(0.05)


# --- HTTP toxics -------------------------------------------------------------------------

def test_http_status_answers_for_the_upstream_with_retry_after(hb: Any) -> None:
    hb.add_toxic(type="http_status", stream="upstream",
                 attributes={"status": 429, "retry_after": 2})
    status, headers, body = post(hb.listen)
    assert status == 429
    assert headers["Retry-After"] == "2"
    assert json.loads(body)["error"]["type"] == "rate_limit_exceeded"


def test_http_toxicity_decides_per_request_on_one_connection(hb: Any) -> None:
    import http.client

    hb.add_toxic(type="http_status", stream="upstream", toxicity=0.5,
                 attributes={"status": 503})
    host, port = hb.listen.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    statuses = []
    for _ in range(40):  # one keep-alive connection: injected and real answers interleave
        conn.request("POST", "/post", body=b'{"x": 1}',
                     headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        body = resp.read()
        statuses.append(resp.status)
        if resp.status == 200:
            assert json.loads(body)["json"] == {"x": 1}
    conn.close()
    assert 5 <= statuses.count(503) <= 35
    assert statuses.count(200) == 40 - statuses.count(503)


def test_http_corrupt_keeps_the_framing_but_not_the_json(hb: Any) -> None:
    _, _, good = post(hb.listen)
    hb.add_toxic(type="http_corrupt", attributes={})
    status, _, bad = post(hb.listen)
    assert status == 200
    assert len(bad) == len(good)
    with pytest.raises(UnicodeDecodeError):
        json.loads(bad)


def test_a_toxic_whose_lease_lapses_is_removed_by_the_proxy(proxy_server: Started,
                                                           hb: Any) -> None:
    code, toxic = api(proxy_server, "POST", "/proxies/hb/toxics",
                      {"name": "slow", "type": "latency", "attributes": {"latency": 50},
                       "lease_s": 0.5})
    assert code == 200
    assert toxic["lease_s"] == 0.5
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # renewed: it stays past its first lease
        assert api(proxy_server, "POST", "/proxies/hb/toxics/slow", {"lease_s": 0.5})[0] == 200
        time.sleep(0.1)
    assert [t["name"] for t in api(proxy_server, "GET", "/proxies/hb/toxics")[1]] == ["slow"]
    deadline = time.monotonic() + 10
    while api(proxy_server, "GET", "/proxies/hb/toxics")[1] and time.monotonic() < deadline:
        time.sleep(0.1)  # not renewed: gone
    assert api(proxy_server, "GET", "/proxies/hb/toxics")[1] == []


@pytest.mark.parametrize(("config", "message"), [
    ("[{name: a, upstream: 127.0.0.1:1, listen: nowhere}]", "listen 'nowhere' is not HOST:PORT"),
    ("proxies: 3", "give a list of proxies"),
    ("[{name: a", "not YAML or JSON"),
    ("[{name: a, upstream: 192.0.2.1:80}]", "outside loopback"),
])
def test_squall_proxy_refuses_a_bad_config_with_exit_2(tmp_path: Any, config: str,
                                                       message: str) -> None:
    import subprocess

    path = tmp_path / "proxies.yaml"
    path.write_text(config)
    done = subprocess.run([sys.executable, "-m", "harness.cli.main", "proxy", "--api",
                           "127.0.0.1:0", "--config", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
