"""``run.json``: how a run was made and how it ended, as typed data.

Written when the run starts (status ``running``) and rewritten when it ends. A reader
that finds it damaged says so and goes on with what it can (:func:`read_meta`). Keys
this version does not know are kept as they are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.outcomes import RunStatus

__all__ = ["RunMeta", "read_meta"]


class RunMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    mode: str = "sim"
    status: RunStatus = RunStatus.RUNNING
    seed: int | None = None
    arrivals_seed: int | None = None  #: the arrivals were drawn under this seed, not seed
    scenario: str | None = None  #: the scenario's name
    scenario_digest: str | None = None
    schedule_fingerprint: str | None = None
    arrivals: int | None = None  #: arrivals in the schedule
    overrides: list[str] = Field(default_factory=list)
    scenario_dir: str | None = None  #: where the scenario file was
    #: ``run_dir``: the scenario's files (traces) are copied into the run directory
    inputs: Literal["run_dir"] | None = None
    command: str = ""
    started_at: str | None = None
    elapsed_s: float | None = None
    warmup_s: float = 0.0
    drain_s: float = 0.0
    versions: dict[str, str] = Field(default_factory=dict)
    completed: int | None = None
    dropped: int | None = None
    #: rows of each table and lines of the event log written (a finished run)
    records: dict[str, int] | None = None
    replications: int | None = None  #: an aggregate run: how many were asked for
    seeds: list[int] | None = None
    #: A live run: how well the load generator held its schedule (harness.live.health)
    generator: dict[str, Any] | None = None
    time_scale: float | None = None  #: a live run played K times faster
    stopped_by: str | None = None  #: the stop condition that aborted the run
    failure: str | None = None  #: what broke a failed run off
    #: Why the run cannot pass whatever its gates say (a fault that was never applied…)
    doubts: list[str] = Field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status is RunStatus.COMPLETE

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = self.model_dump(mode="json")
        return data


def read_meta(path: Path, missing: list[str]) -> RunMeta:
    """The run.json at ``path``; a missing or damaged one is noted in ``missing`` and
    read as a run of unknown outcome (status ``running``: never complete)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        missing.append(f"{path.name} is missing")
        return RunMeta()
    except (OSError, ValueError):
        missing.append(f"{path.name} is unreadable")
        return RunMeta()
    try:
        return RunMeta.model_validate(data)
    except ValidationError as exc:
        where = ".".join(str(x) for x in exc.errors()[0]["loc"]) or "(top level)"
        missing.append(f"{path.name} is damaged ({where}: {exc.errors()[0]['msg']})")
        return RunMeta()
