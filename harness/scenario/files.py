"""The files a scenario names (demand traces, payload samples), found in its data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["repoint_files"]


def repoint_files(data: Any, move: Callable[[str, str], str]) -> None:
    """Call ``move(kind, name)`` for each file ``data`` (a scenario as plain data) names —
    ``kind`` is ``"trace"`` (``trace.file``) or ``"payloads"`` (``target.payloads``) — and
    put what it returns in its place."""
    if isinstance(data, dict):
        trace = data.get("trace")
        if isinstance(trace, dict) and isinstance(trace.get("file"), str):
            trace["file"] = move("trace", trace["file"])
        target = data.get("target")
        if isinstance(target, dict) and isinstance(target.get("payloads"), str):
            target["payloads"] = move("payloads", target["payloads"])
        for value in data.values():
            repoint_files(value, move)
    elif isinstance(data, list):
        for value in data:
            repoint_files(value, move)
