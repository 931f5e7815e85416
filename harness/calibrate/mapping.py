"""Naming spans the GenAI conventions do not cover: a mapping file for `squall calibrate
--mapping`.

The first rule that matches a span names it, before the conventions do::

    rules:
      - match: {name: "^POST /v1/chat/completions"}   # a regular expression on the name
        as: llm
        component: attr:llm.model                        # or a fixed name
      - match: {attributes: {service.name: search-api}}  # resource attributes count too
        as: tool
        component: search
      - match: {name: "^GET /health"}
        as: ignore                                       # not a call, not its parent's time
    workflow: attr:app.workflow                          # the request's workflow, if not
                                                         # the root span's name
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import InputError, Problem

__all__ = ["Mapping", "Rule", "read_mapping"]

KINDS = {"agent", "llm", "tool", "ignore"}


def _attr(spec: str, attrs: dict[str, Any], default: str) -> str:
    """``attr:KEY`` → that attribute (``default`` when absent or empty); a name → itself."""
    if not spec.startswith("attr:"):
        return spec
    value = attrs.get(spec.removeprefix("attr:"))
    return str(value) if value not in (None, "") else default


@dataclass(frozen=True)
class Rule:
    name: re.Pattern[str] | None
    attributes: dict[str, str]
    kind: str  #: agent | llm | tool | ignore
    component: str | None  #: a name, ``attr:KEY``, or None: the span's name

    def matches(self, name: str, attrs: dict[str, Any]) -> bool:
        if self.name is not None and not self.name.search(name):
            return False
        return all(k in attrs and (v == "*" or str(attrs[k]) == v)
                   for k, v in self.attributes.items())


@dataclass
class Mapping:
    rules: list[Rule] = field(default_factory=list)
    workflow: str | None = None  #: "attr:KEY", or None: the root span's name

    def name(self, span: str, attrs: dict[str, Any]) -> tuple[str, str] | None:
        """(kind, component) by the first rule that matches, or None."""
        for rule in self.rules:
            if rule.matches(span, attrs):
                return rule.kind, _attr(rule.component or span, attrs, span)
        return None

    def workflow_of(self, root: str, attrs: dict[str, Any]) -> str:
        return root if self.workflow is None else _attr(self.workflow, attrs, root)


def read_mapping(path: Path) -> Mapping:
    source = str(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"cannot read the mapping: {exc}", source=source) from None
    if not isinstance(data, dict) or not set(data) <= {"rules", "workflow"}:
        raise InputError("a mapping has `rules` (a list) and, optionally, `workflow`",
                         source=source)
    problems, rules = [], []
    for i, raw in enumerate(data.get("rules") or []):
        where = f"{source}: rules[{i}]"
        if not isinstance(raw, dict) or not set(raw) <= {"match", "as", "component"}:
            problems.append(Problem("a rule has match, as and (optionally) component",
                                    source=where))
            continue
        match, kind = raw.get("match") or {}, raw.get("as")
        if kind not in KINDS:
            problems.append(Problem(f"as: {kind!r} is not one of {', '.join(sorted(KINDS))}",
                                    source=where))
            continue
        if not isinstance(match, dict) or not set(match) <= {"name", "attributes"} or not match:
            problems.append(Problem("match: give name (a regular expression), attributes "
                                    "(key: value), or both", source=where))
            continue
        try:
            pattern = re.compile(str(match["name"])) if "name" in match else None
        except re.error as exc:
            problems.append(Problem(f"match.name is not a regular expression: {exc}",
                                    source=where))
            continue
        attrs = match.get("attributes") or {}
        if not isinstance(attrs, dict):
            problems.append(Problem("match.attributes is key: value", source=where))
            continue
        component = raw.get("component")
        if kind not in ("ignore",) and component is not None and not isinstance(component, str):
            problems.append(Problem("component is a name or attr:KEY", source=where))
            continue
        rules.append(Rule(pattern, {str(k): str(v) for k, v in attrs.items()}, kind,
                           component))
    workflow = data.get("workflow")
    if workflow is not None and not (isinstance(workflow, str) and workflow.startswith("attr:")):
        problems.append(Problem("workflow is attr:KEY", source=f"{source}: workflow"))
    if problems:
        raise InputError(problems)
    return Mapping(rules, workflow)
