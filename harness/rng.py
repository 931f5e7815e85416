"""Named, seeded random streams.

Every consumer of randomness gets its own stream derived from the scenario seed and a
stable name, so adding a draw in one place never shifts the draws of another, and one
seed gives bit-identical results on every machine (PCG64 is platform independent).
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["stream"]


def stream(seed: int, name: str) -> np.random.Generator:
    """The generator for ``name`` under ``seed``."""
    key = zlib.crc32(name.encode("utf-8"))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed & 0xFFFFFFFF, key])))
