"""Every registered engine runs every conformance case: an engine that registers itself
(``harness.engines.register``) joins the parameter list and must pass the same cases.

The live engine joins when ``SQUALL_CONFORMANCE_LIVE=1``: each of its cases starts a
reference system, which ``make test`` cannot afford for all of them yet."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.engines import Mode, available_modes
from tests.conformance.kit import EngineUnderTest

MODES = [m for m in available_modes()
         if m is not Mode.LIVE or os.environ.get("SQUALL_CONFORMANCE_LIVE") == "1"]


@pytest.fixture(params=MODES, ids=lambda mode: mode.value)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> EngineUnderTest:
    mode: Mode = request.param
    return EngineUnderTest(mode, tmp_path)
