"""Follow-up's application service: tracks every case's clock and keeps its audit trail."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking

from services.followup.domain import (
    CaseHistory,
    FollowUpCase,
    Verification,
    causal_order,
    history_id,
)
from shared.domain import Trace, utcnow
from shared.envelope import CloudEvent
from shared.http import NotFound
from shared.messages import (
    CaseAcceptanceDecided,
    CaseAssigned,
    CaseAwaitingManualDispatch,
    CaseRegistered,
    parse,
)
from shared.processing import TrackedApplication


def history_entry(event: CloudEvent) -> dict[str, Any]:
    """What an auditor sees of one event: who, what, when, which service, and its cause."""
    return {
        "event_id": event.id,
        "service": event.service,
        "type": event.type,
        "time": event.time.isoformat(),
        "actor": event.actor.as_dict(),
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "data": event.data,
    }


NOTED = (
    CaseRegistered.TYPE,
    CaseAcceptanceDecided.TYPE,
    CaseAssigned.TYPE,
    CaseAwaitingManualDispatch.TYPE,
)
"""The events that change a case's status or clock; every event goes into the history."""


class FollowUpApplication(TrackedApplication):
    name = "followup"

    def __init__(
        self, env: dict[str, str] | None = None, clock: Callable[[], datetime] = utcnow
    ) -> None:
        super().__init__(env)
        self.clock = clock

    def handle(self, event: CloudEvent, tracking: Tracking) -> None:
        """Consumer entry point for all three services' events, each applied at most once."""
        case_id = UUID(event.subject)
        history = self._get(history_id(case_id), CaseHistory) or CaseHistory.start(case_id)
        if not history.record(history_entry(event)):  # already recorded, with its effects
            self.save_tracked(tracking)
            return
        case = self._get(case_id, FollowUpCase) or FollowUpCase.open(case_id)
        self._note(
            case,
            event.type,
            event.data,
            Trace(correlation_id=event.correlation_id, causation_id=event.id),
        )
        self.save_tracked(tracking, history, case)

    @staticmethod
    def _note(case: FollowUpCase, type_: str, data: dict[str, Any], trace: Trace) -> None:
        """What one event from another service means for the case's status and clock."""
        if type_ not in NOTED:
            return
        message = parse(type_, data)
        if isinstance(message, CaseRegistered):
            case.note_registration(
                subject=message.subject,
                category=message.category,
                location=message.location.model_dump(),
                registered_at=message.registered_at,
                first_receiver=message.first_receiver,
                trace=trace,
                notice_required=message.notice_required,
            )
        elif isinstance(message, CaseAcceptanceDecided):
            case.note_acceptance(message.decision, message.decided_at)
        elif isinstance(message, CaseAssigned):
            case.note_assignment(
                lead=message.lead.model_dump(),
                co_handlers=[d.model_dump() for d in message.co_handlers],
                assigned_at=message.assigned_at,
                trace=trace,
            )
        elif isinstance(message, CaseAwaitingManualDispatch):
            case.note_manual_dispatch(message.reason)

    def get_case(self, case_id: UUID, as_of: datetime | None = None) -> FollowUpCase:
        """The case now, or as it stood at `as_of`: replayed from the history entries of
        events that had happened by then, through the same rules as when they arrived."""
        if as_of is None:
            case = self._get(case_id, FollowUpCase)
            if case is None:
                raise NotFound(f"case {case_id}")
            return case  # type: ignore[no-any-return]
        entries, _ = self.history(case_id, as_of)
        if not entries:
            raise NotFound(f"case {case_id} as of {as_of.isoformat()}")
        case = FollowUpCase.open(case_id)
        for entry in entries:
            self._note(
                case,
                entry["type"],
                entry["data"],
                Trace(entry["correlation_id"], entry["event_id"]),
            )
        return case

    def history(
        self, case_id: UUID, as_of: datetime | None = None
    ) -> tuple[list[dict[str, Any]], Verification]:
        """Every event about the case, in causal order, rebuilt from the stored events,
        with the result of checking the hash chain."""
        history = self._get(history_id(case_id), CaseHistory)
        if history is None:
            raise NotFound(f"history of case {case_id}")
        entries = history.entries
        if as_of is not None:
            entries = [e for e in entries if datetime.fromisoformat(e["time"]) <= as_of]
        return causal_order(entries), history.verify()

    def _get(self, aggregate_id: UUID, kind: type[Any]) -> Any:
        aggregate = self.load(aggregate_id)
        assert aggregate is None or isinstance(aggregate, kind)
        return aggregate
