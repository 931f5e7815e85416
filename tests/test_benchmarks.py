"""Every benchmark runs, at a tiny size, and prints one JSON line per figure: a benchmark
cannot rot unnoticed between two `make bench` runs. The figures at this size mean
nothing; `make bench` measures them at full size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BENCHMARKS = sorted((ROOT / "benchmarks").glob("bench_*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("bench", BENCHMARKS, ids=lambda p: p.stem)
def test_a_benchmark_runs_and_prints_its_figures(bench: Path) -> None:
    proc = subprocess.run([sys.executable, str(bench)], capture_output=True, text=True,
                          timeout=300, check=False, cwd=ROOT,
                          env={**os.environ, "SQUALL_BENCH_SMOKE": "1",
                               "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert lines, "the benchmark printed no figure"
    documented = bench.read_text()
    for fig in lines:
        assert {"figure", "value", "unit"} <= set(fig), fig
        assert f"``{fig['figure']}``" in documented, f"{fig['figure']} is not in the docstring"
