"""Loading a scenario file: parse, apply ``--set`` overrides, validate, explain.

Every problem is reported at once, each with the file, the line and the field path::

    shop.yaml:14: system.agents.orders.replicaz: unknown key (did you mean 'replicas'?)
    shop.yaml:31: faults[0].target: no agent named 'order'  (did you mean 'orders'?) ...
"""

from __future__ import annotations

import types
from collections.abc import Iterable, Sequence
from inspect import isclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, Tag, ValidationError
from pydantic_core import ErrorDetails

from harness.errors import InputError, PathItem, Problem
from harness.scenario.model import Scenario
from harness.scenario.yamlio import Document, parse_document, parse_value
from harness.suggest import did_you_mean

__all__ = ["apply_overrides", "load_scenario", "parse_scenario", "read_document", "validate_data"]

Loc = tuple[PathItem, ...]
_MAX_BYTES = 16 * 1024 * 1024


# --- overrides -------------------------------------------------------------------------


def _split_path(text: str) -> list[str]:
    parts: list[str] = []
    for chunk in text.replace("[", ".").replace("]", "").split("."):
        if chunk == "":
            raise ValueError("empty segment")
        parts.append(chunk)
    return parts


def _shorthand_key(loc: Sequence[PathItem]) -> str | None:
    """The key a shorthand value at ``loc`` stands for (``replicas: 3`` → ``initial``)."""
    tp: Any = Scenario
    for item in loc:
        tp = _child(tp, item)
        if tp is None:
            return None
    while get_origin(tp) is Annotated:
        args = get_args(tp)
        for meta in args[1:]:
            key = getattr(getattr(meta, "func", None), "shorthand_key", None)
            if key is not None:
                return str(key)
        tp = args[0]
    return None


def _set(data: Any, parts: list[str], value: Any, where: str) -> Loc:
    """Set ``value`` at ``parts`` inside ``data``; return the resolved path."""
    node: Any = data
    loc: list[PathItem] = []
    for depth, part in enumerate(parts):
        if not isinstance(node, dict | list) and depth > 0:
            # A shorthand (``replicas: 3``) in the way: expand it to its mapping form.
            key = _shorthand_key(loc)
            if key is not None:
                parent = data
                for item in loc[:-1]:
                    parent = parent[item]
                node = parent[loc[-1]] = {key: node}
        last = depth == len(parts) - 1
        if isinstance(node, list):
            index = _list_index(node, part, where)
            loc.append(index)
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if not isinstance(node, dict):
            shown = ".".join(parts[:depth])
            raise InputError(f"{shown} is a value, not a mapping: cannot set {part!r} "
                             "inside it", source=where)
        if part not in node and _is_named_map(loc):
            # ``system.agents.workr`` must not conjure a new agent out of a typo
            names = [str(k) for k in node]
            shown = ".".join(str(x) for x in loc) or "(top level)"
            raise InputError(f"{shown} has no entry {part!r}{did_you_mean(part, names)}; "
                             f"entries: {', '.join(names) or 'none'} (--set changes existing "
                             "entries only)", source=where)
        loc.append(part)
        if last:
            node[part] = value
        else:
            node = node.setdefault(part, {})
    return tuple(loc)


def _is_named_map(loc: Sequence[PathItem]) -> bool:
    """Whether the field at ``loc`` is a map of named things (agents, endpoints …)."""
    tp: Any = Scenario
    for item in loc:
        tp = _child(tp, item)
        if tp is None:
            return False
    return get_origin(_unwrap(tp)) is dict


def _list_index(items: list[Any], part: str, where: str) -> int:
    if part.lstrip("-").isdigit():
        index = int(part)
        if not -len(items) <= index < len(items):
            raise InputError(f"index {index} is out of range (the list has {len(items)} items)",
                             source=where)
        return index % len(items)
    for i, item in enumerate(items):  # faults are addressed by id as well as by position
        if isinstance(item, dict) and part in (item.get("id"), item.get("name")):
            return i
    ids = [str(item.get("id")) for item in items if isinstance(item, dict) and item.get("id")]
    raise InputError(f"no list item with id {part!r}{did_you_mean(part, ids)}", source=where)


def apply_overrides(data: Any, overrides: Sequence[str]
                    ) -> tuple[Any, dict[Loc, str], list[Problem]]:
    """Apply ``PATH=VALUE`` overrides; return the data, which paths each one set, and the
    problems of overrides that could not be applied."""
    if not isinstance(data, dict):
        return data, {}, []
    set_by: dict[Loc, str] = {}
    problems: list[Problem] = []
    for text in overrides:
        where = f"--set {text}"
        path, eq, raw = text.partition("=")
        if not eq or not path.strip():
            problems.append(Problem("expected PATH=VALUE, e.g. system.agents.orders.replicas=4",
                                    source=where))
            continue
        try:
            parts = _split_path(path.strip())
        except ValueError:
            problems.append(Problem(f"bad path {path!r}", source=where))
            continue
        try:
            loc = _set(data, parts, parse_value(raw), where)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        set_by[loc] = where
    return data, set_by, problems


# --- error explanation -----------------------------------------------------------------


def _clean_loc(raw: Any, loc: Sequence[PathItem], kind: str) -> Loc:
    """Drop union tags and validator names from a pydantic location, keeping data keys
    (and, for a missing or unknown key, the key itself)."""
    out: list[PathItem] = []
    node = raw
    items = list(loc)
    for i, item in enumerate(items):
        last = i == len(items) - 1
        in_dict = isinstance(node, dict) and item in node
        in_list = isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node)
        if in_dict or in_list:
            out.append(item)
            node = node[item]
        elif isinstance(node, dict) and last and kind in {"missing", "extra_forbidden"}:
            out.append(item)  # a missing key, named by its field
        elif not isinstance(node, dict | list):
            break
    return tuple(out)


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _tag(tp: Any) -> str | None:
    if get_origin(tp) is Annotated:
        for meta in get_args(tp)[1:]:
            if isinstance(meta, Tag):
                return meta.tag
    inner = _unwrap(tp)
    if isclass(inner) and issubclass(inner, BaseModel):
        for field in inner.model_fields.values():
            if get_origin(field.annotation) is Literal and len(get_args(field.annotation)) == 1:
                return str(get_args(field.annotation)[0])
    return None


def _child(tp: Any, item: PathItem) -> Any:
    tp = _unwrap(tp)
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        members = [m for m in get_args(tp) if m is not type(None)]
        for m in members:
            if _tag(m) == item:
                return m
        for m in members:
            found = _child(m, item)
            if found is not None:
                return found
        return None
    if isclass(tp) and issubclass(tp, BaseModel):
        for name, field in tp.model_fields.items():
            if item in (name, field.alias):
                if field.metadata:  # pydantic keeps Annotated extras apart: put them back
                    return Annotated[(field.annotation, *field.metadata)]
                return field.annotation
        return None
    if origin is dict:
        return get_args(tp)[1]
    if origin in (list, tuple):
        return get_args(tp)[0]
    return None


def _fields_at(loc: Sequence[PathItem]) -> list[str]:
    """The keys the model at ``loc`` (a raw pydantic location) accepts."""
    tp: Any = Scenario
    for item in loc:
        tp = _child(tp, item)
        if tp is None:
            return []
    inner = _unwrap(tp)
    if get_origin(inner) in (Union, types.UnionType):
        inner = next((m for m in map(_unwrap, get_args(inner)) if isclass(m)), None)
    if isclass(inner) and issubclass(inner, BaseModel):
        return [f.alias or n for n, f in inner.model_fields.items()]
    return []


def _message(err: ErrorDetails) -> str:
    kind, msg = err["type"], err["msg"]
    loc = err["loc"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        fields = _fields_at(loc[:-1])
        hint = did_you_mean(key, fields)
        known = f"; allowed: {', '.join(fields)}" if fields and not hint else ""
        return f"unknown key {key!r}{hint}{known}"
    if kind == "missing":
        return "required, but missing"
    if kind in {"value_error", "assertion_error"}:
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if kind == "union_tag_invalid":
        ctx = err.get("ctx") or {}
        tag, expected = str(ctx.get("tag", "")), str(ctx.get("expected_tags", ""))
        names = [t.strip(" '") for t in expected.split(",")]
        return f"unknown kind {tag!r}{did_you_mean(tag, names)}; kinds: {expected}"
    if "[key]" in [str(x) for x in loc]:
        return f"{loc[-2]!r}: {msg}" if len(loc) > 1 else msg
    return str(msg[0].lower() + msg[1:]) if msg else kind


def _problems(exc: ValidationError, doc: Document, set_by: dict[Loc, str]) -> list[Problem]:
    problems, seen = [], set()
    for err in exc.errors(include_url=False):
        loc = _clean_loc(doc.data, err["loc"], err["type"])
        message = _message(err)
        key = (loc, message)
        if key in seen:
            continue
        seen.add(key)
        override = next((w for p, w in set_by.items() if loc[: len(p)] == p), None)
        if override is not None:
            problems.append(Problem(message, loc, source=override))
        else:
            problems.append(Problem(message, loc, source=doc.source, line=doc.line_of(loc)))
    problems.sort(key=lambda p: (p.source != doc.source, p.line or 0))
    return problems


# --- entry points ----------------------------------------------------------------------


def validate_data(doc: Document, overrides: Iterable[str] = (), *,
                  base_dir: Path | None = None, allow_paths: Sequence[Path] = ()) -> Scenario:
    """Validate a parsed document (after overrides) into a :class:`Scenario`."""
    data, set_by, bad_overrides = apply_overrides(doc.data, list(overrides))
    if not isinstance(data, dict):
        raise InputError([Problem(
            f"a scenario is a mapping of keys (name, duration, system, ...), got "
            f"{type(data).__name__}", source=doc.source, line=1)])
    try:
        scenario = Scenario.model_validate(
            data, context={"base_dir": base_dir, "allow_paths": list(allow_paths)})
    except ValidationError as exc:
        found = _problems(exc, Document(data, doc.lines, doc.source), set_by)
        raise InputError([*found, *bad_overrides]) from None
    except RecursionError:
        raise InputError("the scenario nests too deeply", source=doc.source) from None
    if bad_overrides:
        raise InputError(bad_overrides)
    return scenario


def parse_scenario(text: str, source: str = "<scenario>", overrides: Iterable[str] = (), *,
                   base_dir: Path | None = None, json_first: bool = False,
                   allow_paths: Sequence[Path] = ()) -> Scenario:
    """Parse and validate scenario text. Trace files are read from ``base_dir`` (or
    ``allow_paths``) only."""
    return validate_data(parse_document(text, source, json_first=json_first), overrides,
                         base_dir=base_dir, allow_paths=allow_paths)


def load_scenario(path: str | Path, overrides: Iterable[str] = (), *,
                  allow_paths: Sequence[Path] = ()) -> Scenario:
    """Load, override and validate a scenario file (YAML or JSON)."""
    path = Path(path)
    return validate_data(read_document(path), overrides, base_dir=path.parent,
                         allow_paths=allow_paths)


def read_document(path: Path) -> Document:
    """A scenario file parsed (not validated); ``InputError`` if it cannot be read."""
    source = str(path)
    if not path.exists():
        raise InputError("no such file", source=source)
    if path.is_dir():
        raise InputError("is a directory, not a scenario file", source=source)
    if path.stat().st_size > _MAX_BYTES:
        raise InputError(f"larger than {_MAX_BYTES >> 20} MB: not a scenario", source=source)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", source=source) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", source=source) from None
    return parse_document(text, source, json_first=path.suffix.lower() == ".json")
