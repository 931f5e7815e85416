"""The loader never raises anything but InputError, whatever it is fed."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import InputError
from harness.scenario import parse_scenario
from harness.scenario.loader import validate_data
from harness.scenario.yamlio import Document, parse_document, walk
from tests.conftest import library

LIBRARY = [p.read_text() for p in library()]
BASE_DIR = library()[0].parent

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
    st.text(max_size=12),
    st.sampled_from(["5s", "-1s", "1h30m", "97%", "600/min", "abc", "", "poisson", "lognormal",
                     "agent.orders", "0", "1e400", "nan", "inf"]),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=10), inner, max_size=5)),
    max_leaves=25,
)


def _accepts(text: str) -> None:
    try:
        parse_scenario(text, "fuzz.yaml", base_dir=BASE_DIR)
    except InputError as exc:  # a valid document raises nothing at all
        assert exc.problems, "an InputError must say what is wrong"  # noqa: PT017
        for problem in exc.problems:
            assert problem.render()


@given(documents)
def test_random_documents_are_rejected_cleanly(doc: Any) -> None:
    _accepts(yaml.safe_dump(doc))


@given(st.text(max_size=300))
def test_random_text_is_rejected_cleanly(text: str) -> None:
    _accepts(text)


@given(data=st.data())
def test_mutated_library_scenarios_never_crash_the_loader(data: st.DataObject) -> None:
    text = data.draw(st.sampled_from(LIBRARY))
    doc = parse_document(text, "lib.yaml").data
    paths = [p for p, _ in walk(doc) if p]
    mutated = copy.deepcopy(doc)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        parent: Any = mutated
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = data.draw(st.sampled_from(["replace", "delete", "rename"]))
            if action == "replace":
                parent[path[-1]] = data.draw(documents)
            elif action == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
            elif action == "rename" and isinstance(parent, dict):
                parent[str(path[-1]) + "x"] = parent.pop(path[-1])
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    try:
        validate_data(Document(mutated, {}, "mutant.yaml"), base_dir=BASE_DIR)
    except InputError as exc:  # a mutant may still be valid
        assert exc.problems  # noqa: PT017
