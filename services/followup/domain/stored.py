"""Reading what earlier releases stored: events whose fields were plain JSON before they were
value objects are read into the value objects by their upcasters, with these two helpers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from shared.values import revive

V = TypeVar("V")


def records(value: object) -> list[Mapping[str, object]]:
    """A stored list of JSON objects, each checked to be one."""
    if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
        raise TypeError(f"expected a list of JSON objects, found {value!r}")
    return list(value)


def record(value: object) -> Mapping[str, object]:
    """A stored JSON object, checked to be one."""
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a JSON object, found {value!r}")
    return value


def revived(kind: type[V], fields: Mapping[str, object]) -> V:
    """A value object from the fields an earlier release stored under the same names (enums,
    nested value objects and tuples are rebuilt from the annotations)."""
    found = revive(kind, dict(fields))
    if not isinstance(found, kind):
        raise TypeError(f"{fields!r} is not a {kind.__name__}")
    return found
