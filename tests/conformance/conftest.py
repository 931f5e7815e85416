"""Every registered engine runs every conformance case: an engine that registers itself
(``harness.engines.register``) joins the parameter list and must pass the same cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.engines import Mode, available_modes
from tests.conformance.kit import EngineUnderTest


@pytest.fixture(params=available_modes(), ids=lambda mode: mode.value)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> EngineUnderTest:
    mode: Mode = request.param
    return EngineUnderTest(mode, tmp_path)
