"""Writing a run directory as the run goes.

Rows are buffered as tuples (the cheapest thing an engine's hot path can append) and
flushed every ``flush_rows`` rows — and, when the engine calls :meth:`RunWriter.tick`,
at least every ``flush_s`` seconds of wall time — to an Arrow IPC *stream*
(``.requests.arrows``): a stream is readable up to its last complete batch even if the
process dies mid-write. ``close()`` turns each stream into Parquet (``requests.parquet``)
and removes it.

A row of the wrong width is refused where it is appended; a value of the wrong type is
named (table, row, column) when its batch is built, never silently misaligned.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow import ipc

from harness.outcomes import RunStatus
from harness.records.events import RecordError, check_event
from harness.records.meta import RunMeta
from harness.records.rundir import RunDir
from harness.records.schema import TABLES

__all__ = ["RunWriter", "TableWriter", "write_json"]


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (write a temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
        os.replace(tmp, path)
    except OSError as exc:  # name the file asked for, not the temporary one
        raise OSError(exc.errno, exc.strerror, str(path)) from None


class TableWriter:
    """One table: ``append(row_tuple)``; flushed in batches to a crash-safe stream."""

    def __init__(self, directory: Path, name: str, schema: pa.Schema,
                 flush_rows: int = 65536) -> None:
        self.name, self.schema, self.flush_rows = name, schema, flush_rows
        self.stream_path = RunDir(directory).stream(name)
        self.parquet_path = RunDir(directory).table(name)
        self.rows: list[tuple[Any, ...]] = []
        self.width = len(schema)
        self.count = 0
        self._sink: pa.NativeFile | None = None
        self._writer: ipc.RecordBatchStreamWriter | None = None

    def append(self, row: tuple[Any, ...]) -> None:
        if len(row) != self.width:
            raise RecordError(f"a {self.name} row has {len(row)} fields, the table "
                              f"{self.width}: {', '.join(self.schema.names)}")
        self.rows.append(row)
        if len(self.rows) >= self.flush_rows:
            self.flush()

    def _batch(self) -> pa.RecordBatch:
        columns: list[Sequence[Any]] = (
            list(zip(*self.rows, strict=True)) if self.rows else [[]] * len(self.schema))
        arrays = []
        for field, col in zip(self.schema, columns, strict=True):
            try:
                if pa.types.is_dictionary(field.type):
                    arrays.append(pa.array(col, pa.string()).dictionary_encode())
                else:
                    arrays.append(pa.array(col, field.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
                raise self._bad_value(field) from None
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _bad_value(self, field: pa.Field) -> RecordError:
        """The first buffered row whose ``field`` does not fit its type."""
        index = self.schema.names.index(field.name)
        target = pa.string() if pa.types.is_dictionary(field.type) else field.type
        for i, row in enumerate(self.rows):
            try:
                pa.array([row[index]], target)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
                return RecordError(f"{self.name} row {self.count + i}: {field.name} = "
                                   f"{row[index]!r} is not {target}")
        return RecordError(f"{self.name}: column {field.name} does not fit {target}")

    def flush(self) -> None:
        if not self.rows:
            return
        batch = self._batch()
        if self._writer is None:
            self._sink = pa.OSFile(str(self.stream_path), "wb")
            self._writer = ipc.new_stream(self._sink, self.schema)
        self._writer.write_batch(batch)
        self._sink.flush()  # type: ignore[union-attr]
        self.count += len(self.rows)
        self.rows = []

    def close(self) -> None:
        """Flush, then rewrite the stream as Parquet in row groups of ``flush_rows``
        (memory stays at about two groups however long the run); an empty table if
        nothing came. The row groups do not depend on when the stream was flushed (by
        rows or by wall time), so the same run gives the same bytes."""
        self.flush()
        tmp = self.parquet_path.with_name(f".{self.parquet_path.name}.tmp")
        with pq.ParquetWriter(tmp, self.schema, compression="zstd") as out:
            if self._writer is not None:
                self._writer.close()
                self._sink.close()  # type: ignore[union-attr]
                with pa.OSFile(str(self.stream_path), "rb") as source:
                    for group in self._row_groups(ipc.open_stream(source)):
                        out.write_table(group)
        os.replace(tmp, self.parquet_path)
        if self.stream_path.exists():
            self.stream_path.unlink()


    def _row_groups(self, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.Table]:
        """The stream's rows re-cut into groups of ``flush_rows``, each in one chunk per
        column with dictionaries in first-seen order."""
        pending: list[pa.RecordBatch] = []
        rows = 0
        for batch in batches:
            pending.append(batch)
            rows += batch.num_rows
            while rows >= self.flush_rows:
                table = pa.Table.from_batches(pending, self.schema)
                yield self._canonical(table.slice(0, self.flush_rows))
                rest = table.slice(self.flush_rows)
                pending, rows = rest.to_batches(), rest.num_rows
        if rows:
            yield self._canonical(pa.Table.from_batches(pending, self.schema))

    def _canonical(self, table: pa.Table) -> pa.Table:
        columns = [
            column.cast(pa.string()).combine_chunks().dictionary_encode()
            if pa.types.is_dictionary(field.type) else column
            for field, column in zip(self.schema, table.columns, strict=True)]
        return pa.Table.from_arrays(columns, schema=self.schema).combine_chunks()


class RunWriter:
    """A run directory: the three tables, the event log and ``run.json``."""

    def __init__(self, directory: Path, meta: RunMeta | Mapping[str, Any],
                 flush_rows: int = 65536,
                 flush_s: float = 1.0) -> None:
        self.directory = directory
        self.flush_s = flush_s
        self._flushed = time.monotonic()
        directory.mkdir(parents=True, exist_ok=True)
        self.tables = {
            name: TableWriter(directory, name, schema, flush_rows)
            for name, schema in TABLES.items()
        }
        self.requests = self.tables["requests"]
        self.spans = self.tables["spans"]
        self.timeseries = self.tables["timeseries"]
        self._events = RunDir(directory).events.open("w", buffering=1 << 16)
        self.events = 0
        start = meta if isinstance(meta, RunMeta) else RunMeta.model_validate(meta)
        self.meta = start.model_copy(update={"status": RunStatus.RUNNING})
        write_json(RunDir(directory).run_json, self.meta.to_json())

    def event(self, t: float, type_: str, /, **fields: Any) -> None:
        """One line of ``events.jsonl``: ``{"t_s": …, "type": …, …}`` (see
        :mod:`harness.records.events` for the types and their fields)."""
        check_event(type_, fields.keys())
        self._events.write(json.dumps({"t_s": round(t, 6), "type": type_, **fields}) + "\n")
        self.events += 1

    def flush(self) -> None:
        for table in self.tables.values():
            table.flush()
        self._events.flush()
        self._flushed = time.monotonic()

    def tick(self) -> None:
        """Flush if ``flush_s`` seconds of wall time have passed since the last flush:
        an engine calls this often (the simulator at each sampling step, the live
        driver on a timer), so a killed run loses at most about that much."""
        if time.monotonic() - self._flushed >= self.flush_s:
            self.flush()

    def close(self, status: RunStatus | str = RunStatus.COMPLETE, **meta: Any) -> None:
        """Finish every table and record how the run ended."""
        self._events.close()
        for table in self.tables.values():
            table.close()
        # What was written, so a reader can tell a whole record from a damaged one.
        counts = {name: table.count for name, table in self.tables.items()}
        self.meta = RunMeta.model_validate({**self.meta.to_json(), **meta,
                                            "status": RunStatus(status),
                                            "records": {**counts, "events": self.events}})
        write_json(RunDir(self.directory).run_json, self.meta.to_json())
