"""Every event of every aggregate of the three services is either mapped to its wire
contract or declared internal, so a new event class cannot be dropped from the wire
unnoticed; and one neither mapped nor declared is refused, for the relay to park."""

import importlib
import pkgutil

import pytest
from eventsourcing.domain import Aggregate, CanMutateAggregate

from services.followup import wire as followup_wire
from services.intake import wire as intake_wire
from services.routing import wire as routing_wire
from shared.registry import TerritoryReplica
from shared.wiring import UnmappedEvent, Wire

WIRES = {"intake": intake_wire.WIRE, "routing": routing_wire.WIRE, "followup": followup_wire.WIRE}
SHARED = {"intake": {TerritoryReplica}, "followup": {TerritoryReplica}, "routing": set()}
"""Aggregates of shared code a service stores too: the replica of routing's registry."""


def aggregates_of(service: str) -> set[type[Aggregate]]:
    """The aggregate classes a service stores: those its modules define that no other of
    them extends (follow-up's case is stored as `FollowUpCase`, never as its clocks)."""
    package = importlib.import_module(f"services.{service}")
    found: set[type[Aggregate]] = set()
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        module = importlib.import_module(info.name)
        found |= {
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and issubclass(value, Aggregate)
            and value.__module__ == module.__name__
        }
    stored = {a for a in found if not any(b is not a and issubclass(b, a) for b in found)}
    return stored | SHARED[service]


def events_of(aggregate: type[Aggregate]) -> set[type]:
    """Its event classes, but `Event` and `Created`: eventsourcing defines those on every
    aggregate (the base class, and a creation event ours never use, each naming its own)."""
    return {
        value
        for name in dir(aggregate)
        if name not in ("Event", "Created")
        and isinstance(value := getattr(aggregate, name), type)
        and issubclass(value, CanMutateAggregate)
    }


@pytest.mark.parametrize("service", sorted(WIRES))
def test_every_event_of_every_aggregate_is_mapped_or_kept_internal(service):
    wire = WIRES[service]
    aggregates = aggregates_of(service)
    assert aggregates, service
    events = {e for a in aggregates for e in events_of(a)}
    undecided = sorted(e.__qualname__ for e in events - wire.mapped - wire.kept_internal)
    assert undecided == [], f"map these to a contract in {service}/wire.py or keep them internal"
    stale = sorted(e.__qualname__ for e in (wire.mapped | wire.kept_internal) - events)
    assert stale == [], "declared on the wire but no aggregate's event"


def test_an_event_neither_mapped_nor_kept_internal_is_refused_not_dropped():
    class Thing(Aggregate):
        class Happened(Aggregate.Event):
            pass

        def happen(self) -> None:
            self.trigger_event(self.Happened)

    thing = Thing()
    thing.happen()
    created, happened = thing.collect_events()
    wire = Wire("routing")
    wire.internal(Thing.Created)
    assert wire.to_cloudevent(created) is None
    with pytest.raises(UnmappedEvent, match=r"Thing\.Happened"):
        wire.to_cloudevent(happened)  # the relay parks it on the dead-letter topic
    with pytest.raises(ValueError, match="declared twice"):
        wire.internal(Thing.Created)
