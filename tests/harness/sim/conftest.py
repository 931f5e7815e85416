"""Simulator tests write their runs under the test's own tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.sim import simkit


@pytest.fixture(autouse=True)
def _runs_in_tmp_path(tmp_path: Path) -> Iterator[None]:
    simkit.RUNS_DIR = tmp_path
    yield
    simkit.RUNS_DIR = None
