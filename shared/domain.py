"""Pieces of the domain model every service shares. Imports nothing from the outside world
(eventsourcing's aggregate is the one library the domain is written in)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeAlias

from eventsourcing.domain import Aggregate

ROLES = (
    "clerk",
    "handler",
    "supervisor",
    "leader",
    "auditor",
    "admin",
    "integration",
    "system",
    "petitioner",
)
"""Who may act. `integration` is another government system calling our API (12345 hotline,
a portal); `system` is one of our own services acting on an event, never a caller;
`petitioner` is the citizen rating the handling with their case code, never with a token."""


class Problem(NamedTuple):
    """One thing wrong with a request: the field it is in, and what to do about it."""

    field: str
    message: str


class Forbidden(Exception):
    """The caller is known but may not do this (403): their role, or the case's policy."""


class DomainError(Exception):
    """A rule of the domain was broken; the message says which, for a clerk to act on.

    `problems` lists every broken rule when several were checked at once (a submission, a
    territory file), so that one answer names every field to correct."""

    def __init__(
        self, message: str, field: str | None = None, problems: Iterable[Problem] = ()
    ) -> None:
        super().__init__(message)
        self.field = field
        self.problems = list(problems) or ([Problem(field, message)] if field else [])

    @classmethod
    def listing(cls, problems: Iterable[Problem]) -> DomainError:
        """One error naming every problem found (at least one)."""
        found = list(problems)
        first = found[0]
        if len(found) == 1:
            return cls(first.message, field=first.field, problems=found)
        listed = "; ".join(f"{p.field}: {p.message}" for p in found)
        return cls(f"{len(found)} problems — {listed}", field=first.field, problems=found)


@dataclass(frozen=True)
class Actor:
    """Who did something: a user with a role, perhaps in a department, or a service."""

    user: str
    role: str
    department: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise DomainError(f"unknown role {self.role!r}", field="role")
        if not self.user:
            raise DomainError("an actor needs a user name", field="user")

    @classmethod
    def service(cls, name: str) -> Actor:
        return cls(user=f"service:{name}", role="system")

    def as_dict(self) -> dict[str, Any]:
        # by hand: dataclasses.asdict copies deeply and was a fifth of reading a history
        return {"user": self.user, "role": self.role, "department": self.department}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Actor:
        return cls(user=data["user"], role=data["role"], department=data.get("department"))


@dataclass(frozen=True)
class Trace:
    """Where a change came from: the conversation it belongs to and the message that caused it."""

    correlation_id: str
    causation_id: str | None = None


def utcnow() -> datetime:
    return datetime.now(UTC)


class Attributed(Aggregate.Event):
    """Fields every audited event carries: who acted, and the conversation and message that
    caused it (for the history and the wire envelope)."""

    actor: dict[str, Any]
    correlation_id: str
    causation_id: str | None


class AttributedCreation(Aggregate.Created):
    actor: dict[str, Any]
    correlation_id: str
    causation_id: str | None


def attribution(actor: Actor, trace: Trace) -> dict[str, Any]:
    return {
        "actor": actor.as_dict(),
        "correlation_id": trace.correlation_id,
        "causation_id": trace.causation_id,
    }


StoredState: TypeAlias = dict[str, Any]
"""What the event store gives back of an event before the event is made (or of a value the
event carried, in an older shape): JSON's values and the value objects the transcoder knows.
An upcast brings it to the event's current shape."""


def replayed(aggregate: Any, events: Iterable[Any]) -> Any:
    """The aggregate after these events, each applied by its own `mutate`: eventsourcing's
    `project_aggregate`, without the runtime Protocol check it makes of every event (a
    typing `isinstance` against a Protocol, ~7 % of follow-up's time under load)."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate
