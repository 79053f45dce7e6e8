"""Value objects in stored events: each frozen dataclass of the domain is stored through the
event store's transcoder under its own name (as eventsourcing's cargo-shipping example
stores its `Location` and `Itinerary`), and read back as the same typed object; an event's
own fields are read back as the types its class declares (`TypedMapper`)."""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import Enum
from functools import cache
from typing import Any, TypeVar, Union
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent, Transcoding


class ValueObjectTranscoding(Transcoding):
    """A frozen dataclass as a dict of its fields; nested value objects, enums and tuples
    are rebuilt from their annotations when read back."""

    def __init__(self, kind: type) -> None:
        self.type = kind
        self.name = kind.__name__

    def encode(self, obj: Any) -> dict[str, Any]:
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}

    def decode(self, data: dict[str, Any]) -> Any:
        return revive(self.type, data)


def register_values(transcoder: JSONTranscoder, *kinds: type) -> None:
    """Let the transcoder store and read these value objects."""
    for kind in kinds:
        transcoder.register(ValueObjectTranscoding(kind))


E = TypeVar("E")


class TypedMapper(Mapper[UUID]):
    """Reads a stored event back with the types its class declares for its fields.

    A `StrEnum` is stored as its plain string, which the transcoder never sees, and a tuple
    as a JSON list: without this, an event declared to carry a `Level` or a tuple of value
    objects would be read back carrying a `str` or a list.
    """

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        return typed(super().to_domain_event(stored_event))


def typed(event: E) -> E:
    """The event with its fields as its class declares them (see `TypedMapper`)."""
    state = vars(event)
    kind: type = type(event)
    for name, hint in _typed_fields(kind):
        if name in state:
            state[name] = _coerce(hint, state[name])
    return event


def revive(kind: type, data: dict[str, Any]) -> Any:
    """A value object from its fields as JSON gave them back (lists, plain strings)."""
    hints = _hints(kind)
    return kind(**{name: _coerce(hints[name], value) for name, value in data.items()})


@cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


@cache
def _typed_fields(kind: type) -> tuple[tuple[str, Any], ...]:
    """The fields of an event class that JSON alone does not give back as declared."""
    return tuple((name, hint) for name, hint in _hints(kind).items() if _typed(hint))


def _typed(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return any(_typed(arg) for arg in typing.get_args(hint))
    if origin is tuple:
        return True
    return isinstance(hint, type) and (issubclass(hint, Enum) or dataclasses.is_dataclass(hint))


def _coerce(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is not type(None):
                return _coerce(arg, value)
    if origin is tuple:
        args = typing.get_args(hint)
        return tuple(_coerce(args[0], v) for v in value) if args else tuple(value)
    if isinstance(hint, type):
        if isinstance(value, hint):
            return value
        if issubclass(hint, Enum):
            return hint(value)
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            return revive(hint, value)
    return value
