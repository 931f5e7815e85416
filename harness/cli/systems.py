"""The commands that serve or drive systems: ``worker``, ``reference up``, ``proxy``,
``mock-llm`` and ``chaos export``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.cli.live import fault_problems, host_port
from harness.cli.loading import load_scenario_args
from harness.errors import InputError

__all__ = ["cmd_chaos", "cmd_mock_llm", "cmd_proxy", "cmd_reference", "cmd_worker"]


def cmd_worker(args: argparse.Namespace) -> int:
    """A load worker for a live run's master (on this machine or another): the driver
    process itself, so gevent patches it before anything else is imported."""
    host_port(args.master)
    os.execv(sys.executable, [sys.executable, "-m", "harness.live.driver", "--worker",
                              "--master", args.master])


def cmd_reference(args: argparse.Namespace) -> int:
    with _needs_extra("the reference system", "squall reference"):
        from sut_adapters.reference.up import up
    if not 0 <= args.port <= 65535:
        raise InputError(f"no port {args.port}", source="--port")
    up(load_scenario_args(args), port=args.port, token=args.token, logs=args.logs)
    return 0


@contextmanager
def _needs_extra(what: str, source: str) -> Iterator[None]:
    """An import inside: a missing package is bad input naming the extra to install."""
    try:
        yield
    except ImportError as exc:
        raise InputError(f"{what} needs the reference extra: pip install "
                         f"'squall[reference]' ({exc.name} is missing)", source=source) \
            from None


def cmd_proxy(args: argparse.Namespace) -> int:
    with _needs_extra("the proxy", "squall proxy"):
        from faults.proxy.run import load_config, run
    proxies = [] if args.config is None else load_config(args.config)
    run(args.api, proxies, allow_hosts=frozenset(args.allow_hosts), seed=args.seed)
    return 0


def cmd_mock_llm(args: argparse.Namespace) -> int:
    with _needs_extra("the mock LLM", "squall mock-llm"):
        from sut_adapters.mockllm import endpoint_spec, run_mock_llm
    flags = {"ttft": args.ttft, "per_token": args.per_token, "latency": args.latency,
             "concurrency": args.concurrency, "queue_limit": args.queue_limit,
             "error_rate": args.error_rate}
    given = {k: v for k, v in flags.items() if v is not None}
    if args.rpm is not None or args.tpm is not None:
        given["rate_limit"] = {k: v for k, v in (("rpm", args.rpm), ("tpm", args.tpm))
                               if v is not None}
    if args.file is not None:
        if args.endpoint is None:
            raise InputError("name the scenario's endpoint to serve", source="--endpoint")
        endpoints = load_scenario_args(args).system.endpoints
        if args.endpoint not in endpoints:
            raise InputError(f"no endpoint {args.endpoint!r}; the scenario has: "
                             f"{', '.join(sorted(endpoints))}", source="--endpoint")
        raw = {**endpoints[args.endpoint].model_dump(mode="json", by_alias=True,
                                                     exclude_defaults=True), **given}
        name, source = args.endpoint, f"{args.file} endpoints.{args.endpoint}"
    else:
        if args.endpoint is not None:
            raise InputError("takes a scenario FILE to read the endpoint from",
                             source="--endpoint")
        if args.latency is None:
            given.setdefault("ttft", "300ms")
            given.setdefault("per_token", "20ms")
        raw, name, source = given, args.name, "squall mock-llm"
    if args.output_tokens < 1:
        raise InputError("must be 1 or more", source="--output-tokens")
    if not 0 <= args.port <= 65535:
        raise InputError(f"no port {args.port}", source="--port")
    run_mock_llm(name, endpoint_spec(raw, source), port=args.port, token=args.token,
                 seed=args.seed, output_tokens=args.output_tokens)
    return 0


def cmd_chaos(args: argparse.Namespace) -> int:
    from faults.chaostoolkit.experiment import experiment_for
    from harness.scenario.timescale import time_scaled

    scenario = load_scenario_args(args)
    if scenario.target.adapter == "reference" and not args.control and any(
            f.kind_name() != "command" for f in scenario.fault_list):
        raise InputError("the experiment's actions apply faults through a running "
                         "reference system's control API: give its URL (squall reference "
                         "up prints it)", source="--control")
    problems = fault_problems(scenario, str(args.file))
    if problems:
        raise InputError(problems)
    run_dir = args.run or Path("runs") / f"{scenario.name}-chaos"
    control = args.control.rstrip("/").removesuffix("/_squall/state")
    try:
        experiment = experiment_for(scenario, args.file, control_url=control,
                                    scale=lambda spec: time_scaled(spec, args.time_scale),
                                    run_dir=run_dir, time_scale=args.time_scale,
                                    warmup_s=args.warmup)
    except ValueError as exc:
        raise InputError(str(exc), source=str(args.file)) from None
    out = args.output or Path(f"{scenario.name}.experiment.json")
    out.write_text(json.dumps(experiment, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out}: {len(experiment['method'])} actions, "
          f"{len(experiment['rollbacks'])} rollbacks; run it with: SQUALL_TOKEN=... "
          f"chaos --no-version-check run {out}")
    return 0
