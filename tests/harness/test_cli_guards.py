"""What a CI gate must never do: pass falsely, crash like a failed gate, or let a scenario
exhaust the host. Each test reproduces a way it once did."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.cli.main import main

TINY = textwrap.dedent("""\
    name: tiny
    seed: 2
    duration: 30s
    system:
      agents:
        worker: {replicas: 2, service_time: {dist: exponential, mean: 100ms}}
      workflows: {only: {steps: [worker]}}
    demand: {curve: {constant: 4}}
    faults:
      - {id: slow, kind: latency, target: agent.worker, at: 10s, duration: 5s, add: 50ms}
    sla: {objective: 2s}
    gates: ["attainment >= 90%"]
""")


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def err_of(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


# --- verdicts and exit codes ----------------------------------------------------------


def test_a_run_without_gates_has_no_verdict_and_never_exits_0(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nogates.yaml"
    path.write_text(TINY.replace('gates: ["attainment >= 90%"]\n', "").replace(
        "mean: 100ms", "mean: 30s"))  # every request times out or waits: still no verdict
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "--no-report"]) == 3
    out = capsys.readouterr().out
    assert "NO VERDICT" in out
    assert "PASS" not in out
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["verdict"] == "none"


def test_an_unknown_scope_in_a_command_line_gate_is_refused_before_running(
        tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", str(tiny), "--out", str(out), "--gate", "during slwo: error_rate < 5%"]
                ) == 2
    assert "did you mean 'slow'" in err_of(capsys)
    assert not out.exists()
    assert main(["run", str(tiny), "--out", str(out), "--gate",
                 "workflow nope: attainment >= 1%"]) == 2
    assert "no workflow named 'nope'" in err_of(capsys)


def test_report_refuses_a_gate_on_a_fault_the_run_did_not_have(
        tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", str(tiny), "--out", str(out), "-q", "--no-report"]) == 0
    assert main(["report", str(out), "--gate", "during nope: error_rate < 5%"]) == 2
    assert "no phase or fault named 'nope'" in err_of(capsys)


@pytest.mark.parametrize(("argv", "message"), [
    (["--warmup", "30s"], "is not shorter than the run"),
    (["--warmup", "1h"], "is not shorter than the run"),
])
def test_a_warmup_as_long_as_the_run_is_refused(tiny: Path, tmp_path: Path, argv: list[str],
                                                message: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tiny), "--out", str(tmp_path / "run"), *argv]) == 2
    assert message in err_of(capsys)


@pytest.mark.parametrize("alpha", ["7", "0", "1", "-0.1", "nan", "x"])
def test_compare_alpha_must_be_a_probability(alpha: str, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["compare", str(tmp_path), str(tmp_path), "--alpha", alpha])
    assert exc.value.code == 2


def test_an_existing_run_is_replaced_only_with_overwrite(
        tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", str(tiny), "--out", str(out), "-q", "--no-report"]) == 0
    before = (out / "summary.json").read_bytes()
    assert main(["run", str(tiny), "--out", str(out), "-q", "--no-report", "--seed", "5"]) == 2
    assert "already holds a run of 'tiny'" in err_of(capsys)
    assert (out / "summary.json").read_bytes() == before
    assert main(["run", str(tiny), "--out", str(out), "-q", "--no-report", "--seed", "5",
                 "--overwrite"]) == 0
    assert json.loads((out / "summary.json").read_text())["seed"] == 5


@pytest.mark.parametrize("where", ["under-a-file", "proc"])
def test_an_unwritable_out_exits_2_naming_it(tiny: Path, tmp_path: Path, where: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    if where == "under-a-file":
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "run"
    else:
        out = Path("/proc/squall-run")
    assert main(["run", str(tiny), "--out", str(out), "-q"]) == 2
    assert str(out) in err_of(capsys) or "file" in capsys.readouterr().err


def test_compare_and_sweep_outputs_that_cannot_be_written_exit_2(
        tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base, cand = tmp_path / "a", tmp_path / "b"
    main(["run", str(tiny), "--out", str(base), "-q", "--no-report"])
    main(["run", str(tiny), "--out", str(cand), "-q", "--no-report", "--seed", "3"])
    capsys.readouterr()
    assert main(["compare", str(base), str(cand), "--out", "/proc/x.json"]) == 2
    assert "/proc/x.json" in err_of(capsys)
    assert main(["compare", str(base), str(cand), "--report", "/proc/x.html"]) == 2
    err_of(capsys)
    assert main(["sweep", str(tiny), "--param", "system.agents.worker.replicas=2",
                 "--out", "/proc/sweep", "--workers", "1"]) == 2
    err_of(capsys)


def test_a_requests_table_missing_a_column_is_damaged_not_a_crash(
        tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import pyarrow.parquet as pq

    out = tmp_path / "run"
    main(["run", str(tiny), "--out", str(out), "-q", "--no-report"])
    (out / "summary.json").unlink()
    table = pq.read_table(out / "requests.parquet")
    pq.write_table(table.drop(["latency_s"]), out / "requests.parquet")
    assert main(["report", str(out)]) == 3
    assert "lacks the column latency_s" in err_of(capsys)


def test_replications_that_never_ran_make_the_run_inconclusive(
        tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reps"
    main(["run", str(tiny), "--out", str(out), "-q", "--replications", "4", "--workers", "1",
          "--no-report", "--gate", "attainment >= 1%"])
    shutil.rmtree(out / "rep-003")  # as if interrupted after three
    (out / "summary.json").unlink()
    assert main(["report", str(out)]) == 3
    summary = json.loads((out / "summary.json").read_text())
    assert "only 3 of 4 replications were recorded" in summary["missing"]
    assert summary["seeds"] == [2, 3, 4]  # each replication keeps its own seed


def test_sigterm_stops_a_run_like_sigint_and_leaves_it_partial(tiny: Path,
                                                               tmp_path: Path) -> None:
    long = tmp_path / "long.yaml"
    long.write_text(TINY.replace("duration: 30s", "duration: 3h").replace(
        "constant: 4", "constant: 200").replace("replicas: 2", "replicas: 40"))
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli.main", "run", str(long),
                             "--out", str(out), "-q"], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": "."})
    try:
        give_up = time.monotonic() + 60
        while not (out / "run.json").exists():
            assert time.monotonic() < give_up
            assert proc.poll() is None
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert "terminated" in err
    assert "squall report" in err  # where the partial run is, and what to do with it
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    assert main(["report", str(out)]) in (1, 3)


# --- the host's resources -------------------------------------------------------------


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    assert main(["validate", str(bomb)]) == 2
    assert "expands to more than" in err_of(capsys)


@pytest.mark.parametrize(("override", "limit"), [
    ("duration=87600h", "arrivals"),
    ("demand.curve.constant=1e9", "arrivals"),
    ("system.agents.worker.replicas=1e9", "replicas"),
    ("records.step=1us", "samples"),
])
def test_work_beyond_a_limit_is_refused_with_its_figure(
        tiny: Path, override: str, limit: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tiny), "--set", override]) == 2
    err = err_of(capsys)
    assert f"--limit {limit}=N" in err
    assert "asks for about" in err


def test_a_limit_can_be_raised_explicitly(tiny: Path) -> None:
    assert main(["validate", str(tiny), "--set", "records.step=1us"]) == 2
    assert main(["validate", str(tiny), "--set", "records.step=1us", "--limit",
                 "samples=1e8"]) == 0
    assert main(["validate", str(tiny), "--limit", "arivals=5"]) == 2


def test_a_million_point_sweep_is_refused_before_anything_runs(
        tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sweep"
    assert main(["sweep", str(tiny), "--param", "system.agents.worker.replicas=1..1000",
                 "--param", "system.agents.worker.concurrency=1..1000", "--out", str(out)]) == 2
    assert "sweep points" in err_of(capsys)
    assert main(["sweep", str(tiny), "--param", "seed=1..1000000000", "--out", str(out)]) == 2
    assert "at most 1000" in err_of(capsys)
    assert not out.exists()


def test_a_trace_outside_the_scenarios_directory_is_not_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    home = tmp_path / "scenarios"
    home.mkdir()
    path = home / "t.yaml"
    path.write_text(TINY.replace("{constant: 4}", "{trace: {file: ../secret.csv}}"))
    assert main(["validate", str(path)]) == 2
    err = err_of(capsys)
    assert "outside the scenario's directory" in err
    assert "root:x" not in err
    # Allowed, the file is read, and its contents are still not echoed.
    assert main(["validate", str(path), "--allow-path", str(tmp_path)]) == 2
    err = err_of(capsys)
    assert "root" not in err.replace(str(tmp_path), "")
    assert "bash" not in err


# --- typos that change the question ----------------------------------------------------


def test_an_override_cannot_create_a_phantom_agent(tiny: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(tiny), "--set", "system.agents.workr.replicas=2"]) == 2
    assert "has no entry 'workr' (did you mean 'worker'?)" in err_of(capsys)
    assert main(["sweep", str(tiny), "--param", "system.agents.workr.replicas=2,4",
                 "--out", str(tmp_path / "s")]) == 2
    assert "did you mean 'worker'" in err_of(capsys)
    # A field the file leaves unset is not a named entry: it may be set.
    assert main(["validate", str(tiny), "--set", "system.agents.worker.timeout=2s"]) == 0


def test_an_agent_nothing_calls_and_an_impossible_count_are_errors(
        tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    orphan = tiny.with_name("orphan.yaml")
    orphan.write_text(TINY.replace("  workflows:", "    helper: {replicas: 1}\n"
                                   "  workflows:"))
    assert main(["validate", str(orphan)]) == 2
    assert "agent 'helper' is never called" in err_of(capsys)
    crash = tiny.with_name("crash.yaml")
    crash.write_text(TINY.replace("sla:", "  - {kind: crash, target: agent.worker, "
                                  "at: 5s, count: 50}\nsla:"))
    assert main(["validate", str(crash)]) == 2
    assert "count 50 is more than the 2 replicas agent.worker can ever have" in err_of(capsys)


def test_merge_keys_override_and_x_keys_hold_anchors(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(textwrap.dedent("""\
        name: anchors
        duration: 30s
        x-worker: &worker {replicas: 2, concurrency: 4, service_time: 100ms}
        system:
          agents:
            a: {<<: *worker, concurrency: 8}
            b: *worker
          workflows: {only: {steps: [a, b]}}
        demand: {curve: {constant: 1}}
        sla: {objective: 1s}
    """))
    from harness.scenario.loader import load_scenario

    scenario = load_scenario(path)
    assert scenario.system.agents["a"].concurrency == 8
    assert scenario.system.agents["b"].concurrency == 4
    assert scenario.system.agents["a"].replicas.initial == 2
    path.write_text(path.read_text().replace("concurrency: 8}", "concurrency: 8, replicas: 3,"
                                             " replicas: 4}"))
    with pytest.raises(Exception, match="duplicate key 'replicas'"):
        load_scenario(path)


def test_version_and_help_say_what_they_should(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("squall ")
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    assert "the scenario file" in text
    assert "sim: the discrete-event simulator" in text


def test_compare_lists_changes_as_a_scenario_writes_them(
        tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", str(tiny), "--out", str(tmp_path / "a"), "-q", "--no-report"])
    main(["run", str(tiny), "--out", str(tmp_path / "b"), "-q", "--no-report",
          "--set", "system.agents.worker.service_time={dist: exponential, mean: 50ms}",
          "--set", "system.agents.worker.timeout=5s"])
    capsys.readouterr()
    main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--no-report"])
    out = capsys.readouterr().out
    assert "changed   system.agents.worker.service_time.mean: 0.1 → 0.05" in out
    assert "changed   system.agents.worker.timeout: (absent) → 5.0" in out
    assert "{'" not in out
    assert "'}" not in out


def test_sweep_columns_have_distinct_names() -> None:
    from harness.cli.show import short_names

    paths = ["system.agents.worker.replicas.max", "recovery.max", "latency.p95",
             "system.agents.worker.concurrency"]
    assert short_names(paths) == ["replicas.max", "recovery.max", "p95", "concurrency"]


def test_a_long_run_says_how_far_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    from harness.execution import _Progress

    progress = _Progress("day", every=0.0)
    progress(3600.0, 86400.0)
    err = capsys.readouterr().err
    assert "day: simulated 1h00m of 24h00m (4%)" in err


def test_a_trace_driven_run_directory_is_re_scored_anywhere(
        tmp_path: Path, scenarios_dir: Path) -> None:
    src = tmp_path / "src"
    (src / "traces").mkdir(parents=True)
    shutil.copy(scenarios_dir / "support-day.yaml", src)
    shutil.copy(scenarios_dir / "traces" / "support-day.csv", src / "traces")
    out = tmp_path / "run"
    code = main(["run", str(src / "support-day.yaml"), "--out", str(out), "-q", "--no-report"])
    before = json.loads((out / "summary.json").read_text())
    shutil.rmtree(src)  # the scenario's directory is gone, as on another machine
    moved = tmp_path / "artifact"
    out.rename(moved)
    (moved / "summary.json").unlink()
    assert main(["report", str(moved)]) == code
    after = json.loads((moved / "summary.json").read_text())
    assert after["metrics"] == before["metrics"]
    assert (moved / "report.html").exists()
    assert (moved / "traces" / "support-day.csv").exists()


def test_a_trace_that_cannot_be_copied_leaves_no_half_made_run(tmp_path: Path) -> None:
    from harness.errors import InputError
    from harness.execution import execute
    from harness.scenario.loader import load_scenario

    (tmp_path / "r.csv").write_text("time,rate\n0s,1\n60s,1\n")
    path = tmp_path / "s.yaml"
    path.write_text("name: t\nduration: 1m\n"
                    "system: {agents: {a: {replicas: 1}}, workflows: {w: {steps: [a]}}}\n"
                    "demand: {curve: {trace: {file: r.csv, format: rate}}}\n"
                    "sla: {objective: 1s}\n")
    scenario = load_scenario(path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "run"
    with pytest.raises(InputError, match="cannot copy the scenario's trace file"):
        execute(scenario, mode="sim", out=out, source_dir=elsewhere, progress=False)
    assert not out.exists()  # so the next attempt (--overwrite or not) is not refused
    execute(scenario, mode="sim", out=out, source_dir=tmp_path, progress=False)
    assert (out / "run.json").exists()
