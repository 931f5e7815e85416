"""``make demo``: the e-commerce peak scenario in both engines.

First simulated in full (seconds), then run live against the embedded reference system —
real processes, real HTTP, real faults — played six times faster so it takes two
minutes, and the two compared on one line. The same seed sends the same arrivals to
both.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from harness.cli.args import EXIT_INVALID
from harness.cli.main import EXIT_INTERRUPTED, main

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "ecommerce-peak.yaml"
OUT = Path("runs") / "demo"
LIVE = Path("runs") / "demo-live"
TIME_SCALE = 6  #: 12 minutes of scenario in 2 minutes of wall time


def _figures(out: Path) -> tuple[float | None, float | None, str]:
    try:
        s = json.loads((out / "summary.json").read_text())
    except (OSError, ValueError):
        return None, None, "no summary"
    return s["sla"]["attainment"], s["latency_s"]["p95"], s["verdict"]


def _shown(att: float | None, p95: float | None) -> str:
    a = "-" if att is None else f"{100 * att:.1f}%"
    p = "-" if p95 is None else f"{p95:.2f}s"
    return f"attainment {a}, p95 {p}"


def demo(live: bool = True) -> int:
    print(f"1. Simulating {SCENARIO.name}: a seasonal peak with a crash, a slow LLM and "
          "payment errors.\n")
    # runs/demo and runs/demo-live are the demo's own: each `make demo` replaces them.
    code = main(["run", str(SCENARIO), "--mode", "sim", "--out", str(OUT), "--overwrite"])
    if code == EXIT_INVALID:
        return code
    if live:
        print(f"\n2. The same scenario live: the reference agent system as real processes on "
              f"loopback, the same arrivals as HTTP requests, the faults for real, played "
              f"{TIME_SCALE}× faster (about two minutes).\n")
        code = main(["run", str(SCENARIO), "--mode", "live", "--time-scale", str(TIME_SCALE),
                     "--out", str(LIVE), "--overwrite"])
        if code in (EXIT_INVALID, EXIT_INTERRUPTED):
            return code
    print(f"\nsim  report: {(OUT / 'report.html').resolve()}")
    sim = _figures(OUT)
    if live:
        print(f"live report: {(LIVE / 'report.html').resolve()}")
        got = _figures(LIVE)
        print(f"sim {_shown(*sim[:2])} ({sim[2]}) · live {_shown(*got[:2])} ({got[2]})")
        if got[2] == "inconclusive":
            print("The live verdict is inconclusive when this machine could not send the "
                  "arrivals on time or the system missed a fault: see the notes above.")
    print("The verdicts above are what `squall run` hands a CI job as its exit code.")
    return 0


if __name__ == "__main__":
    sys.exit(demo(live="--sim-only" not in sys.argv[1:]))
