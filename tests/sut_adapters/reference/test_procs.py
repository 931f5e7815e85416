"""Starting services: a new interpreter, or forked from the fork server (what the
supervisor uses, so a replica's start costs milliseconds, not the imports)."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from sut_adapters.reference.procs import (
    Forked,
    Service,
    StartError,
    start_service,
    stop_service,
)
from tests.sut_adapters.reference.conftest import Http

TOOL = {"latency": "5ms"}


@pytest.mark.parametrize("fork", [False, True])
def test_a_started_service_serves_in_its_own_process_group(
        services: Callable[..., Service], fork: bool) -> None:
    svc = services("tool", "db", TOOL, fork=fork)
    assert isinstance(svc.proc, Forked) == fork
    assert os.getpgid(svc.proc.pid) == svc.proc.pid  # its own group: a stop takes it all
    assert os.getsid(svc.proc.pid) == svc.proc.pid
    status, _, _ = Http(svc.url).call("GET", "/_squall/health")
    assert status == 200
    assert svc.alive()
    assert stop_service(svc) == 0  # SIGTERM: it stops cleanly
    assert not svc.alive()
    assert b'"serving"' in svc.log.read_bytes()  # its log went to its file


@pytest.mark.parametrize("fork", [False, True])
def test_a_service_is_named_for_ps_and_top(services: Callable[..., Service],
                                           fork: bool) -> None:
    tool = services("tool", "db", TOOL, fork=fork)
    agent = services("agent", "triage", {"replicas": 2, "service_time": "5ms"}, fork=fork,
                     replica=1)
    assert Path(f"/proc/{tool.proc.pid}/comm").read_text() == "tool db\n"
    assert Path(f"/proc/{agent.proc.pid}/comm").read_text() == "agent triage/1\n"


def test_a_forked_service_killed_shows_the_signal_as_its_exit(
        services: Callable[..., Service]) -> None:
    svc = services("tool", "db", TOOL, fork=True)
    os.kill(svc.proc.pid, signal.SIGKILL)
    assert svc.proc.wait(timeout=10) == -signal.SIGKILL
    assert svc.proc.poll() == -signal.SIGKILL
    assert not svc.alive()


def test_a_forked_service_stops_when_the_fork_server_is_gone(
        services: Callable[..., Service], tmp_path: Path) -> None:
    # not through the fixture: an orphan's exit is reaped by init (here, never: it stays
    # a zombie in its process group), so "stopped" is all that can be asked of it
    svc = start_service("tool", "db", TOOL, token="t", workdir=tmp_path, fork=True)
    try:
        server = _parent(svc.proc.pid)
        assert server != os.getpid()  # the fork server's child, not this process's
        os.kill(server, signal.SIGKILL)
        assert svc.proc.wait(timeout=10) is not None  # it noticed, and stopped: no orphan
        assert not svc.alive()
    finally:
        stop_service(svc)
    again = services("tool", "db", TOOL, fork=True)  # a new fork server takes over
    assert _parent(again.proc.pid) != server


def _parent(pid: int) -> int:
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


@pytest.mark.parametrize("fork", [False, True])
def test_a_service_that_cannot_start_says_why_either_way(
        services: Callable[..., Service], fork: bool) -> None:
    with pytest.raises(StartError, match=r"did not start: it exited with code 1; its log "
                                         r"ends: .*no service kind 'nope'"):
        services("nope", "x", {}, fork=fork)
    first = services("tool", "db", TOOL, fork=fork)
    with pytest.raises(StartError, match="did not start"):
        services("tool", "clash", TOOL, fork=fork, port=first.port)  # port in use
