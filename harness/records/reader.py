"""Reading a run directory back, whole or in part.

A finished run has Parquet tables; a run that crashed has Arrow streams readable up to
the last flush; a damaged file is skipped. Whatever is missing is listed in
``RunData.missing`` so scores and reports can say what they were computed from.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import ipc

from harness.errors import InputError
from harness.outcomes import RunStatus
from harness.records.meta import RunMeta, read_meta
from harness.records.rundir import RunDir
from harness.records.schema import TABLES

__all__ = ["RunData", "read_json", "read_run", "read_so_far"]


@dataclass
class RunData:
    """A run directory, read. Spans can be millions of rows: they are read on demand,
    only the columns asked for (:meth:`load_spans`), unless given here."""

    directory: Path
    meta: RunMeta
    requests: pd.DataFrame
    spans: pd.DataFrame | None
    timeseries: pd.DataFrame | None
    events: list[dict[str, Any]]
    scenario_data: dict[str, Any] | None
    missing: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.meta, RunMeta):  # hand-built runs may give a mapping
            self.meta = RunMeta.model_validate(self.meta)

    @property
    def complete(self) -> bool:
        return self.meta.finished and not self.missing

    def load_spans(self, columns: list[str] | None = None) -> pd.DataFrame | None:
        """The span table (those ``columns``), or None if the run has none."""
        if self.spans is not None:
            return self.spans if columns is None else self.spans[columns]
        return _table(self.directory, "spans", [], columns)


#: Columns a table cannot be scored without; newer optional columns (``ttft_s``) may be
#: absent in older runs.
OPTIONAL = {"ttft_s", "itl_s", "hop_s"}


def _conform(table: pa.Table, name: str, columns: list[str] | None) -> pa.Table:
    """``table`` with the schema's types; ``ValueError`` naming what does not fit (a
    column missing, or of another type) so a damaged table is never half-read."""
    schema = TABLES[name]
    wanted = [c for c in (columns if columns is not None else schema.names) if c in schema.names]
    lacking = [c for c in wanted if c not in table.column_names and c not in OPTIONAL]
    if lacking:
        raise ValueError(f"lacks the column{'s' if len(lacking) > 1 else ''} "
                         f"{', '.join(lacking)}")
    present = [c for c in wanted if c in table.column_names]
    target = pa.schema([schema.field(c) for c in present])
    try:
        return table.select(present).cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise ValueError(f"has columns of the wrong type ({exc})") from None


def _stream(path: Path, columns: list[str] | None = None) -> tuple[pa.Table | None, bool]:
    """Batches of an Arrow stream up to the first damaged one; (table, was_truncated)."""
    batches = []
    truncated = False
    try:
        with pa.OSFile(str(path), "rb") as source:
            reader = ipc.open_stream(source)
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                if columns:
                    batch = batch.select([c for c in columns if c in batch.schema.names])
                batches.append(batch)
    except (pa.ArrowInvalid, OSError):
        truncated = True
    if not batches:
        return None, truncated
    return pa.Table.from_batches(batches), truncated


def read_so_far(directory: str | Path, name: str = "requests",
                columns: list[str] | None = None) -> pd.DataFrame | None:
    """A table of a run that may still be going: its Parquet file once the run closed
    it, else what its stream holds so far (up to a batch being written); None if
    neither exists yet."""
    layout = RunDir(directory)
    done = layout.table(name)
    if done.exists():
        try:
            frame: pd.DataFrame = pq.read_table(done, columns=columns).to_pandas()
            return frame
        except (pa.ArrowInvalid, OSError):
            pass  # being replaced by the finished file: the stream still has it all
    table, _ = _stream(layout.stream(name), columns)
    return None if table is None else table.to_pandas()


def _table(directory: Path, name: str, missing: list[str],
           columns: list[str] | None = None) -> pd.DataFrame | None:
    parquet = RunDir(directory).table(name)
    stream = RunDir(directory).stream(name)
    if parquet.exists():
        try:
            present = set(pq.read_schema(parquet).names)
            read = None if columns is None else [c for c in columns if c in present]
            table = _conform(pq.read_table(parquet, columns=read), name, columns)
            frame: pd.DataFrame = table.to_pandas()
            return frame
        except (pa.ArrowException, OSError) as exc:
            missing.append(f"{name}.parquet is unreadable ({exc.__class__.__name__})")
        except ValueError as exc:
            missing.append(f"{name}.parquet {exc}")
    if stream.exists():
        table, truncated = _stream(stream, columns)
        if table is not None:
            try:
                table = _conform(table, name, columns)
            except ValueError as exc:
                missing.append(f".{name}.arrows {exc}")
                return None
            note = "the run did not finish" + ("; its last batch was damaged" if truncated else "")
            missing.append(f"{name}: {table.num_rows} rows recovered from the stream ({note})")
            recovered: pd.DataFrame = table.to_pandas()
            return recovered
        missing.append(f"{name}: the stream holds no complete batch")
        return None
    if not parquet.exists():
        missing.append(f"{name}.parquet is missing")
    return None


def _events(directory: Path, missing: list[str]) -> list[dict[str, Any]]:
    path = RunDir(directory).events
    if not path.exists():
        missing.append("events.jsonl is missing")
        return []
    events, bad = [], 0
    for line in path.read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            bad += 1
            continue
        if isinstance(item, dict) and "t_s" in item and "type" in item:
            events.append(item)
        else:
            bad += 1
    if bad:
        missing.append(f"events.jsonl: {bad} unreadable lines skipped")
    # A live run writes an event when it learns of it (a breaker's transition comes with
    # the answer of the request that moved it): in time order from here on.
    events.sort(key=lambda e: e["t_s"] if isinstance(e["t_s"], int | float) else math.inf)
    return events


def read_json(path: Path, missing: list[str]) -> dict[str, Any] | None:
    """A JSON object from ``path``; None (and a note in ``missing``) if it is missing,
    unreadable or not an object."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        missing.append(f"{path.name} is missing")
        return None
    except (ValueError, OSError):
        missing.append(f"{path.name} is unreadable")
        return None
    if not isinstance(data, dict):
        missing.append(f"{path.name} is unreadable")
        return None
    return data


def read_run(directory: str | Path) -> RunData:
    """Load a run directory; ``InputError`` if it is not one."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError("not a directory", source=str(directory))
    layout = RunDir(directory)
    known = [layout.run_json, layout.table("requests"), layout.stream("requests"),
             layout.summary]
    if not any(path.exists() for path in known):
        raise InputError(
            "not a run directory: it has none of run.json, requests.parquet, summary.json",
            source=str(directory),
        )
    missing: list[str] = []
    known_before = len(missing)
    meta = read_meta(layout.run_json, missing)
    if len(missing) == known_before:  # run.json was read: what does it say?
        if meta.status is RunStatus.RUNNING:
            missing.append("the run did not finish: its status is still 'running' (the "
                           "process was killed, or is still going)")
        elif meta.status is not RunStatus.COMPLETE:
            missing.append(f"the run's status is {meta.status.value!r}, not complete")
    requests = _table(directory, "requests", missing)
    if requests is None:
        requests = TABLES["requests"].empty_table().to_pandas()
    requests = requests.sort_values("id", kind="stable").reset_index(drop=True)
    spans = None  # read on demand: RunData.load_spans
    if not layout.table("spans").exists() and not layout.stream("spans").exists():
        missing.append("spans.parquet is missing")
    timeseries = _table(directory, "timeseries", missing)
    events = _events(directory, missing)
    _check_counts(directory, meta, requests, timeseries=timeseries, events=events,
                  missing=missing)
    scenario = read_json(layout.scenario, missing)
    return RunData(directory, meta, requests, spans, timeseries, events, scenario, missing)


def _check_counts(directory: Path, meta: RunMeta, requests: pd.DataFrame, *,
                  timeseries: pd.DataFrame | None, events: list[dict[str, Any]],
                  missing: list[str]) -> None:
    """A finished run recorded how many rows it wrote: a table holding fewer (a file cut
    short, or replaced by an older one) is damaged even when it reads cleanly."""
    written = meta.records
    if written is None:
        return
    have: dict[str, int | None] = {
        "requests": len(requests),
        "timeseries": None if timeseries is None else len(timeseries),
        "events": len(events),
        "spans": _parquet_rows(RunDir(directory).table("spans")),
    }
    for name, rows in have.items():
        expected = written.get(name)
        if rows is not None and expected is not None and rows != expected:
            missing.append(f"{name} holds {rows:,} rows, the run wrote {expected:,}")


def _parquet_rows(path: Path) -> int | None:
    try:
        return int(pq.read_metadata(path).num_rows)
    except (pa.ArrowException, OSError):
        return None
