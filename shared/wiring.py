"""How a service's domain events become wire contracts: a registry, one entry per event class.

Each event class that goes on the wire has the one function that builds its contract; each
that does not is declared internal. An event class that is neither is a bug the relay parks
on the dead-letter topic rather than drop in silence, and a unit test holds every event of
every aggregate of the three services to one or the other, so a new event class is decided
when it is written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from eventsourcing.utils import resolve_topic

from shared.envelope import CloudEvent, from_domain_event
from shared.messages import Contract, dump
from shared.settings import ServiceName

Mapper = TypeVar("Mapper", bound=Callable[[Any], Contract])


class UnmappedEvent(LookupError):
    """An event class its service neither maps to a contract nor keeps internal."""


class Wire:
    """One service's mapping of its domain event classes to versioned contracts."""

    def __init__(self, service: ServiceName) -> None:
        self.service = service
        self._mappers: dict[type, Callable[[Any], Contract]] = {}
        self._internal: set[type] = set()

    def _declare(self, cls: type) -> None:
        if cls in self._mappers or cls in self._internal:
            raise ValueError(f"{cls.__qualname__} is declared twice on {self.service}'s wire")

    def maps(self, *classes: type) -> Callable[[Mapper], Mapper]:
        """Decorates the function that builds the contract of an event of these classes."""

        def register(mapper: Mapper) -> Mapper:
            for cls in classes:
                self._declare(cls)
                self._mappers[cls] = mapper
            return mapper

        return register

    def internal(self, *classes: type) -> None:
        """Events of these classes stay inside the service."""
        for cls in classes:
            self._declare(cls)
            self._internal.add(cls)

    @property
    def mapped(self) -> frozenset[type]:
        return frozenset(self._mappers)

    @property
    def kept_internal(self) -> frozenset[type]:
        return frozenset(self._internal)

    def publishes(self, topic: str) -> bool:
        """Whether a stored event of this topic may go on the wire at all (the relay skips
        the rest without decrypting them). By the class the topic resolves to, so events
        stored under a class's earlier topic are treated alike."""
        return resolve_topic(topic) not in self._internal

    def message(self, event: Any) -> Contract | None:
        """The contract of a domain event, or None if it stays inside the service."""
        mapper = self._mappers.get(type(event))
        if mapper is not None:
            return mapper(event)
        if type(event) in self._internal:
            return None
        raise UnmappedEvent(
            f"{type(event).__qualname__} is neither mapped to a contract nor kept internal "
            f"on {self.service}'s wire"
        )

    def to_cloudevent(self, event: Any) -> CloudEvent | None:
        message = self.message(event)
        if message is None:
            return None
        return from_domain_event(self.service, event, dump(message), message.TYPE)
