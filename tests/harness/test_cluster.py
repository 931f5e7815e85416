"""Sweeps and replications on a Dask cluster: the same results as local processes for
the same seeds, and an unreachable scheduler stops everything before it starts."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import distributed
import pandas as pd
import pytest

from harness.cli.main import main
from tests.harness.test_cli_guards import TINY


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None) as local:
        yield local.scheduler_address


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY)
    return path


def test_a_sweep_on_a_cluster_equals_the_local_sweep(cluster: str, tiny: Path,
                                                     tmp_path: Path) -> None:
    grid = ["--param", "system.agents.worker.replicas=1,2,3", "--param", "seed=1,2"]
    assert main(["sweep", str(tiny), *grid, "--out", str(tmp_path / "local"),
                 "--workers", "1"]) in (0, 1)
    assert main(["sweep", str(tiny), *grid, "--out", str(tmp_path / "dask"),
                 "--cluster", cluster]) in (0, 1)
    local = pd.read_csv(tmp_path / "local" / "sweep.csv")
    remote = pd.read_csv(tmp_path / "dask" / "sweep.csv")
    assert len(local) == 6
    pd.testing.assert_frame_equal(local, remote)


def test_replications_on_a_cluster_equal_local_ones(cluster: str, tiny: Path,
                                                    tmp_path: Path) -> None:
    for where, extra in (("local", ["--workers", "1"]), ("dask", ["--cluster", cluster])):
        assert main(["run", str(tiny), "--out", str(tmp_path / where), "-q", "--no-report",
                     "--replications", "3", *extra]) in (0, 3)
    local = json.loads((tmp_path / "local" / "summary.json").read_text())
    remote = json.loads((tmp_path / "dask" / "summary.json").read_text())
    assert local["metrics"] == remote["metrics"]
    assert local["seeds"] == remote["seeds"] == [2, 3, 4]


def test_an_unreachable_scheduler_is_bad_input_and_nothing_runs(
        tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    out = tmp_path / "sweep"
    assert main(["sweep", str(tiny), "--param", "seed=1,2", "--out", str(out),
                 "--cluster", address]) == 2
    err = capsys.readouterr().err
    assert address in err
    assert "cannot reach the Dask scheduler" in err
    assert not out.exists()
    assert main(["sweep", str(tiny), "--param", "seed=1,2", "--cluster", "nowhere"]) == 2
