"""The live side of ``squall run`` and ``squall validate``: options, targets, and what
each engine cannot do, said before anything starts."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from harness.cli.show import plural
from harness.errors import InputError, Problem

if TYPE_CHECKING:
    from harness.scenario.model import Scenario

__all__ = ["check_modes", "engine_options", "fault_problems", "host_port", "live_options",
           "preflight"]


def live_options(args: argparse.Namespace, scenario: Scenario) -> Scenario:
    """--target, --time-scale and --allow-host go into the scenario's ``live`` section
    (so run.json's scenario says how the run was driven); they need --mode live."""
    given = {"--target": args.target, "--time-scale": args.time_scale,
             "--allow-host": args.allow_hosts or None, "--web": args.web, "--token": args.token,
             "--load-workers": args.load_workers, "--remote-workers": args.remote_workers or None,
             "--master": args.master_bind,
             "--allow-commands": args.allow_commands or None}
    if args.mode != "live":
        for flag, value in given.items():
            if value is not None:
                raise InputError("is an option of --mode live", source=flag)
        return scenario
    if args.replications > 1:
        raise InputError("a live run is one run: replications are for --mode sim",
                         source="--replications")
    if args.attribute:
        raise InputError("counterfactual attribution re-runs the scenario: --mode sim only",
                         source="--attribute")
    update: dict[str, Any] = {}
    if args.target is not None and scenario.target.adapter != "reference":
        scenario = _target_url(scenario, args.target)
    elif args.target is not None:
        update["target"] = args.target
    if args.time_scale is not None:
        update["time_scale"] = args.time_scale
    if args.allow_hosts:
        update["allow_hosts"] = [*scenario.live.allow_hosts, *args.allow_hosts]
    if args.load_workers is not None:
        update["load_workers"] = args.load_workers
    if not update:
        return scenario
    from pydantic import ValidationError

    from harness.scenario.live import Live

    try:
        live = Live.model_validate({**scenario.live.model_dump(by_alias=True), **update})
    except ValidationError as exc:
        err = exc.errors()[0]
        flag = {"target": "--target", "time_scale": "--time-scale",
                "load_workers": "--load-workers"}.get(str(err["loc"][0]), "--mode live")
        raise InputError(err["msg"], source=flag) from None
    return scenario.model_copy(update={"live": live})


def preflight(args: argparse.Namespace, scenario: Scenario) -> None:
    """What would stop the engine at its start, said before a run directory exists."""
    if args.mode == "sim":
        try:
            scenario.simulated_faults()
        except ValueError as exc:
            raise InputError(str(exc), source="faults") from None
        return
    problems = fault_problems(scenario, str(args.file))
    if problems:
        raise InputError(problems)
    commands = [f.id for f in scenario.fault_list if f.kind_name() == "command"]
    if commands and not args.allow_commands:
        raise InputError(f"fault{'s' if len(commands) > 1 else ''} "
                         f"{', '.join(map(repr, commands))} run commands on this machine: "
                         "pass --allow-commands to let them", source="--mode live")


def _target_url(scenario: Scenario, url: str) -> Scenario:
    """``--target URL`` for an http or openai target: its ``url``."""
    from harness.scenario.target import http_url

    try:
        url = http_url(url)
    except ValueError as exc:
        raise InputError(str(exc), source="--target") from None
    # a copy keeps the payload samples already read (and checked) with the scenario
    return scenario.model_copy(update={"target": scenario.target.model_copy(
        update={"url": url})})


def engine_options(args: argparse.Namespace) -> dict[str, Any] | None:
    if args.mode != "live":
        return None
    if args.remote_workers < 0:
        raise InputError("must be 0 or more", source="--remote-workers")
    host, port = "127.0.0.1", 5557 if args.remote_workers else 0
    if args.master_bind is not None:
        host, port = host_port(args.master_bind)
    return {"token": args.token or os.environ.get("SQUALL_TOKEN"), "web_port": args.web,
            "allow_commands": args.allow_commands,
            "remote_workers": args.remote_workers, "master_host": host, "master_port": port}


def host_port(text: str) -> tuple[str, int]:
    """``--master HOST:PORT``, checked (port 0: any free one)."""
    host, _, raw = text.rpartition(":")
    if not host or not raw.isdigit() or not 0 <= int(raw) < 65536:
        raise InputError(f"{text!r} is not HOST:PORT", source="--master")
    return host, int(raw)


def fault_problems(scenario: Scenario, source: str) -> list[Problem]:
    from harness.live.target import fault_problems

    return [Problem(p.message, p.path, source) for p in fault_problems(scenario)]


def check_modes(scenario: Scenario, source: str) -> None:
    """What each mode cannot do with this scenario: faults its live target cannot apply,
    and faults the simulator cannot model (said, not refused: a live-only scenario is
    fine)."""
    problems = fault_problems(scenario, source)
    if problems:
        raise InputError(problems)
    if scenario.target.adapter != "reference":
        print(f"live: the {scenario.target.adapter} target at {scenario.target.url} "
              f"applies {plural(len(scenario.faults), 'fault')} through its proxies")
    try:
        scenario.simulated_faults()
    except ValueError as exc:
        print(f"sim: cannot run this scenario: {exc}")
    commands = [f.id for f in scenario.fault_list if f.kind_name() == "command"]
    if commands:
        print(f"live: {plural(len(commands), 'command fault')} "
              f"({', '.join(map(str, commands))}) need --allow-commands")
