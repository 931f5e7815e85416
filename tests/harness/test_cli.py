from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.cli.main import main

PASSING = textwrap.dedent("""\
    name: calm
    seed: 1
    duration: 2m
    system:
      agents: {worker: {replicas: 4, service_time: {dist: exponential, mean: 200ms}}}
      workflows: {only: {steps: [worker]}}
    demand: {curve: {constant: 5}}
    sla: {objective: 2s}
    gates: ["attainment >= 95%", "latency.p95 < 2s", "every window: error_rate <= 1%"]
""")
FAILING = PASSING.replace("attainment >= 95%", "latency.p50 < 1ms").replace("name: calm",
                                                                             "name: strict")


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    path = tmp_path / "calm.yaml"
    path.write_text(PASSING)
    return path


def test_validate_exits_0_for_a_valid_scenario(scenario: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(scenario)]) == 0
    assert "ok: calm — 1 agent" in capsys.readouterr().out


def test_validate_exits_2_and_lists_every_problem(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(PASSING.replace("duration: 2m", "duration: 0s").replace("replicas: 4",
                                                                           "replicaz: 4"))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: duration: must be greater than zero" in err
    assert "did you mean 'replicas'?" in err
    assert "Traceback" not in err


def test_run_exits_0_when_every_gate_passes(scenario: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--mode", "sim", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] == "pass"
    assert [g["status"] for g in summary["gates"]] == ["pass", "pass", "pass"]
    for name in ("requests.parquet", "spans.parquet", "timeseries.parquet", "events.jsonl",
                 "report.html", "scenario.json", "run.json"):
        assert (out / name).is_file(), name
    assert "PASS: calm (sim)" in capsys.readouterr().out


def test_run_exits_1_when_a_gate_fails(tmp_path: Path) -> None:
    path = tmp_path / "strict.yaml"
    path.write_text(FAILING)
    out = tmp_path / "run"
    assert main(["run", str(path), "--out", str(out), "-q"]) == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] == "fail"
    failed = [g for g in summary["gates"] if g["status"] == "fail"]
    assert [g["name"] for g in failed] == ["latency.p50 < 1ms"]


def test_command_line_gates_and_overrides_apply(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    code = main(["run", str(scenario), "--out", str(out), "-q", "--gate", "requests.total > 1e9",
                 "--set", "demand.curve.constant=2", "--seed", "9"])
    assert code == 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 9
    assert summary["requests"]["total"] < 400  # 2/s for 2 minutes


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--bogus"],
        ["validate"],
        ["frobnicate"],
        ["run", "x.yaml", "--mode", "warp"],
        ["run", "x.yaml", "--seed", "seven"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "squall: error:" in capsys.readouterr().err


def test_bad_inputs_exit_2_without_a_traceback(scenario: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    cases = [
        ["validate", str(tmp_path / "missing.yaml")],
        ["run", str(scenario), "--set", "nonsense"],
        ["run", str(scenario), "--gate", "latency.p95 < soon", "--out", str(tmp_path / "g")],
        ["run", str(scenario), "--mode", "live", "--target", "http://10.9.8.7:1", "--token",
         "t", "--out", str(tmp_path / "l")],
        ["report", str(tmp_path)],
        ["demand", "plot", str(scenario), "-o", str(tmp_path / "plot.svg")],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("squall: "), (argv, err)
        assert "Traceback" not in err, (argv, err)


def test_run_refuses_to_write_into_a_directory_that_is_not_a_run(scenario: Path,
                                                                tmp_path: Path) -> None:
    target = tmp_path / "photos"
    target.mkdir()
    (target / "cat.jpg").write_bytes(b"meow")
    assert main(["run", str(scenario), "--out", str(target), "-q"]) == 2
    assert (target / "cat.jpg").exists()


def test_run_without_out_writes_under_runs(scenario: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(scenario), "-q", "--no-report"]) == 0
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1
    assert runs[0].name.startswith("calm-")
    assert (runs[0] / "summary.json").exists()


def test_report_rescores_a_run_directory(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(out), "-q", "--no-report"]) == 0
    assert not (out / "report.html").exists()
    assert main(["report", str(out)]) == 0
    assert "<svg" in (out / "report.html").read_text()


def test_schema_is_json_schema_for_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Squall scenario"
    assert {"name", "duration", "system", "demand", "sla"} <= set(schema["required"])
    assert "Agent" in schema["$defs"]


def test_demand_plot_writes_a_png(scenario: Path, tmp_path: Path) -> None:
    png = tmp_path / "demand.png"
    assert main(["demand", "plot", str(scenario), "-o", str(png), "--window", "5s"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_installed_console_script_reports_exit_codes(scenario: Path, tmp_path: Path) -> None:
    exe = shutil.which("squall", path=str(Path(sys.executable).parent))
    assert exe is not None, "the squall console script is not installed"
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    ok = subprocess.run([exe, "validate", str(scenario)], capture_output=True, text=True,
                        env=env, check=False)
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [")
    res = subprocess.run([exe, "validate", str(bad)], capture_output=True, text=True, env=env,
                         check=False)
    assert res.returncode == 2
    assert "malformed YAML" in res.stderr
    assert "Traceback" not in res.stderr


def test_replications_report_intervals_and_an_interval_on_the_line_is_inconclusive(
        tmp_path: Path) -> None:
    path = tmp_path / "queue.yaml"
    path.write_text(PASSING.replace("replicas: 4", "replicas: 1, concurrency: 1").replace(
        "mean: 200ms", "mean: 150ms").replace(
        'gates: ["attainment >= 95%", "latency.p95 < 2s", "every window: error_rate <= 1%"]',
        'gates: ["latency.p95 < 1s"]'))
    out = tmp_path / "reps"
    code = main(["run", str(path), "--out", str(out), "-q", "--replications", "4",
                 "--seed", "1", "--junit", str(tmp_path / "g.xml"), "--md", str(tmp_path / "g.md")])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["replications"] == 4
    assert summary["seeds"] == [1, 2, 3, 4]
    lo, hi = summary["intervals"]["latency.p95"]
    assert lo < summary["metrics"]["latency.p95"] < hi
    gate = summary["gates"][0]
    expected = {"pass": 0, "fail": 1, "inconclusive": 3}[gate["status"]]
    assert code == expected
    assert (gate["status"] == "inconclusive") == (lo < 1.0 < hi)
    assert sorted(p.name for p in out.glob("rep-*")) == [f"rep-00{i}" for i in range(4)]
    assert "<testsuite" in (tmp_path / "g.xml").read_text()
    assert "## Squall: calm" in (tmp_path / "g.md").read_text()


def test_warmup_leaves_the_first_arrivals_out(scenario: Path, tmp_path: Path) -> None:
    main(["run", str(scenario), "--out", str(tmp_path / "a"), "-q", "--no-report"])
    main(["run", str(scenario), "--out", str(tmp_path / "b"), "-q", "--no-report",
          "--warmup", "1m"])
    full = json.loads((tmp_path / "a" / "summary.json").read_text())
    warm = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert warm["warmup_s"] == 60
    assert warm["requests"]["total"] == pytest.approx(full["requests"]["total"] / 2, abs=30)
    with pytest.raises(SystemExit) as exc:
        main(["run", str(scenario), "--warmup", "soon"])
    assert exc.value.code == 2


def test_a_damaged_run_is_scored_from_what_is_left_and_never_passes(
        scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(out), "-q"]) == 0
    (out / "summary.json").unlink()  # nothing intact to keep: the damaged re-score is saved
    (out / "spans.parquet").write_bytes(b"garbage")
    (out / "events.jsonl").write_text("{half a line")
    assert main(["report", str(out)]) == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["requests"]["total"] > 0
    assert summary["verdict"] == "inconclusive"
    assert all(g["status"] == "pass" for g in summary["gates"])
    assert any("spans are missing" in m for m in summary["missing"])
    assert any("unreadable lines" in m for m in summary["missing"])
    assert "note:" in capsys.readouterr().err


def test_a_rescore_of_damaged_records_keeps_the_good_summary(
        scenario: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(out), "-q"]) == 0
    good = (out / "summary.json").read_bytes()
    report = (out / "report.html").read_bytes()
    data = (out / "requests.parquet").read_bytes()
    (out / "requests.parquet").write_bytes(data[: len(data) // 2])  # truncated
    assert main(["report", str(out), "--gate", "recovery.max <= 3m"]) == 3
    assert (out / "summary.json").read_bytes() == good
    assert (out / "report.html").read_bytes() == report
    captured = capsys.readouterr()
    assert "requests.parquet is unreadable" in captured.err
    assert "kept" in captured.out


def test_report_exits_1_when_a_gate_fails(scenario: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["run", str(scenario), "--out", str(out), "-q", "--no-report"]) == 0
    junit = tmp_path / "gates.xml"
    assert main(["report", str(out), "--gate", "latency.p95 < 1ms", "--junit", str(junit)]) == 1
    assert "<failure" in junit.read_text()
    assert json.loads((out / "summary.json").read_text())["verdict"] == "fail"
