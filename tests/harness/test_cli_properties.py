"""Properties of every command under hostile input: generated damage to run directories,
generated argument lists. Whatever comes in: no traceback, an exit code from the
contract, a damaged run never passes, and no file outside the command's outputs
changes (records already written are never lost)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.cli.main import main

CONTRACT = {0, 1, 2, 3, 4, 130}

SCENARIO = textwrap.dedent("""\
    name: prop
    seed: 4
    duration: 20s
    system:
      agents:
        worker: {replicas: 2, service_time: {dist: exponential, mean: 80ms}}
      workflows: {only: {steps: [worker]}}
    demand: {curve: {constant: 5}}
    faults:
      - {id: blip, kind: error, target: agent.worker, at: 5s, duration: 5s, probability: 20%}
    sla: {objective: 2s}
    gates: ["latency.p95 < 2s"]
""")

#: Files whose damage a re-score must notice; outputs it may rewrite.
RECORDS = ["requests.parquet", "spans.parquet", "timeseries.parquet", "events.jsonl",
           "run.json", "scenario.json"]
OUTPUTS = {"summary.json", "report.html", "compare.html"}


def run_cli(argv: list[str]) -> tuple[int, str]:
    """``squall ARGV`` in this process: (exit code, stdout + stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue() + err.getvalue()


def snapshot(root: Path, skip: set[str]) -> dict[str, str]:
    """Digest of every file under ``root`` but those named in ``skip``."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name not in skip and not path.name.startswith("."):
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture(scope="module")
def good_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("good")
    (root / "prop.yaml").write_text(SCENARIO)
    assert main(["run", str(root / "prop.yaml"), "--out", str(root / "single"), "-q",
                 "--no-report"]) == 0
    assert main(["run", str(root / "prop.yaml"), "--out", str(root / "reps"), "-q",
                 "--no-report", "--replications", "2", "--workers", "1"]) in (0, 3)
    return root


@contextlib.contextmanager
def scratch(good: Path) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="squall-prop-") as tmp:
        root = Path(tmp)
        shutil.copytree(good, root, dirs_exist_ok=True)
        yield root


DAMAGE = st.sampled_from(["delete", "truncate", "garbage", "empty", "append-garbage",
                          "fewer-rows"])


def damage(path: Path, how: str, cut: float) -> None:
    data = path.read_bytes()
    if how == "fewer-rows":  # still a well-formed file, just not all of it
        if path.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            try:
                table = pq.read_table(path)
            except (pa.ArrowInvalid, OSError):  # damaged already by an earlier hit
                return
            pq.write_table(table.slice(0, int(table.num_rows * cut)), path)
        else:
            lines = data.splitlines(keepends=True)
            path.write_bytes(b"".join(lines[: int(len(lines) * cut)]))
    elif how == "delete":
        path.unlink()
    elif how == "truncate":
        path.write_bytes(data[: int(len(data) * cut)])
    elif how == "garbage":
        path.write_bytes(b"\x00garbage\xff" * 3)
    elif how == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(data + b"{not json\n")


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@example(which="single", hits=[("events.jsonl", "empty", 0.0, 0)])
@example(which="single", hits=[("requests.parquet", "fewer-rows", 0.5, 0)])
@example(which="reps", hits=[("timeseries.parquet", "fewer-rows", 0.0, 1)])
@given(which=st.sampled_from(["single", "reps"]),
       hits=st.lists(st.tuples(st.sampled_from(RECORDS), DAMAGE,
                               st.floats(0.0, 0.95), st.integers(0, 1)),
                     min_size=1, max_size=3))
def test_a_damaged_run_directory_never_passes_and_never_loses_records(
        good_runs: Path, which: str, hits: list[tuple[str, str, float, int]]) -> None:
    with scratch(good_runs) as root:
        run = root / which
        for name, how, cut, rep in hits:
            directory = run / f"rep-{rep:03d}" if which == "reps" and name != "run.json" \
                else run
            path = directory / name
            if path.exists():
                damage(path, how, cut)
        before = snapshot(root, OUTPUTS)
        code, text = run_cli(["report", str(run), "--junit", str(root / "g.xml")])
        assert code in CONTRACT, text
        assert "Traceback" not in text, text
        assert code != 0, f"a damaged run passed: {hits}\n{text}"
        after = snapshot(root, OUTPUTS | {"g.xml"})
        assert after == before, "a file that is not an output changed"


# --- generated command lines -----------------------------------------------------------

VALUES = st.sampled_from([
    "prop.yaml", "missing.yaml", "good/single", "good/reps", "out", "/proc/nope", "",
    "0", "-1", "7", "1e9", "nan", "30s", "1h", "soon", "attainment >= 90%",
    "during nope: error_rate < 5%", "latency.p95 <", "system.agents.worker.replicas=3",
    "system.agents.ghost.replicas=3", "duration=1e9", "records.step=1us", "seed=1,2",
    "arrivals=5", "x=y", "--", "=", "\x00",
])
OPTIONS = st.sampled_from([
    "--out", "--seed", "--set", "--gate", "--warmup", "--replications", "--workers",
    "--junit", "--md", "--limit", "--param", "--alpha", "--samples", "--mode", "--window",
    "-o", "--report", "--allow-path", "--overwrite", "--no-report", "-q", "--bogus",
])
COMMANDS = st.sampled_from([["validate"], ["run"], ["report"], ["compare"], ["sweep"],
                            ["demand", "plot"], ["schema"], ["frobnicate"], []])


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(command=COMMANDS, words=st.lists(st.one_of(OPTIONS, VALUES), max_size=7))
def test_any_command_line_gets_an_exit_code_from_the_contract(
        good_runs: Path, command: list[str], words: list[str]) -> None:
    argv = [*command, *words]
    if "--workers" not in argv:
        argv += ["--workers", "1"] if command in (["run"], ["sweep"]) else []
    with scratch(good_runs) as root:
        (root / "prop.yaml").write_text(SCENARIO)
        shutil.copytree(good_runs, root / "good", dirs_exist_ok=True)
        before = snapshot(root / "good", OUTPUTS)
        cwd = os.getcwd()
        os.chdir(root)
        try:
            code, text = run_cli(argv)
        finally:
            os.chdir(cwd)
        assert code in CONTRACT, (argv, text)
        assert "Traceback" not in text, (argv, text)
        assert "internal error" not in text, (argv, text)
        # Run directories given as inputs keep their records whatever the command did.
        assert snapshot(root / "good", OUTPUTS) == before, argv
