from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.demand.arrivals import arrival_times
from harness.demand.trace import load_arrival_trace, load_rate_trace
from harness.errors import InputError


def write(tmp_path: Path, text: str, name: str = "trace.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_rate_trace_with_header_durations_and_compression(tmp_path: Path) -> None:
    path = write(tmp_path, "# a comment\ntime,rate\n0h,2\n1h,10\n2h,4\n")
    trace = load_rate_trace(path, compress=60)
    assert trace.times.tolist() == [0, 60, 120]
    assert trace(np.array([30.0, 60.0, 90.0])).tolist() == [6, 10, 7]
    held = load_rate_trace(path, compress=60, step=True)
    assert held(np.array([30.0, 90.0])).tolist() == [2, 10]


def test_rate_trace_columns_by_name_in_any_order(tmp_path: Path) -> None:
    path = write(tmp_path, "rps,ts,region\n5,0,eu\n7,10,eu\n")
    trace = load_rate_trace(path, time_column="ts", rate_column="rps")
    assert trace.rates.tolist() == [5, 7]


def test_rate_trace_with_iso_timestamps_is_relative_to_the_first(tmp_path: Path) -> None:
    path = write(tmp_path, "time,rate\n2026-11-27T08:00:00Z,1\n2026-11-27T08:00:30Z,3\n")
    assert load_rate_trace(path).times.tolist() == [0, 30]


def test_bad_rows_are_named_by_line(tmp_path: Path) -> None:
    path = write(tmp_path, "time,rate\n0,1\n10,abc\n5,2\nlater,4\n30,-1\n")
    with pytest.raises(InputError) as err:
        load_rate_trace(path)
    text = err.value.render()
    assert f"{path}:3: the rate is not a number" in text
    assert f"{path}:4: time goes backwards" in text
    assert f"{path}:5: the time is not seconds" in text
    assert f"{path}:6: the rate is not a number >= 0" in text
    for content in ("abc", "later", "-1"):  # a trace's contents are never echoed
        assert content not in text.replace(str(path), "")


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "has no rows"), ("time,rate\n", "no data rows"),
     ("when,rps\n1,2\n", "names none of the columns time, rate"),
     ("time,count\n1,2\n", "no column 'rate'"), ("time,rate\n0,5\n", "at least two rows")],
)
def test_unusable_rate_traces_are_rejected(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        load_rate_trace(write(tmp_path, text))


def test_missing_and_binary_files_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_rate_trace(tmp_path / "nope.csv")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(InputError, match="cannot read"):
        load_rate_trace(binary)


def test_arrival_trace_replays_exactly_and_compresses(tmp_path: Path) -> None:
    path = write(tmp_path, "time\n0\n1.5\n2\n10\n")
    trace = load_arrival_trace(path, compress=2)
    assert trace.times.tolist() == [0, 0.75, 1, 5]
    assert arrival_times(trace, 4, "replay", replay=trace.times).tolist() == [0, 0.75, 1]
    # As a curve: arrivals per bin.
    assert trace(np.array([0.5, 1.5, 4.5])).tolist() == [2, 1, 0]
