"""``squall reference up FILE``: the reference system in the foreground.

Starts the supervisor (which starts everything else), prints the orchestrator's and the
control API's URLs and the control token, and runs until Ctrl-C or SIGTERM, then stops
every process it started. A start that fails stops what it started and says why.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import sys
import tempfile
from pathlib import Path

from harness.errors import InputError
from harness.scenario.model import Scenario
from sut_adapters.reference.procs import StartError
from sut_adapters.reference.service import serve, setup_logging
from sut_adapters.reference.supervisor import Supervisor, supervisor_app

__all__ = ["up"]


def _check_port(port: int) -> None:
    """Fail before starting anything if the control port is taken."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise InputError(f"cannot listen on port {port}: {exc.strerror}",
                             source="--port") from None


def up(scenario: Scenario, *, port: int = 0, token: str | None = None,
       logs: Path | None = None) -> None:
    """Run the reference system of ``scenario`` until interrupted."""
    token = token or secrets.token_urlsafe(24)
    if port:
        _check_port(port)
    workdir = Path(tempfile.mkdtemp(prefix="squall-reference-")) if logs is None else logs
    setup_logging("supervisor")
    sup = Supervisor(scenario.system, seed=scenario.seed, token=token, workdir=workdir)
    app = supervisor_app(sup)

    def announce(bound: int) -> None:
        assert sup.orchestrator is not None
        processes = 2 + len(sup.endpoints) + len(sup.tools) + sum(
            len(r) for r in sup.replicas.values())
        print(f"squall reference: {scenario.name} is up ({processes} processes)\n"
              f"  workflows  {sup.orchestrator.url}/v1/workflows/NAME  "
              f"({', '.join(scenario.system.workflows)})\n"
              f"  control    http://127.0.0.1:{bound}/_squall/state\n"
              f"  token      {token}\n"
              f"  logs       {workdir}\n"
              "  Ctrl-C stops it", flush=True)

    try:
        serve(app, port=port, announce=announce)
    except StartError as exc:
        raise InputError(str(exc), source="squall reference up") from None
    except OSError as exc:
        raise InputError(f"cannot listen on port {port}: {exc.strerror}",
                         source="--port") from None
    finally:
        if logs is None:
            shutil.rmtree(workdir, ignore_errors=True)
        print("squall reference: stopped", file=sys.stderr, flush=True)
