"""Routing's application service: reacts to registrations by assigning the case."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import Tracking

from services.routing.catalogue import CATALOGUE_VERSION, DEPARTMENTS, RULES
from services.routing.domain import Assignment
from shared.domain import Actor, Trace
from shared.envelope import CloudEvent
from shared.http import NotFound
from shared.messages import CaseRegistered, parse
from shared.processing import TrackedApplication

ROUTING = Actor.service("routing")


class RoutingApplication(TrackedApplication):
    name = "routing"

    def handle(self, event: CloudEvent, tracking: Tracking) -> None:
        """Consumer entry point: one intake event, applied at most once."""
        if event.type != CaseRegistered.TYPE:
            return  # other intake events do not concern routing
        message = parse(event.type, event.data)
        assert isinstance(message, CaseRegistered)
        case_id = UUID(message.case_id)
        if self.load(case_id) is not None:  # the same registration relayed twice: no second effect
            self.save_tracked(tracking)
            return
        assignment = Assignment.route(
            case_id=case_id,
            category=message.category,
            location=message.location.model_dump(),
            rules=RULES,
            departments=DEPARTMENTS,
            rule_version=CATALOGUE_VERSION,
            actor=ROUTING,
            trace=Trace(correlation_id=event.correlation_id, causation_id=event.id),
        )
        self.save_tracked(tracking, assignment)

    def get_assignment(self, case_id: UUID) -> Assignment:
        try:
            assignment: Assignment = self.repository.get(case_id)
        except AggregateNotFoundError:
            raise NotFound(f"an assignment for case {case_id}") from None
        return assignment
