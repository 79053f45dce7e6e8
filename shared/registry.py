"""A service's replica of routing's registry: the centre's territory as routing last told it.

Routing owns the registry; every change to it is a `RegistryChanged` event on its topic,
keyed by the registry's id so that they arrive in order. Intake and follow-up apply each
to this aggregate in their own store, with the Kafka position, exactly once — so after a
restart they know the territory without asking anyone, and an admin's change reaches every
service within moments, without a restart and without a second copy kept by hand.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Tracking

from shared.envelope import CloudEvent
from shared.messages import RegistryChanged, parse
from shared.processing import TrackedApplication
from shared.territory import Entity, Layout, Statistics, Territory

REPLICA_ID = uuid5(NAMESPACE_URL, "onestop:territory-replica")


class TerritoryReplica(Aggregate):
    """The territory as routing's registry published it."""

    class Started(Aggregate.Created):
        pass

    class Heard(Aggregate.Event):
        change: Entity | Layout | Statistics
        by: str

        def apply(self, replica: TerritoryReplica) -> None:
            replica.territory.put(self.change)

    class CentreHeard(Aggregate.Event):
        name: str
        by: str

        def apply(self, replica: TerritoryReplica) -> None:
            replica.territory.centre = self.name

    def __init__(self) -> None:
        self.territory = Territory()

    @classmethod
    def start(cls) -> TerritoryReplica:
        return cls._create(cls.Started, id=REPLICA_ID)

    def hear(self, message: RegistryChanged) -> None:
        change = message.change
        if isinstance(change, str):
            self.trigger_event(self.CentreHeard, name=change, by=message.by)
        else:
            self.trigger_event(self.Heard, change=change, by=message.by)


REPLICA_EVENTS = (TerritoryReplica.Started, TerritoryReplica.Heard, TerritoryReplica.CentreHeard)
"""Kept in the service's own store, never put on the wire again (see `shared.wiring`)."""


def hears_registry(event: CloudEvent) -> bool:
    return event.type == RegistryChanged.TYPE


def hear_registry(app: TrackedApplication, event: CloudEvent, tracking: Tracking) -> None:
    """Apply one registry change to the service's replica, with its Kafka position.

    The replica is reference data: readers are handed the cached object itself (see
    `replicated_territory`), so a change is made to a copy (`to_change`), which replaces it
    once saved. Changed in place, a reader's territory moved under it, and whatever it had
    made from that object (the queue's layout, kept per territory object) went stale.
    """
    message = parse(event.type, event.data)
    assert isinstance(message, RegistryChanged)
    try:
        found = app.reference(REPLICA_ID, to_change=True)
    except AggregateNotFoundError:
        found = None
    replica = found if isinstance(found, TerritoryReplica) else TerritoryReplica.start()
    replica.hear(message)
    app.save_tracked(tracking, replica)


def replicated_territory(app: TrackedApplication) -> Territory:
    """The service's replica, to read (shared, never changed in place); empty until routing's
    registry has been heard."""
    try:
        replica = app.reference(REPLICA_ID)
    except AggregateNotFoundError:
        return Territory()
    return replica.territory if isinstance(replica, TerritoryReplica) else Territory()
