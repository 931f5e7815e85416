"""The layout of a run directory, in one place.

::

    run.json            how the run was made and how it ended (status, counts written)
    scenario.json       the scenario as run (canonical data; traces point into traces/)
    scenario.yaml       the file as the user wrote it
    requests.parquet    spans.parquet    timeseries.parquet    events.jsonl
    .NAME.arrows        a table's stream while the run goes (crash-safe)
    summary.json        the score and the verdict        report.html  the report
    traces/             copies of the scenario's trace files
    rep-NNN/            replications, each a run directory of its own
    counterfactual/without-ID/   the run without fault ID (``--attribute``)
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["RunDir"]


class RunDir:
    """A run directory's paths. It reads and writes nothing itself."""

    RUN = "run.json"
    SCENARIO = "scenario.json"
    SOURCE = "scenario.yaml"
    SUMMARY = "summary.json"
    REPORT = "report.html"
    COMPARE = "compare.html"
    EVENTS = "events.jsonl"
    TRACES = "traces"
    COUNTERFACTUALS = "counterfactual"
    TABLES = ("requests", "spans", "timeseries")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def run_json(self) -> Path:
        return self.path / self.RUN

    @property
    def scenario(self) -> Path:
        return self.path / self.SCENARIO

    @property
    def source(self) -> Path:
        return self.path / self.SOURCE

    @property
    def summary(self) -> Path:
        return self.path / self.SUMMARY

    @property
    def report(self) -> Path:
        return self.path / self.REPORT

    @property
    def events(self) -> Path:
        return self.path / self.EVENTS

    @property
    def traces(self) -> Path:
        return self.path / self.TRACES

    def table(self, name: str) -> Path:
        """A finished table: ``requests.parquet``."""
        return self.path / f"{name}.parquet"

    def stream(self, name: str) -> Path:
        """A table's stream while the run goes: ``.requests.arrows``."""
        return self.path / f".{name}.arrows"

    def replication(self, index: int) -> Path:
        return self.path / f"rep-{index:03d}"

    def replications(self) -> list[Path]:
        """The replication run directories of an aggregate run, in order."""
        return sorted(p for p in self.path.glob("rep-*") if p.is_dir())

    @property
    def aggregate(self) -> bool:
        """Whether this directory aggregates replications (it has no records of its own)."""
        return bool(self.replications()) and not self.table("requests").exists()

    def counterfactual(self, fault: str) -> Path:
        """The run of the same scenario without ``fault`` (same seed, same arrivals)."""
        return self.path / self.COUNTERFACTUALS / f"without-{fault}"

    @classmethod
    def files(cls) -> tuple[str, ...]:
        """Every file and folder a run writes at its top level (replications aside)."""
        return (cls.RUN, cls.SCENARIO, cls.SOURCE, *(f"{t}.parquet" for t in cls.TABLES),
                *(f".{t}.arrows" for t in cls.TABLES), cls.EVENTS, cls.SUMMARY, cls.REPORT,
                cls.TRACES, cls.COUNTERFACTUALS)
