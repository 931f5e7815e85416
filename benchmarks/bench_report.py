"""Report speed and size.

Figures (one JSON line each):
- ``report.render_1m_s``: seconds to render ``report.html`` for a run of one million
  requests (three million spans, timeseries, three faults, five gates) from its
  directory and its summary: reading, binning, ten charts, tables. Target ≤ 10 s.
  Beside it, as the baseline, the time to score the same directory (the work
  ``squall report`` does before rendering); the ratio is render / score.
- ``report.size_1m_mb``: the size of that file. Target ≤ 5 MB, whatever the run's length:
  charts are binned to at most 600 points and the error table is capped.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from synthetic import SMOKE, N, synthetic_run

from harness.judging.directory import judge_dir
from reports.render import render_report


def emit(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        synthetic_run(directory)
        score_best = render_best = float("inf")
        for _ in range(1 if SMOKE else 3):
            start = time.perf_counter()
            summary = judge_dir(directory)
            score_best = min(score_best, time.perf_counter() - start)
            start = time.perf_counter()
            html = render_report(directory, summary)
            render_best = min(render_best, time.perf_counter() - start)
        assert summary.requests.total == N
        size = html.stat().st_size
        text = html.read_text(encoding="utf-8")
        assert "<script" not in text
        assert text.count("<svg") >= 8
    emit(figure="report.render_1m_s", value=round(render_best, 3), unit="s", requests=N,
         spans=3 * N, target="<= 10", baseline="scoring the same run",
         baseline_value=round(score_best, 3), ratio=round(render_best / score_best, 3))
    emit(figure="report.size_1m_mb", value=round(size / 1e6, 3), unit="MB", requests=N,
         target="<= 5")


if __name__ == "__main__":
    main()
