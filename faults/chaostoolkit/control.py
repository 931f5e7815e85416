"""A Chaos Toolkit control that runs Squall's live load for an experiment.

Before the experiment it starts ``squall run FILE --mode live`` (a subprocess: Locust
cannot be imported inside ``chaos run``) with the scenario's own faults left out — the
experiment applies faults — and waits until ``warmup_s`` seconds (scenario time) of
answers are recorded, so the first steady-state check has traffic to judge. After the
experiment it stops the run (Ctrl-C, as a user would) and waits for its records.

.. code-block:: json

    {"name": "squall-load", "provider": {"type": "python",
     "module": "faults.chaostoolkit.control",
     "arguments": {"scenario": "scenarios/x.yaml", "out": "runs/x-chaos",
                   "target": "http://127.0.0.1:8700", "time_scale": 4, "warmup_s": 20}}}

The control token of a running reference system (``target``) is read from
``$SQUALL_TOKEN`` by ``squall run``.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.records.reader import read_so_far

__all__ = ["after_experiment_control", "before_experiment_control"]

START_S = 120.0  #: how long the load may take to start (the driver, a reference system)
STOP_S = 60.0
_RUNS: dict[str, subprocess.Popen[bytes]] = {}


class LoadError(Exception):
    """The load did not start (the message has the end of its output)."""


def _tail(log: Path) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
    except OSError:
        return "no output"


def before_experiment_control(context: Any, scenario: str, out: str, target: str = "",
                              time_scale: float = 1.0, warmup_s: float = 10.0,
                              **_kwargs: Any) -> None:
    """Start the load and wait until ``warmup_s`` of answers are in ``out``."""
    run = Path(out)
    run.parent.mkdir(parents=True, exist_ok=True)
    log = run.parent / f"{run.name}.load.log"
    cmd = [sys.executable, "-m", "harness.cli.main", "run", scenario, "--mode", "live",
           "--out", str(run), "--overwrite", "--set", "faults=[]", "--no-report", "-q"]
    if target:
        cmd += ["--target", target]
    if time_scale != 1:
        cmd += ["--time-scale", repr(float(time_scale))]
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _RUNS[str(run)] = proc
    deadline = time.monotonic() + START_S + warmup_s / time_scale
    while True:
        if proc.poll() is not None:
            raise LoadError(f"squall run stopped (exit {proc.returncode}): {_tail(log)}")
        req = read_so_far(run, columns=["end_s"]) if run.exists() else None
        if req is not None and req["end_s"].max() >= warmup_s:
            return
        if time.monotonic() > deadline:
            _stop(proc)
            raise LoadError(f"no {warmup_s:g} s of answers within {START_S:g} s: "
                            f"{_tail(log)}")
        time.sleep(0.2)


def after_experiment_control(context: Any, state: Any = None, out: str = "",
                             **_kwargs: Any) -> None:
    """Stop the load (its records so far stay in ``out``)."""
    proc = _RUNS.pop(str(Path(out)), None)
    if proc is not None:
        _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
