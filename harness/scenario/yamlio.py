"""Reading scenario documents (YAML or JSON) with the line of every key and item.

The loader follows YAML 1.2's core schema for plain scalars: only ``true``/``false`` are
booleans (``on``, ``no``, ``y`` stay strings), ``1e-5`` is a float, and ``10:00`` is not
a sexagesimal number. Duplicate keys are errors, not silently overwritten.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import yaml

from harness.errors import InputError, PathItem, Problem

__all__ = ["Document", "parse_document", "parse_value"]

Path = tuple[PathItem, ...]


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema implicit scalars."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in {"tag:yaml.org,2002:bool", "tag:yaml.org,2002:int",
                           "tag:yaml.org,2002:float"}]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9][0-9_]*|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+0123456789."),
)


def _int(loader: _Loader, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node)).replace("_", "")
    if text.startswith("0o"):
        return int(text[2:], 8)
    return int(text, 0) if text.startswith("0x") else int(text)


_Loader.add_constructor("tag:yaml.org,2002:int", _int)


class Document:
    """A parsed document: the data, and the line of each path inside it."""

    def __init__(self, data: Any, lines: dict[Path, int], source: str) -> None:
        self.data = data
        self.lines = lines
        self.source = source

    def line_of(self, path: Path) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def _problem(message: str, source: str, mark: Any = None) -> Problem:
    line = mark.line + 1 if mark is not None else None
    return Problem(message, source=source, line=line)


#: Values one document may expand to. Aliases (``*x``) repeat a node without repeating
#: its text, so a few lines can stand for billions of values (a "billion laughs"): the
#: expansion is counted and stopped here, long before memory runs out.
MAX_VALUES = 250_000
_MERGE = "tag:yaml.org,2002:merge"


class _Budget:
    """Values left to build, and how many leading pairs of each flattened mapping came
    from merge keys (a mapping reached again through an alias is flattened already)."""

    __slots__ = ("left", "merged")

    def __init__(self, values: int) -> None:
        self.left = values
        self.merged: dict[int, int] = {}

    def spend(self, node: yaml.Node, source: str) -> None:
        self.left -= 1
        if self.left < 0:
            raise InputError([_problem(
                f"the document expands to more than {MAX_VALUES:,} values (through YAML "
                "aliases?): not a scenario", source, node.start_mark)])


def _build(loader: _Loader, node: yaml.Node, path: Path, *, lines: dict[Path, int],
           problems: list[Problem], source: str, budget: _Budget) -> Any:
    budget.spend(node, source)

    def build(child: yaml.Node, at: Path) -> Any:
        return _build(loader, child, at, lines=lines, problems=problems, source=source,
                      budget=budget)

    if isinstance(node, yaml.MappingNode):
        if id(node) not in budget.merged:
            own = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE)
            loader.flatten_mapping(node)  # merged pairs (<<: *base) first, then its own
            budget.merged[id(node)] = len(node.value) - own
        merged = budget.merged[id(node)]
        out: dict[Any, Any] = {}
        from_merge: set[str] = set()
        for i, (key_node, value_node) in enumerate(node.value):
            key = build(key_node, path)
            if isinstance(key, list | dict):
                problems.append(_problem("a key must be a plain value", source,
                                         key_node.start_mark))
                continue
            key = key if isinstance(key, str) else str(key)
            if i < merged:  # merged pairs come in precedence order: the last one wins
                from_merge.add(key)
            elif key in from_merge:  # the mapping's own key overrides a merged one
                from_merge.discard(key)
            elif key in out:
                problems.append(_problem(f"duplicate key {key!r}", source, key_node.start_mark))
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = build(value_node, (*path, key))
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            items.append(build(item, (*path, i)))
        return items
    return loader.construct_object(node, deep=True)


def _yaml(text: str, source: str) -> Document:
    problems: list[Problem] = []
    lines: dict[Path, int] = {}
    loader: _Loader | None = None
    try:
        loader = _Loader(text)  # the reader rejects control characters right here
        node = loader.get_single_node()
        if node is None:
            raise InputError("the file is empty", source=source)
        data = _build(loader, node, (), lines=lines, problems=problems, source=source,
                      budget=_Budget(MAX_VALUES))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "malformed YAML"
        raise InputError([_problem(f"malformed YAML: {what}", source, mark)]) from None
    except yaml.YAMLError as exc:
        raise InputError(f"malformed YAML: {exc}", source=source) from None
    except RecursionError:
        raise InputError("the document nests too deeply", source=source) from None
    finally:
        if loader is not None:
            loader.dispose()
    if problems:
        raise InputError(problems)
    return Document(data, lines, source)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _json(text: str, source: str) -> Document:
    if not text.strip():
        raise InputError("the file is empty", source=source)
    try:
        data = json.loads(text, object_pairs_hook=_pairs)
    except json.JSONDecodeError as exc:
        raise InputError([Problem(f"malformed JSON: {exc.msg}", source=source, line=exc.lineno)]) \
            from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"malformed JSON: {exc}", source=source) from None
    try:  # JSON is YAML: borrow its line marks where the YAML reader agrees
        lines = _yaml(text, source).lines
    except InputError:
        lines = {}
    return Document(data, lines, source)


def parse_document(text: str, source: str, *, json_first: bool = False) -> Document:
    """Parse a scenario document; ``source`` names it in errors."""
    if "\0" in text:
        raise InputError("not a text file (it contains NUL bytes)", source=source)
    return _json(text, source) if json_first else _yaml(text, source)


def parse_value(text: str) -> Any:
    """A ``--set`` value: YAML flow syntax, so ``5``, ``30s``, ``[1, 2]``, ``{constant: 4}``."""
    try:
        return _yaml(text, "--set").data if text.strip() else ""
    except InputError:
        return text


def walk(data: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every (path, value) in a nested document, parents first."""
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from walk(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from walk(value, (*path, i))
