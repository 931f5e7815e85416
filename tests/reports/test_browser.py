"""Reports loaded in a real headless Chromium: nothing fails, every chart is drawn, and
no request leaves the file.

`make test` installs Debian's chromium where it can; without a browser these tests skip
and say why.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from harness.cli.main import main
from reports.screenshot import CHROMIUM_ARGS, find_chromium
from tests.conftest import SCENARIOS

pytestmark = pytest.mark.browser

RUN_CHARTS = ["system-graph", "chart-demand", "chart-traffic", "chart-latency",
              "chart-outcomes", "chart-replicas", "chart-queues", "chart-breakers",
              "chart-cost", "chart-cdf"]

LONG = textwrap.dedent("""\
    name: long-haul
    seed: 3
    duration: 5h
    system:
      endpoints:
        llm: {ttft: {dist: lognormal, median: 300ms, p95: 900ms}, per_token: 5ms,
              price: {input_per_token: 1.0e-7, output_per_token: 4.0e-7}}
      agents:
        worker: {replicas: 8, concurrency: 8,
                 llm: {endpoint: llm, input_tokens: 400, output_tokens: 60}}
      workflows: {only: {steps: [worker]}}
    demand: {curve: {constant: 100}}
    faults:
      - {id: slow-llm, kind: latency, target: endpoint.llm, at: 10m, duration: 5m, add: 500ms}
    sla: {objective: 3s}
    gates: ["attainment >= 95%"]
""")


def _has_a_batch(stream: Path) -> bool:
    """Whether an Arrow stream holds at least one complete record batch."""
    import pyarrow as pa
    from pyarrow import ipc

    try:
        with pa.OSFile(str(stream), "rb") as source:
            reader = ipc.open_stream(source)
            reader.read_next_batch()
    except (OSError, pa.ArrowInvalid, StopIteration):
        return False
    return True


@dataclass
class Loaded:
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    figures: dict[str, int] = field(default_factory=dict)  #: figure id → drawn svg height
    scripts: int = 0
    text: str = ""
    pdf: bytes = b""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    path = find_chromium()
    if path is None:
        pytest.skip("no Chromium on this machine and `make test` could not install Debian's "
                    "chromium package (it needs root and apt-get)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chrome = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS[1:])
        yield chrome
        chrome.close()


def load(browser: object, html: Path) -> Loaded:
    """Open ``html`` in a fresh page and record what the browser did."""
    out = Loaded()
    page = browser.new_page(viewport={"width": 1200, "height": 900})  # type: ignore[attr-defined]
    page.on("request", lambda r: out.requests.append(r.url))
    page.on("console", lambda m: out.console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: out.errors.append(str(e)))
    page.goto(html.resolve().as_uri(), wait_until="load")
    for fig in page.locator("figure[id]").all():
        svg = fig.locator("svg").first
        box = svg.bounding_box() if svg.count() else None
        out.figures[fig.get_attribute("id")] = int(box["height"]) if box else 0
    out.scripts = page.locator("script").count()
    out.text = page.inner_text("body")
    out.pdf = page.pdf(format="A4")
    page.close()
    return out


def assert_clean(loaded: Loaded, html: Path) -> None:
    assert loaded.requests == [html.resolve().as_uri()], "a request left the file"
    assert loaded.console == []
    assert loaded.errors == []
    assert loaded.scripts == 0, "the report must read without JavaScript"
    assert loaded.pdf.startswith(b"%PDF"), "printing failed"
    assert all(height > 50 for height in loaded.figures.values()), loaded.figures


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reports")
    telecom = SCENARIOS / "telecom-diagnostics.yaml"
    assert main(["run", str(telecom), "--out", str(root / "single"), "-q"]) == 1
    assert main(["run", str(telecom), "--out", str(root / "bigger"), "-q",
                 "--set", "system.agents.diagnostics.replicas=5"]) in (0, 1)
    assert main(["compare", str(root / "single"), str(root / "bigger")]) in (0, 1)
    assert main(["run", str(telecom), "--out", str(root / "reps"), "-q", "--workers", "1",
                 "--replications", "2", "--set", "duration=20m"]) in (0, 1, 3)
    assert main(["sweep", str(telecom), "--out", str(root / "sweep"), "--workers", "1",
                 "--param", "system.agents.diagnostics.replicas=3,5"]) in (0, 1)
    return root


def test_a_run_report_draws_every_chart_and_fetches_nothing(browser: object,
                                                           runs: Path) -> None:
    html = runs / "single" / "report.html"
    loaded = load(browser, html)
    assert_clean(loaded, html)
    assert list(loaded.figures) == RUN_CHARTS
    summary = json.loads((runs / "single" / "summary.json").read_text())
    assert loaded.text.startswith(summary["scenario"])
    for gate in summary["gates"]:
        assert gate["name"] in loaded.text
    for fault in ("probe-brownout", "diagnostics-crash"):
        assert fault in loaded.text
    assert "Partial run" not in loaded.text


def test_comparison_and_sweep_reports_load_cleanly(browser: object, runs: Path) -> None:
    compare = runs / "bigger" / "compare.html"
    loaded = load(browser, compare)
    assert_clean(loaded, compare)
    assert list(loaded.figures) == ["chart-goodput", "chart-latency", "chart-errors",
                                    "chart-replicas", "chart-cost", "chart-cdf"]
    assert "attainment" in loaded.text

    sweep = runs / "sweep" / "sweep.html"
    loaded = load(browser, sweep)
    assert_clean(loaded, sweep)
    assert list(loaded.figures) == ["chart-frontier"]
    assert "system.agents.diagnostics.replicas" in loaded.text


def test_a_replicated_run_reports_intervals(browser: object, runs: Path) -> None:
    html = runs / "reps" / "report.html"
    html.unlink()
    verdict = json.loads((runs / "reps" / "summary.json").read_text())["verdict"]
    code = main(["report", str(runs / "reps")])  # re-rendered from the directory
    assert code == {"pass": 0, "fail": 1, "inconclusive": 3}[verdict]
    loaded = load(browser, html)
    assert_clean(loaded, html)
    assert "replication 0" in loaded.text
    assert "±" in loaded.text or "95%" in loaded.text


def test_a_crashed_run_reports_what_it_recorded_and_what_is_missing(
        browser: object, tmp_path: Path) -> None:
    """Kill a real `squall run` once it has flushed records, then report on what is left."""
    scenario = tmp_path / "long.yaml"
    scenario.write_text(LONG)
    out = tmp_path / "crashed"
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli.main", "run", str(scenario),
                             "--out", str(out), "-q"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": "."})
    stream = out / ".requests.arrows"
    give_up = time.monotonic() + 120
    while not _has_a_batch(stream) and proc.poll() is None:  # not just the schema header
        assert time.monotonic() < give_up, "the run never flushed a batch of requests"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "requests.parquet").exists(), "the run finished before it was killed"

    code = main(["report", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    # Partial: a gate that fails on what was recorded fails; otherwise inconclusive.
    assert (summary["verdict"], code) in {("fail", 1), ("inconclusive", 3)}
    assert summary["requests"]["total"] > 0
    assert summary["duration_s"] < 5 * 3600
    html = out / "report.html"
    loaded = load(browser, html)
    assert_clean(loaded, html)
    banner = loaded.text[:2000]
    assert "Partial run" in banner
    assert "its status is still 'running'" in banner
    assert "rows recovered from the stream" in banner
    assert "timeseries.parquet is missing" in banner
    assert "where the records end" in banner
    assert {"chart-traffic", "chart-latency", "chart-outcomes"} <= set(loaded.figures)
    assert "chart-replicas" not in loaded.figures  # no timeseries: nothing invented
