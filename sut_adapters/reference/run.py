"""A reference service's process: ``python -m sut_adapters.reference --config FILE``.

The config file (JSON, written by whoever starts the service, readable by its owner
only) holds the control token, so it never shows in the process table:
``{"kind": "llm", "name", "spec", "seed", "token", "port", "output_tokens"}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.scenario.system import Agent, Endpoint, Tool
from sut_adapters.reference.procs import name_process

__all__ = ["main"]


def _config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"squall reference: cannot read the config {path}: {exc}") from None
    if not isinstance(data, dict) or not {"kind", "name", "spec", "token"} <= data.keys():
        raise SystemExit(f"squall reference: {path} is not a service config")
    return data


def main(argv: list[str] | None = None,
         announce: Callable[[int], None] | None = None) -> None:
    """Serve the service a config file describes; ``announce(port)`` once it listens
    (by default the ``READY <port>`` line on stdout)."""
    parser = argparse.ArgumentParser(prog="sut_adapters.reference.run")
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    config = _config(args.config)
    from sut_adapters.reference.service import serve, setup_logging

    kind, name = config["kind"], config["name"]
    name_process(f"{kind} {name}" + (f"/{config.get('replica', 0)}" if kind == "agent" else ""))
    setup_logging(f"{kind}.{name}")
    if kind == "llm":
        from sut_adapters.reference.llm import llm_app

        app, _ = llm_app(name, Endpoint.model_validate(config["spec"]),
                         int(config.get("seed", 0)), config["token"],
                         output_tokens=int(config.get("output_tokens", 64)))
    elif kind == "tool":
        from sut_adapters.reference.tool import tool_app

        app, _ = tool_app(name, Tool.model_validate(config["spec"]),
                          int(config.get("seed", 0)), config["token"])
    elif kind == "agent":
        from sut_adapters.reference.agent import agent_app

        app, _ = agent_app(name, int(config.get("replica", 0)),
                           Agent.model_validate(config["spec"]), seed=int(config.get("seed", 0)),
                           token=config["token"], endpoints=config.get("endpoints", {}),
                           tools=config.get("tools", {}))
    elif kind == "orchestrator":
        from harness.scenario.system import System
        from sut_adapters.reference.orchestrator import orchestrator_app

        replicas = {agent: {int(i): url for i, url in listing.items()}
                    for agent, listing in config.get("replicas", {}).items()}
        app, _ = orchestrator_app(System.model_validate(config["spec"]),
                                  seed=int(config.get("seed", 0)), token=config["token"],
                                  replicas=replicas)
    elif kind == "supervisor":  # the whole system: it starts (and stops) the others
        from harness.scenario.system import System
        from sut_adapters.reference.supervisor import Supervisor, supervisor_app

        sup = Supervisor(System.model_validate(config["spec"]), seed=int(config.get("seed", 0)),
                         token=config["token"], workdir=args.config.parent,
                         await_clock=bool(config.get("await_clock", False)))
        app = supervisor_app(sup)
    else:
        raise SystemExit(f"squall reference: no service kind {kind!r}")
    serve(app, host=config.get("host", "127.0.0.1"), port=int(config.get("port", 0)),
          announce=announce)


if __name__ == "__main__":
    main(sys.argv[1:])
