"""A service's own value objects and enums in its stored events: an application stores the
value objects it names (`value_objects`) and reads every event back with the types its
class declares, though JSON gives back a `StrEnum` as a plain string and a tuple as a list."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from eventsourcing.application import project_aggregate
from eventsourcing.domain import Aggregate

from shared.processing import TrackedApplication


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
