from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from harness.errors import InputError
from harness.outcomes import RunStatus
from harness.records.events import RecordError
from harness.records.meta import RunMeta
from harness.records.reader import read_run
from harness.records.writer import RunWriter


def _row(i: int) -> tuple[object, ...]:
    return (i, "wf", "normal", float(i), float(i), i + 0.5, 0.5, "ok", None, 1, 1, False, 10,
            5, 0.001, None, None)


def test_a_closed_run_is_parquet_and_reads_back(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, {"mode": "sim"}, flush_rows=100)
    for i in range(250):
        writer.requests.append(_row(i))
    writer.event(1.0, "fault_start", fault="x", kind="latency", target="agent.a")
    writer.close()
    assert not (tmp_path / ".requests.arrows").exists()
    assert pq.read_table(tmp_path / "requests.parquet").num_rows == 250
    run = read_run(tmp_path)
    assert run.meta.status == "complete"
    assert run.missing == ["scenario.json is missing"]
    assert run.requests["id"].tolist() == list(range(250))
    assert run.events == [{"t_s": 1.0, "type": "fault_start", "fault": "x", "kind": "latency",
                           "target": "agent.a"}]


def _crash_after_writing(directory: Path, rows: int, flush_rows: int) -> None:
    """A child process writes ``rows`` requests, flushing every ``flush_rows``, then dies
    without closing anything (``os._exit``), like a killed load generator."""
    code = textwrap.dedent(f"""
        import os, sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from harness.records.writer import RunWriter
        from test_records import _row
        writer = RunWriter(Path({str(directory)!r}), {{"mode": "live"}}, flush_rows={flush_rows})
        for i in range({rows}):
            writer.requests.append(_row(i))
        os._exit(1)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 1, proc.stderr


def test_a_crashed_run_keeps_every_flushed_batch(tmp_path: Path) -> None:
    _crash_after_writing(tmp_path, rows=251, flush_rows=50)  # the 251st row was never flushed
    run = read_run(tmp_path)
    assert len(run.requests) == 250
    assert any("250 rows recovered" in m for m in run.missing)
    assert any("status is still 'running'" in m for m in run.missing)


def test_a_damaged_stream_yields_its_complete_batches(tmp_path: Path) -> None:
    _crash_after_writing(tmp_path, rows=300, flush_rows=100)
    stream = tmp_path / ".requests.arrows"
    data = stream.read_bytes()
    stream.write_bytes(data[: len(data) - 200])  # the last batch is cut short
    run = read_run(tmp_path)
    assert len(run.requests) == 200
    assert any("damaged" in m for m in run.missing)


def test_unreadable_files_are_reported_not_raised(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, {}, flush_rows=10)
    writer.requests.append(_row(0))
    writer.close()
    (tmp_path / "spans.parquet").write_bytes(b"not parquet")
    (tmp_path / "events.jsonl").write_text('{"t_s": 1, "type": "x"}\n{oops\n')
    run = read_run(tmp_path)
    assert run.load_spans(["request_id"]) is None  # spans are read on demand
    assert any("1 unreadable lines" in m for m in run.missing)
    assert len(run.events) == 1


def test_a_directory_that_is_not_a_run_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a run directory"):
        read_run(tmp_path)
    with pytest.raises(InputError, match="not a directory"):
        read_run(tmp_path / "nope")


def test_run_json_records_how_the_run_ended(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, {"seed": 3})
    assert json.loads((tmp_path / "run.json").read_text())["status"] == "running"
    writer.close("interrupted", elapsed_s=1.5)
    meta = json.loads((tmp_path / "run.json").read_text())
    assert (meta["seed"], meta["status"], meta["elapsed_s"]) == (3, "interrupted", 1.5)
    assert meta["records"] == {"requests": 0, "spans": 0, "timeseries": 0, "events": 0}
    assert RunMeta.model_validate(meta).status is RunStatus.INTERRUPTED


def test_a_damaged_run_json_is_noted_and_never_complete(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, {"seed": 3})
    writer.close()
    (tmp_path / "run.json").write_text('{"status": "finished-ish", "seed": "three"}')
    run = read_run(tmp_path)
    assert not run.meta.finished
    assert any(m.startswith("run.json is damaged") for m in run.missing)


def test_a_row_of_the_wrong_width_is_refused_where_it_is_appended(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, {"mode": "sim"})
    with pytest.raises(RecordError, match="a requests row has 3 fields, the table 17"):
        writer.requests.append((1, "w", "normal"))
    writer.close()


def test_a_value_of_the_wrong_type_is_named_by_row_and_column(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, {"mode": "sim"}, flush_rows=10)
    for i in range(4):
        writer.requests.append(_row(i))
    bad = list(_row(4))
    bad[6] = "slow"  # latency_s
    writer.requests.append(tuple(bad))
    with pytest.raises(RecordError, match=r"requests row 4: latency_s = 'slow' is not double"):
        writer.flush()
    writer.requests.rows.clear()
    writer.close()


def test_an_event_must_carry_the_fields_scoring_reads(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, {"mode": "sim"})
    with pytest.raises(RecordError, match="lacks cold_start_s, price_per_s"):
        writer.event(0.0, "replica_start", agent="a", replica=0)
    with pytest.raises(RecordError, match="unknown event type 'reboot'"):
        writer.event(0.0, "reboot")
    writer.close()


def test_tick_flushes_once_its_interval_has_passed(tmp_path: Path) -> None:
    writer = RunWriter(tmp_path, {"mode": "sim"}, flush_s=3600)
    writer.requests.append(_row(0))
    writer.tick()
    assert not (tmp_path / ".requests.arrows").exists()  # not yet
    writer.flush_s = 0.0
    writer.tick()
    assert len(read_run(tmp_path).requests) == 1  # readable while the run goes on
    writer.close()
