"""The ``squall`` command line: its parser and argument types.

Usage errors exit 2 (``EXIT_INVALID``), like every other kind of bad input.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

__all__ = ["EXIT_INVALID", "parser"]

EXIT_INVALID = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_INVALID, f"squall: error: {message}\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("squall")
    except metadata.PackageNotFoundError:
        return "unknown"


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _duration(text: str) -> float:
    from harness.units import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def _add_cluster(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cluster", metavar="tcp://HOST:PORT",
                   help="run replications or sweep points on a Dask cluster's workers "
                        "(default: $SQUALL_CLUSTER, else local processes)")


def _add_gates(p: argparse.ArgumentParser) -> None:
    p.add_argument("--gate", dest="gates", action="append", default=[], metavar="GATE",
                   help="an extra gate, e.g. 'latency.p95 < 8s' (repeatable)")
    p.add_argument("--junit", type=Path, metavar="FILE", help="write JUnit XML, a case per gate")
    p.add_argument("--md", type=Path, metavar="FILE", help="write a Markdown summary")


def _add_set(p: argparse.ArgumentParser) -> None:
    """The options of every command that reads a scenario."""
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE",
                   help="override a scenario field, e.g. system.agents.orders.replicas=4 "
                        "(repeatable)")
    p.add_argument("--allow-path", dest="allow_paths", action="append", default=[],
                   type=Path, metavar="DIR",
                   help="let the scenario read trace files under DIR too (by default only "
                        "under the scenario's own directory; repeatable)")
    p.add_argument("--limit", dest="limits", action="append", default=[], metavar="NAME=N",
                   help="raise a work limit, e.g. arrivals=5e7 (limits: arrivals, replicas, "
                        "samples, ticks, faults, points; repeatable)")


def _run_parser(r: argparse.ArgumentParser) -> None:
    r.add_argument("file", type=Path, help="the scenario file (YAML or JSON)")
    r.add_argument("--mode", choices=["sim", "live"], default="sim",
                   help="sim: the discrete-event simulator (default); live: real HTTP load")
    r.add_argument("--out", type=Path, help="run directory (default runs/NAME-TIMESTAMP)")
    r.add_argument("--overwrite", action="store_true",
                   help="replace a previous run already in --out")
    r.add_argument("--attribute", action="store_true",
                   help="for faults whose impacts overlap, re-run without each (same seed "
                        "and arrivals) to attribute the damage; sim mode, single runs")
    r.add_argument("--seed", type=int, help="override the scenario's seed")
    r.add_argument("--replications", type=_positive_int, default=1, metavar="R",
                   help="run R seeds in parallel; report each figure with a 95%% interval")
    r.add_argument("--workers", type=_positive_int, help="processes (default: one per core)")
    _add_cluster(r)
    r.add_argument("--warmup", type=_duration, default=0.0, metavar="DURATION",
                   help="leave requests that arrived before this out of the score")
    _add_gates(r)
    r.add_argument("--no-report", action="store_true", help="skip report.html")
    r.add_argument("-q", "--quiet", action="store_true", help="print only the verdict line")
    live = r.add_argument_group("live mode")
    live.add_argument("--target", metavar="URL",
                      help="where the target is: its url for an http or openai target; "
                           "for the reference system, a running one's control URL (what "
                           "`squall reference up` prints; default: start one from the "
                           "scenario's system and stop it after)")
    live.add_argument("--token", help="the target's control token (default $SQUALL_TOKEN, "
                                      "which the process list does not show)")
    live.add_argument("--time-scale", type=_positive_float, metavar="K",
                      help="play the scenario K times faster (every time divided by K, "
                           "every rate times K); records stay in scenario time")
    live.add_argument("--allow-host", dest="allow_hosts", action="append", default=[],
                      metavar="HOST", help="let --target be this host outside loopback "
                                           "(repeatable)")
    live.add_argument("--load-workers", type=int, metavar="N",
                      help="send the load from a Locust master and N local load-worker "
                           "processes, each every N-th arrival (not --workers, which runs "
                           "replications)")
    live.add_argument("--remote-workers", type=int, default=0, metavar="M",
                      help="also wait for M workers started elsewhere with "
                           "`squall worker --master HOST:PORT`")
    live.add_argument("--master", dest="master_bind", metavar="HOST:PORT",
                      help="where the master listens for load workers (default "
                           "127.0.0.1:5557 with --remote-workers, else a free port)")
    live.add_argument("--allow-commands", action="store_true",
                      help="let the scenario's command faults run their commands on this "
                           "machine")
    live.add_argument("--web", type=int, nargs="?", const=8089, metavar="PORT",
                      help="serve Locust's web UI on 127.0.0.1:PORT during the run "
                           "(default port 8089)")
    _add_set(r)


def _mock_llm_parser(sub: Any) -> None:
    m = sub.add_parser("mock-llm", help="an OpenAI-compatible mock LLM endpoint with a "
                                        "latency model, limits and fault controls")
    m.add_argument("file", type=Path, nargs="?",
                   help="take the endpoint from this scenario (with --endpoint)")
    m.add_argument("--endpoint", metavar="NAME", help="the scenario's endpoint to serve")
    m.add_argument("--name", default="mock", help="the endpoint's name without a scenario "
                                                  "(its fault target is endpoint.NAME)")
    m.add_argument("--ttft", metavar="DURATION", help="time to first token (default 300ms)")
    m.add_argument("--per-token", metavar="DURATION", help="time per further token "
                                                           "(default 20ms)")
    m.add_argument("--latency", metavar="DURATION",
                   help="a whole-call latency instead of ttft and per-token")
    m.add_argument("--concurrency", type=int, metavar="N", help="calls served at once")
    m.add_argument("--queue-limit", type=int, metavar="N", help="waiting calls beyond "
                                                                "this get 503")
    m.add_argument("--rpm", type=float, help="requests per minute before 429s")
    m.add_argument("--tpm", type=float, help="tokens per minute before 429s")
    m.add_argument("--error-rate", type=float, metavar="P", help="share of calls that "
                                                                 "fail with a 500")
    m.add_argument("--output-tokens", type=int, default=64, metavar="N",
                   help="tokens per answer when a request gives no max_tokens")
    m.add_argument("--port", type=int, default=0, help="default: any free one")
    m.add_argument("--token", help="the control API's bearer token (default: a new one)")
    m.add_argument("--seed", type=int, default=0)
    _add_set(m)


def _reference_parser(sub: Any) -> None:
    ref = sub.add_parser("reference", help="the bundled reference agent system")
    rsub = ref.add_subparsers(dest="reference_command", required=True, parser_class=_Parser)
    ref_up = rsub.add_parser("up", help="run the scenario's system as real processes on "
                                        "loopback until Ctrl-C")
    ref_up.add_argument("file", type=Path, help="the scenario file (YAML or JSON)")
    ref_up.add_argument("--port", type=int, default=0,
                        help="the control API's port (default: any free one)")
    ref_up.add_argument("--token", help="the control API's bearer token (default: a new "
                                        "random one, printed)")
    ref_up.add_argument("--logs", type=Path, help="keep the services' JSON logs here")
    _add_set(ref_up)

    _proxy_parser(sub)
    _mock_llm_parser(sub)
    _chaos_parser(sub)
    _fidelity_parser(sub)
    _calibrate_parser(sub)


def _calibrate_parser(sub: Any) -> None:
    c = sub.add_parser("calibrate", help="fit the system model's distributions to a run's "
                                         "spans or to OpenTelemetry traces (OTLP JSON)")
    c.add_argument("source", type=Path, metavar="RUN_DIR|TRACES.json",
                   help="a run directory (a live run's, usually) or an OTLP JSON export")
    c.add_argument("-o", "--output", type=Path, metavar="FILE",
                   help="the calibrated scenario (default NAME.calibrated.yaml)")
    c.add_argument("--overwrite", action="store_true", help="replace an existing output")
    c.add_argument("--scenario", type=Path, metavar="FILE",
                   help="the scenario to calibrate (default: the run's own; for OTLP "
                        "traces, one built from them)")
    c.add_argument("--mapping", type=Path, metavar="FILE",
                   help="OTLP only: rules naming spans as agents, endpoints and tools")
    c.add_argument("--min-samples", type=_positive_int, default=30, metavar="N",
                   help="fit a distribution from at least N observations (default 30)")
    c.add_argument("--include-faults", action="store_true",
                   help="fit from spans during faults too (default: left out)")
    c.add_argument("--json", type=Path, metavar="FILE", help="write the fits as JSON")
    _add_set(c)


def _fidelity_parser(sub: Any) -> None:
    f = sub.add_parser("fidelity", help="run a scenario in both engines on the same "
                                        "arrivals and compare each figure within a tolerance")
    f.add_argument("file", type=Path, help="the scenario file (YAML or JSON)")
    f.add_argument("--out", type=Path, help="where both runs and the comparison go "
                                            "(default runs/NAME-fidelity-TIMESTAMP)")
    f.add_argument("--overwrite", action="store_true", help="replace a previous comparison")
    f.add_argument("--seed", type=int, help="override the scenario's seed")
    f.add_argument("--time-scale", type=_positive_float, metavar="K",
                   help="play the live run K times faster")
    f.add_argument("--token", help="the target's control token (default $SQUALL_TOKEN)")
    f.add_argument("--tolerance", dest="tolerances", action="append", default=[],
                   metavar="NAME=VALUE",
                   help="e.g. latency.p95=15%%, attainment=0.03, recovery=20%%,5s, "
                        "errors=0.01, replicas=10%%,0.5, cost.total_usd=5%% (repeatable)")
    f.add_argument("--twin", type=Path, metavar="FILE",
                   help="simulate this scenario's system model instead (a calibrated one, "
                        "from squall calibrate): demand, faults and gates stay FILE's")
    f.add_argument("--replications", type=_positive_int, default=1, metavar="R",
                   help="also simulate the twin on the same arrivals under R−1 other seeds: "
                        "each figure gets the twin's own range, and whether the live figure "
                        "falls inside it")
    f.add_argument("--rejudge", action="store_true",
                   help="judge the comparison already in --out again from its records "
                        "(other tolerances, a newer squall): nothing runs")
    f.add_argument("--no-report", action="store_true", help="skip fidelity.html")
    _add_set(f)


def _chaos_parser(sub: Any) -> None:
    c = sub.add_parser("chaos", help="Chaos Toolkit: export a scenario as an experiment")
    csub = c.add_subparsers(dest="chaos_command", required=True, parser_class=_Parser)
    ex = csub.add_parser("export", help="write a Chaos Toolkit experiment: the scenario's "
                                        "SLA as its hypothesis, its faults as actions")
    ex.add_argument("file", type=Path, help="the scenario file (YAML or JSON)")
    ex.add_argument("-o", "--output", type=Path, metavar="FILE",
                    help="where to write the experiment (default NAME.experiment.json)")
    ex.add_argument("--control", metavar="URL", default="",
                    help="the control URL of a running reference system (`squall "
                         "reference up`), where the actions apply the faults")
    ex.add_argument("--run", type=Path, metavar="DIR",
                    help="the run directory of the experiment's load (default "
                         "runs/NAME-chaos)")
    ex.add_argument("--time-scale", type=_positive_float, default=1.0, metavar="K",
                    help="play the load and the faults K times faster")
    ex.add_argument("--warmup", type=_duration, metavar="DURATION",
                    help="load before the first hypothesis check (default: the SLA "
                         "window, or up to the first fault)")
    _add_set(ex)


def _proxy_parser(sub: Any) -> None:
    px = sub.add_parser("proxy", help="a fault proxy between a system and its dependency, "
                                      "with Toxiproxy's toxics and API")
    px.add_argument("--api", default="127.0.0.1:8474", metavar="HOST:PORT",
                    help="where the control API listens (default Toxiproxy's "
                         "127.0.0.1:8474; port 0: any free one)")
    px.add_argument("--config", type=Path, metavar="FILE",
                    help="proxies to create at start: a YAML or JSON list of "
                         "{name, listen, upstream}")
    px.add_argument("--allow-host", dest="allow_hosts", action="append", default=[],
                    metavar="HOST", help="let an upstream be this host outside loopback "
                                         "(repeatable)")
    px.add_argument("--seed", type=int, help="seed the toxics' randomness (toxicity, jitter)")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="squall", description="Chaos and load testing for multi-agent AI systems.",
                epilog="exit codes: 0 pass, 1 a gate failed, 2 invalid input or usage, "
                       "3 inconclusive or no gates, 4 aborted, 130 interrupted")
    p.add_argument("--version", action="version", version=f"squall {_version()}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    v = sub.add_parser("validate", help="check a scenario file; exit 0 or 2")
    v.add_argument("file", type=Path, help="the scenario file (YAML or JSON)")
    _add_set(v)

    sub.add_parser("schema", help="print the scenario JSON Schema")

    _run_parser(sub.add_parser("run", help="run a scenario and score it"))

    w = sub.add_parser("worker", help="join a live run's master as a load worker")
    w.add_argument("--master", required=True, metavar="HOST:PORT",
                   help="the master of `squall run --mode live --remote-workers M`")

    rep = sub.add_parser("report", help="re-score a run directory and render its report")
    rep.add_argument("dir", type=Path, help="a run directory (squall run --out)")
    _add_gates(rep)

    c = sub.add_parser("compare", help="compare a candidate run with a baseline run")
    c.add_argument("base", type=Path, help="the baseline run directory")
    c.add_argument("candidate", type=Path, help="the candidate run directory")
    c.add_argument("--alpha", type=_probability, default=0.05,
                   help="significance level, between 0 and 1 (default 0.05)")
    c.add_argument("--allow-different", action="store_true",
                   help="compare runs of differently named scenarios")
    c.add_argument("--out", type=Path, help="write the comparison as JSON")
    c.add_argument("--report", type=Path, metavar="FILE",
                   help="the comparison report (default CANDIDATE/compare.html)")
    c.add_argument("--no-report", action="store_true", help="skip the comparison report")
    _add_gates(c)

    sw = sub.add_parser("sweep", help="simulate a grid of scenario variants")
    sw.add_argument("file", type=Path, help="the scenario file (YAML or JSON)")
    sw.add_argument("--param", dest="params", action="append", default=[], required=True,
                    metavar="PATH=VALUES",
                    help="a field and its values: 4,8,16 or 2..10 or 0.5..2:0.5 (repeatable)")
    sw.add_argument("--samples", type=_positive_int,
                    help="draw this many points at random instead of the full grid")
    sw.add_argument("--seed", type=int, default=0, help="seed for --samples")
    sw.add_argument("--workers", type=_positive_int, help="processes (default: one per core)")
    _add_cluster(sw)
    sw.add_argument("--out", type=Path, help="sweep directory (default runs/NAME-sweep-TIMESTAMP)")
    sw.add_argument("--overwrite", action="store_true",
                    help="replace a previous sweep already in --out")
    _add_set(sw)

    _reference_parser(sub)
    d = sub.add_parser("demand", help="demand curves")
    dsub = d.add_subparsers(dest="demand_command", required=True, parser_class=_Parser)
    plot = dsub.add_parser("plot", help="plot the demand curve and the realised arrivals")
    plot.add_argument("file", type=Path, help="the scenario file (YAML or JSON)")
    plot.add_argument("-o", "--output", type=Path, required=True, help="PNG file to write")
    plot.add_argument("--seed", type=int)
    plot.add_argument("--window", default="10s", help="bin width of realised arrivals")
    _add_set(plot)
    return p
