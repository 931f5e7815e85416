"""The JSON paths a target's settings use to read answers: ``$.a.b[0]['c d']``.

The subset every JSONPath dialect agrees on — member names and array indexes from the
root — without filters or wildcards, so a path names one value or none.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator

__all__ = ["MISSING", "JsonPath", "lookup", "parse_path"]

_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\[(-?\d+)\]"
                   r"|\['((?:[^'\\]|\\.)*)'\]|\[\"((?:[^\"\\]|\\.)*)\"\]")
MISSING = object()  #: what :func:`lookup` returns for a path that names nothing


@lru_cache(maxsize=256)
def parse_path(path: str) -> tuple[str | int, ...]:
    """``$.a[0]`` → ``("a", 0)``; a ValueError says where a path goes wrong."""
    if not path.startswith("$"):
        raise ValueError(f"{path!r}: a JSON path starts with $ (as in $.usage.total_tokens)")
    steps: list[str | int] = []
    i = 1
    while i < len(path):
        m = _STEP.match(path, i)
        if m is None:
            raise ValueError(f"{path!r}: cannot read the path from {path[i:]!r} on; write "
                             "$.name, $[0] or $['a name']")
        name, index, quoted1, quoted2 = m.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(name if name is not None else (quoted1 if quoted1 is not None
                                                        else quoted2))
        i = m.end()
    return tuple(steps)


def _check(path: str) -> str:
    parse_path(path)
    return path


#: A JSON path, checked when the scenario is read.
JsonPath = Annotated[str, AfterValidator(_check)]


def lookup(data: Any, path: str) -> Any:
    """The value at ``path`` in ``data``, or :data:`MISSING`."""
    for step in parse_path(path):
        if isinstance(step, int):
            if not isinstance(data, list) or not -len(data) <= step < len(data):
                return MISSING
            data = data[step]
        else:
            if not isinstance(data, dict) or step not in data:
                return MISSING
            data = data[step]
    return data
