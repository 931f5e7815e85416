"""``make demo``: run the e-commerce peak scenario in the simulator and point at its report."""

from __future__ import annotations

import sys
from pathlib import Path

from harness.cli.args import EXIT_INVALID
from harness.cli.main import main

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "ecommerce-peak.yaml"
OUT = Path("runs") / "demo"


def demo() -> int:
    print(f"Simulating {SCENARIO.name}: a seasonal peak with a crash, a slow LLM and payment "
          "errors.\n")
    # runs/demo is the demo's own: each `make demo` replaces the previous one.
    code = main(["run", str(SCENARIO), "--mode", "sim", "--out", str(OUT), "--overwrite"])
    if code == EXIT_INVALID:
        return code
    report = (OUT / "report.html").resolve()
    print(f"\nOpen the resilience report: {report}")
    print("The gate verdict above is what `squall run` would hand a CI job as its exit code.")
    return 0


if __name__ == "__main__":
    sys.exit(demo())
