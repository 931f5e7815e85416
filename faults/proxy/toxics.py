"""Toxics: what the fault proxy does to the bytes it forwards.

The TCP toxics are Toxiproxy's, with its attribute names and units (so its clients work
unchanged); the HTTP toxics are Squall's, for faults a dependency shows at the HTTP level.
Each toxic has a ``stream`` (``upstream``: client → dependency, ``downstream``: back) and a
``toxicity``, the probability it acts: decided once per connection for TCP toxics (as
Toxiproxy does), once per request for HTTP toxics.

======================  ===========================================================
``latency``             delay each chunk by ``latency`` ± ``jitter`` ms
``bandwidth``           at most ``rate`` KB/s
``slow_close``          hold the close of a connection for ``delay`` ms
``timeout``             stop the data; close after ``timeout`` ms (0: hold until removed)
``reset_peer``          reset the connection (TCP RST) after ``timeout`` ms
``slicer``              cut chunks to ``average_size`` ± ``size_variation`` bytes,
                        ``delay`` µs apart
``limit_data``          close the connection after ``bytes`` bytes
``http_status``         answer requests with ``status`` (a 429 with ``retry_after`` s)
                        instead of forwarding them (upstream)
``http_corrupt``        replace response bodies with bytes no parser accepts (downstream)
``sse_cut``             reset a ``text/event-stream`` response after ``events`` events
                        (downstream)
======================  ===========================================================
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["TOXICS", "Stream", "Toxic", "ToxicError", "parse_toxic"]

NonNegative = Annotated[int, Field(ge=0)]


class ToxicError(ValueError):
    """A toxic (or its change) that cannot be applied; the message says why."""


class Stream(StrEnum):
    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"


class _Attributes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    http: ClassVar[bool] = False  #: acts on HTTP messages, not on bytes
    streams: ClassVar[frozenset[Stream]] = frozenset(Stream)


class Latency(_Attributes):
    latency: NonNegative = 0
    jitter: NonNegative = 0


class Bandwidth(_Attributes):
    rate: Annotated[int, Field(gt=0)]  #: KB/s


class SlowClose(_Attributes):
    delay: NonNegative = 0


class Timeout(_Attributes):
    timeout: NonNegative = 0


class ResetPeer(_Attributes):
    timeout: NonNegative = 0


class Slicer(_Attributes):
    average_size: Annotated[int, Field(gt=0)] = 1
    size_variation: NonNegative = 0
    delay: NonNegative = 0  #: microseconds


class LimitData(_Attributes):
    bytes: NonNegative = 0


class HttpStatus(_Attributes):
    http: ClassVar[bool] = True
    streams: ClassVar[frozenset[Stream]] = frozenset({Stream.UPSTREAM})
    status: Annotated[int, Field(ge=400, le=599)] = 503
    retry_after: Annotated[float, Field(ge=0)] | None = None  #: seconds (a 429's wait)
    body: str | None = None  #: default: an OpenAI-style JSON error


class HttpCorrupt(_Attributes):
    http: ClassVar[bool] = True
    streams: ClassVar[frozenset[Stream]] = frozenset({Stream.DOWNSTREAM})


class SseCut(_Attributes):
    http: ClassVar[bool] = True
    streams: ClassVar[frozenset[Stream]] = frozenset({Stream.DOWNSTREAM})
    events: NonNegative = 1


#: Toxic type → its attributes.
TOXICS: dict[str, type[_Attributes]] = {
    "latency": Latency, "bandwidth": Bandwidth, "slow_close": SlowClose, "timeout": Timeout,
    "reset_peer": ResetPeer, "slicer": Slicer, "limit_data": LimitData,
    "http_status": HttpStatus, "http_corrupt": HttpCorrupt, "sse_cut": SseCut,
}


class Toxic:
    """One toxic on one proxy (mutable: its attributes and toxicity can be updated)."""

    def __init__(self, name: str, type_: str, stream: Stream, *, toxicity: float,
                 attributes: _Attributes, lease_s: float | None = None) -> None:
        self.name, self.type, self.stream = name, type_, stream
        self.toxicity, self.attributes = toxicity, attributes
        self.lease_s = lease_s  #: Squall's extension: removed when a lease lapses
        self.expires: float | None = None

    @property
    def http(self) -> bool:
        return type(self.attributes).http

    def attr(self, key: str) -> Any:
        return getattr(self.attributes, key)

    def to_json(self) -> dict[str, Any]:
        out = {"name": self.name, "type": self.type, "stream": self.stream.value,
               "toxicity": self.toxicity,
               "attributes": self.attributes.model_dump(exclude_none=True)}
        if self.lease_s is not None:
            out["lease_s"] = self.lease_s
        return out

    def update(self, body: dict[str, Any]) -> None:
        """Toxiproxy's ``POST /proxies/{proxy}/toxics/{toxic}``: new attributes (merged),
        toxicity, or lease."""
        unknown = set(body) - {"attributes", "toxicity", "lease_s", "name", "type", "stream"}
        if unknown:
            raise ToxicError(f"unknown field(s) {', '.join(sorted(unknown))}")
        for key in ("type", "stream"):
            if key in body and body[key] != getattr(self, key):
                raise ToxicError(f"a toxic's {key} cannot change: remove it and add another")
        attrs = body.get("attributes", {})
        if not isinstance(attrs, dict):
            raise ToxicError("attributes must be a JSON object")
        self.attributes = _attributes(self.type, {**self.attributes.model_dump(), **attrs})
        if "toxicity" in body:
            self.toxicity = _toxicity(body["toxicity"])
        if "lease_s" in body:
            self.lease_s = _lease(body["lease_s"])


def _toxicity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ToxicError(f"toxicity must be a number from 0 to 1, not {value!r}")
    return float(value)


def _lease(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ToxicError(f"lease_s must be a positive number of seconds, not {value!r}")
    return float(value)


def _attributes(type_: str, raw: dict[str, Any]) -> _Attributes:
    model = TOXICS[type_]
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ToxicError(f"{type_} toxic: attributes.{where}: {err['msg']}") from None


def parse_toxic(body: Any) -> Toxic:
    """A toxic from Toxiproxy's JSON (``POST /proxies/{proxy}/toxics``)."""
    if not isinstance(body, dict):
        raise ToxicError("a toxic is a JSON object with type, stream, toxicity, attributes")
    unknown = set(body) - {"name", "type", "stream", "toxicity", "attributes", "lease_s"}
    if unknown:
        raise ToxicError(f"unknown field(s) {', '.join(sorted(unknown))}")
    type_ = body.get("type")
    if type_ not in TOXICS:
        raise ToxicError(f"unknown toxic type {type_!r}; types: {', '.join(TOXICS)}")
    try:
        stream = Stream(body.get("stream") or "downstream")
    except ValueError:
        raise ToxicError(f"stream must be upstream or downstream, not "
                         f"{body.get('stream')!r}") from None
    model = TOXICS[type_]
    if stream not in model.streams:
        only = next(iter(model.streams)).value
        raise ToxicError(f"a {type_} toxic acts on the {only} stream only")
    name = body.get("name") or f"{type_}_{stream.value}"
    if not isinstance(name, str):
        raise ToxicError(f"name must be a string, not {name!r}")
    attrs = body.get("attributes") or {}
    if not isinstance(attrs, dict):
        raise ToxicError("attributes must be a JSON object")
    return Toxic(name, type_, stream, toxicity=_toxicity(body.get("toxicity", 1.0)),
                 attributes=_attributes(type_, attrs), lease_s=_lease(body.get("lease_s")))
