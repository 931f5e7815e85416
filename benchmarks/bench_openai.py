"""How well the openai adapter measures time to first token.

``squall mock-llm`` serves a constant time to first token (250 ms) and per-token time
(10 ms); ``squall run --mode live`` with an ``openai`` target streams from it at a steady
rate, and each request's measured TTFT is compared with the configured one. The mock
cannot send its first token early, so the difference is what the measurement adds:
loopback, the server's own overhead, and the driver reading the stream.

Figures (one JSON line each):
- ``openai.ttft_error_p50_ms`` / ``openai.ttft_error_p99_ms``: measured minus configured
  TTFT, median and 99th percentile, in ms (``relative``: over the configured TTFT).
- ``openai.itl_error_p50_ms``: measured minus configured inter-token latency, median.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_reference import SMOKE, emit

ROOT = Path(__file__).resolve().parent.parent
TTFT_S, PER_TOKEN_S = 0.25, 0.01
SCENARIO = """
name: bench-openai
seed: 1
duration: {duration}s
system:
  endpoints: {{llm: {{ttft: 250ms, per_token: 10ms}}}}
  agents: {{chat: {{replicas: 1, concurrency: 64, llm: {{endpoint: llm, output_tokens: 32}}}}}}
  workflows: {{ask: {{steps: [chat]}}}}
demand: {{curve: {{constant: {rate}}}}}
sla: {{objective: 2s}}
target: {{adapter: openai, url: "{url}/v1", stream: true, max_tokens: 32}}
"""


def main() -> None:
    duration, rate = (4, 10) if SMOKE else (30, 40)
    with tempfile.TemporaryDirectory(prefix="bench-openai-") as tmp:
        log = Path(tmp) / "mock.log"
        with log.open("wb") as out:
            mock = subprocess.Popen([sys.executable, "-m", "harness.cli.main", "mock-llm",
                                     "--ttft", "250ms", "--per-token", "10ms"], stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
        try:
            deadline = time.monotonic() + 30
            while not (m := re.search(r"http://127\.0\.0\.1:\d+", log.read_text())):
                if time.monotonic() > deadline or mock.poll() is not None:
                    raise SystemExit(f"mock-llm did not start: {log.read_text()}")
                time.sleep(0.05)
            path = Path(tmp) / "s.yaml"
            path.write_text(SCENARIO.format(duration=duration, rate=rate, url=m.group(0)))
            done = subprocess.run([sys.executable, "-m", "harness.cli.main", "run", str(path),
                                   "--mode", "live", "--out", str(Path(tmp) / "run"), "-q"],
                                  capture_output=True, text=True, cwd=ROOT, check=False,
                                  env={**os.environ, "TMPDIR": tmp})
            if done.returncode not in (0, 3):  # no gates: 3
                raise SystemExit(f"the live run failed: {done.stderr}")
            import pandas as pd

            req = pd.read_parquet(Path(tmp) / "run" / "requests.parquet")
        finally:
            os.killpg(mock.pid, 9)
            mock.wait(timeout=10)
    ok = req[req["outcome"] == "ok"]
    if ok.empty:
        raise SystemExit("no request succeeded")
    ttft = (ok["ttft_s"].to_numpy() - TTFT_S) * 1000
    itl = (ok["itl_s"].to_numpy() - PER_TOKEN_S) * 1000
    for q, name in ((50, "openai.ttft_error_p50_ms"), (99, "openai.ttft_error_p99_ms")):
        value = float(np.percentile(ttft, q))
        emit(figure=name, value=round(value, 3), unit="ms",
             relative=round(value / (TTFT_S * 1000), 4), configured_ms=TTFT_S * 1000,
             requests=len(ok), rate=rate)
    emit(figure="openai.itl_error_p50_ms", value=round(float(np.median(itl)), 3), unit="ms",
         configured_ms=PER_TOKEN_S * 1000)


if __name__ == "__main__":
    main()
