"""A service's own value objects and enums in its stored events: an application stores the
value objects it names (`value_objects`) and reads every event back with the types its
class declares, though JSON gives back a `StrEnum` as a plain string and a tuple as a list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import JSONTranscoder, TranscodingNotRegisteredError
from hypothesis import given
from hypothesis import strategies as st

from shared.processing import TrackedApplication
from shared.values import FastJSONTranscoder


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True)
class Swatch:
    name: str
    colour: Colour


class Palette(Aggregate):
    class Painted(Aggregate.Event):
        colour: Colour
        accent: Colour | None
        swatches: tuple[Swatch, ...]
        names: tuple[str, ...]

        def apply(self, palette: Palette) -> None:
            palette.swatches += self.swatches

    def __init__(self) -> None:
        self.swatches: tuple[Swatch, ...] = ()

    def paint(self, *swatches: Swatch) -> None:
        self.trigger_event(
            self.Painted,
            colour=Colour.RED,
            accent=None,
            swatches=swatches,
            names=tuple(s.name for s in swatches),
        )


class Studio(TrackedApplication):
    value_objects = (Swatch,)


def test_events_are_read_back_with_the_enums_tuples_and_value_objects_they_declare():
    studio = Studio()
    palette = Palette()
    palette.paint(Swatch("sky", Colour.BLUE), Swatch("brick", Colour.RED))
    studio.save(palette)

    _, painted = studio.events.get(palette.id)
    assert type(painted.colour) is Colour and painted.accent is None
    assert painted.swatches == (Swatch("sky", Colour.BLUE), Swatch("brick", Colour.RED))
    assert type(painted.swatches[0].colour) is Colour
    assert painted.names == ("sky", "brick")
    replayed = project_aggregate(None, studio.events.get(palette.id))
    assert replayed.swatches == painted.swatches


def _both(studio: Studio) -> tuple[JSONTranscoder, FastJSONTranscoder]:
    plain = JSONTranscoder()
    studio.register_transcodings(plain)
    return plain, studio.mapper.transcoder


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON)
def test_stored_json_reads_back_the_same_through_orjson_as_through_the_json_module(value):
    """Reading stored events with orjson gives what eventsourcing's JSON transcoder gave
    from the same bytes, whatever JSON they hold — value objects, datetimes, UUIDs and
    look-alikes of the transcoder's `{"_type_", "_data_"}` objects included."""
    plain, fast = _both(Studio())
    stored = plain.encode(
        {
            "any": value,
            "at": datetime(2026, 12, 1, 23, 5, 7, 123456, tzinfo=UTC),
            "id": UUID("50144e16-7c0d-4bcb-817a-c2a4bbd7e75f"),
            "swatches": [Swatch("sky", Colour.BLUE), {"nested": [Swatch("brick", Colour.RED)]}],
            "look-alike": {"_type_": "Swatch", "_data_": {"name": "x"}, "extra": value},
        }
    )
    assert fast.decode(stored) == plain.decode(stored)


def test_what_orjson_refuses_is_read_by_the_json_module_and_unknown_types_still_fail():
    plain, fast = _both(Studio())
    for stored in (b'{"n": NaN}', b'{"big": 123456789012345678901234567890}'):
        assert repr(fast.decode(stored)) == repr(plain.decode(stored))
    with pytest.raises(TranscodingNotRegisteredError):
        fast.decode(b'{"x": {"_type_": "Unknown", "_data_": 1}}')
    with pytest.raises(ValueError):
        fast.decode(b'{"x": ')  # a damaged record is an error, as it was
