"""The story a library scenario tells in its opening comment: the ``squall run … --set …``
block that fixes what goes wrong."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

__all__ = ["story"]

#: ``#   squall run scenarios/NAME.yaml …`` and the ``--set`` lines under it
_BLOCK = re.compile(r"^#\s+squall run scenarios/(?P<file>[\w-]+\.yaml)[^\n]*\n"
                    r"(?P<sets>(?:#\s+--set [^\n]+\n)+)", re.MULTILINE)


def story(path: Path) -> list[str] | None:
    """The ``--set`` overrides of the fix a scenario's comment gives, or None."""
    m = _BLOCK.search(path.read_text())
    if m is None or m.group("file") != path.name:
        return None
    overrides = []
    for line in m.group("sets").splitlines():
        words = shlex.split(line.lstrip("#").strip().rstrip("\\").strip())
        overrides += [w for i, w in enumerate(words) if i and words[i - 1] == "--set"]
    return overrides
