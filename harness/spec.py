"""Building blocks of every input model: a strict frozen base, names, field-located errors.

This is a bottom-layer module: `faults` builds its specifications on it, and the
scenario schema builds on both."""

from __future__ import annotations

import re
from typing import Annotated, Any, NoReturn

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

__all__ = ["Name", "Spec", "fail_at", "shorthand"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


class Spec(BaseModel):
    """A frozen, strict piece of a scenario: unknown keys are errors."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def _check_name(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(
            f"{name!r} is not a valid name: start with a letter, then letters, digits, "
            "'-' or '_' (at most 64 characters)"
        )
    return name


#: The name of an agent, endpoint, tool, workflow or fault.
Name = Annotated[str, AfterValidator(_check_name)]


def shorthand(field: str) -> Any:
    """A before-validator turning a bare value into ``{field: value}``."""

    def expand(value: Any) -> Any:
        if isinstance(value, dict | BaseModel):  # the full form, as data or as a model
            return value
        return {field: value}

    expand.shorthand_key = field  # type: ignore[attr-defined]  # read by --set
    return expand


def fail_at(field: str | tuple[str | int, ...], message: str, title: str = "Spec") -> NoReturn:
    """Raise a validation error located at ``field`` of the model being validated (a
    model validator's own errors otherwise point at the whole model)."""
    loc = (field,) if isinstance(field, str) else field
    raise ValidationError.from_exception_data(
        title,
        [InitErrorDetails(type=PydanticCustomError("invalid", "{msg}", {"msg": message}),
                          loc=loc, input=None)],
    )
