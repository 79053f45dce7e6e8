"""Routing's domain: who owns a case, chosen by a dispatch rule an auditor can read back."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from shared.domain import Actor, DomainError, Trace


@dataclass(frozen=True)
class Department:
    """A unit that handles cases; stationed at the centre permanently, on rotation or on call."""

    code: str
    name: str
    tier: str
    stationing: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "name": self.name}


@dataclass(frozen=True)
class DispatchRule:
    """One line of the dispatch catalogue (派单目录): category × jurisdiction → departments."""

    rule_id: str
    category: str
    scope: tuple[str, ...]
    lead: str
    co_handlers: tuple[str, ...] = ()

    def covers(self, category: str, place: tuple[str, ...]) -> bool:
        return self.category == category and place[: len(self.scope)] == self.scope


def choose_rule(
    rules: Iterable[DispatchRule], category: str, location: dict[str, Any]
) -> DispatchRule | None:
    """The most specific rule covering the case (lowest tier able to handle it), or None."""
    place = tuple(
        p
        for p in (location.get("district"), location.get("street"), location.get("community"))
        if p
    )
    matching = [r for r in rules if r.covers(category, place)]
    if not matching:
        return None
    return min(matching, key=lambda r: (-len(r.scope), r.rule_id))


class AlreadyRouted(DomainError):
    pass


class Assignment(Aggregate):
    """主办/协办 — which department leads a case and which help; one per case (id = case id)."""

    class Assigned(Aggregate.Created):
        lead: dict[str, str]
        co_handlers: list[dict[str, str]]
        rule_id: str
        rule_version: str
        reason: str
        actor: dict[str, Any]
        correlation_id: str
        causation_id: str | None

        def apply(self, aggregate: Assignment) -> None:
            aggregate.status = "assigned"
            aggregate.lead = self.lead
            aggregate.co_handlers = self.co_handlers
            aggregate.rule_id = self.rule_id
            aggregate.rule_version = self.rule_version
            aggregate.reason = self.reason

    class QueuedForManualDispatch(Aggregate.Created):
        reason: str
        rule_version: str
        actor: dict[str, Any]
        correlation_id: str
        causation_id: str | None

        def apply(self, aggregate: Assignment) -> None:
            aggregate.status = "awaiting-manual-dispatch"
            aggregate.rule_version = self.rule_version
            aggregate.reason = self.reason

    def __init__(self) -> None:
        self.status = "new"
        self.lead: dict[str, str] | None = None
        self.co_handlers: list[dict[str, str]] = []
        self.rule_id: str | None = None
        self.rule_version = ""
        self.reason = ""

    @classmethod
    def route(
        cls,
        *,
        case_id: UUID,
        category: str,
        location: dict[str, Any],
        rules: Iterable[DispatchRule],
        departments: dict[str, Department],
        rule_version: str,
        actor: Actor,
        trace: Trace,
    ) -> Assignment:
        """Assign by the catalogue, or queue for manual dispatch if no rule covers the case."""
        common = {
            "rule_version": rule_version,
            "actor": actor.as_dict(),
            "correlation_id": trace.correlation_id,
            "causation_id": trace.causation_id,
        }
        rule = choose_rule(rules, category, location)
        where = "/".join(
            p
            for p in (location.get("district"), location.get("street"), location.get("community"))
            if p
        )
        if rule is None:
            return cls._create(
                cls.QueuedForManualDispatch,
                id=case_id,
                reason=f"no dispatch rule covers category {category!r} at {where}",
                **common,
            )
        lead = departments[rule.lead]
        return cls._create(
            cls.Assigned,
            id=case_id,
            lead=lead.as_dict(),
            co_handlers=[departments[c].as_dict() for c in rule.co_handlers],
            rule_id=rule.rule_id,
            reason=(
                f"rule {rule.rule_id} ({rule_version}): {category} in "
                f"{'/'.join(rule.scope)} → {lead.name}; case located at {where}"
            ),
            **common,
        )
