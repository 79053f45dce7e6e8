"""Follow-up's domain: the clock on every case, and the audit trail of every hand-off."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from shared.domain import Actor, DomainError, Trace


@dataclass(frozen=True)
class DeadlinePolicy:
    """A clock a case carries from the moment an event starts it."""

    kind: str
    period: timedelta
    starts_on: str  # "registration" or "assignment"
    rule: str
    legal_basis: str

    def schedule(self, start: datetime) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "starts_at": start,
            "due_at": start + self.period,
            "rule": self.rule,
            "legal_basis": self.legal_basis,
        }


POLICIES: tuple[DeadlinePolicy, ...] = (
    DeadlinePolicy(
        "acceptance-notice",
        timedelta(days=15),
        "registration",
        "tell the petitioner in writing within 15 days whether the matter is accepted",
        "《信访工作条例》第二十三条",
    ),
    DeadlinePolicy(
        "handling-plan",
        timedelta(days=1),
        "assignment",
        "13710: the lead department draws up a handling plan within 1 day",
        "13710 工作法",
    ),
    DeadlinePolicy(
        "first-report",
        timedelta(days=3),
        "assignment",
        "13710: report first progress to the supervision office within 3 days",
        "13710 工作法",
    ),
)


class FollowUpCase(Aggregate):
    """A case as follow-up tracks it until closed out (销号): its status and its deadlines.

    It learns of registration and assignment from two topics that may arrive in either
    order, so each note stands on its own and the status is derived from what is known.
    """

    class Opened(Aggregate.Created):
        pass

    class RegistrationNoted(Aggregate.Event):
        subject: str
        category: str
        location: dict[str, Any]
        registered_at: datetime
        first_receiver: str

        def apply(self, case: FollowUpCase) -> None:
            case.subject = self.subject
            case.category = self.category
            case.location = self.location
            case.registered_at = self.registered_at
            case.first_receiver = self.first_receiver

    class AssignmentNoted(Aggregate.Event):
        lead: dict[str, str]
        co_handlers: list[dict[str, str]]
        assigned_at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.lead = self.lead
            case.co_handlers = self.co_handlers
            case.assigned_at = self.assigned_at

    class ManualDispatchNoted(Aggregate.Event):
        reason: str

        def apply(self, case: FollowUpCase) -> None:
            case.manual_dispatch_reason = self.reason

    class AcceptanceNoted(Aggregate.Event):
        """Intake decided acceptance: the written notice owed within 15 days is given."""

        decision: str
        decided_at: datetime

        def apply(self, case: FollowUpCase) -> None:
            case.acceptance = self.decision
            for deadline in case.deadlines:
                if deadline["kind"] == "acceptance-notice" and not deadline.get("met_at"):
                    deadline["met_at"] = self.decided_at

    class DeadlinesScheduled(Aggregate.Event):
        deadlines: list[dict[str, Any]]
        actor: dict[str, Any]
        correlation_id: str
        causation_id: str | None

        def apply(self, case: FollowUpCase) -> None:
            case.deadlines.extend(self.deadlines)

    def __init__(self) -> None:
        self.subject: str | None = None
        self.category: str | None = None
        self.location: dict[str, Any] = {}
        self.registered_at: datetime | None = None
        self.first_receiver: str | None = None
        self.lead: dict[str, str] | None = None
        self.co_handlers: list[dict[str, str]] = []
        self.assigned_at: datetime | None = None
        self.manual_dispatch_reason: str | None = None
        self.acceptance: str | None = None
        self.deadlines: list[dict[str, Any]] = []

    @classmethod
    def open(cls, case_id: UUID) -> FollowUpCase:
        return cls._create(cls.Opened, id=case_id)

    @property
    def status(self) -> str:
        if self.acceptance in ("decline", "divert"):
            return "declined" if self.acceptance == "decline" else "diverted"
        if self.lead:
            return "assigned"
        if self.manual_dispatch_reason:
            return "awaiting-manual-dispatch"
        return "registered" if self.registered_at else "pending-registration"

    def note_registration(
        self,
        *,
        subject: str,
        category: str,
        location: dict[str, Any],
        registered_at: datetime,
        first_receiver: str,
        trace: Trace,
        notice_required: bool = True,
    ) -> None:
        """Starts the registration clocks; the acceptance notice only when one is owed
        (not when the petitioner's name or address is unknown, Art. 23 ¶2)."""
        if self.registered_at is not None:
            raise DomainError(f"case {self.id} was already registered", field="case_id")
        self.trigger_event(
            self.RegistrationNoted,
            subject=subject,
            category=category,
            location=location,
            registered_at=registered_at,
            first_receiver=first_receiver,
        )
        skip = () if notice_required else ("acceptance-notice",)
        self._schedule("registration", registered_at, trace, skip)

    def note_acceptance(self, decision: str, decided_at: datetime) -> None:
        self.trigger_event(self.AcceptanceNoted, decision=decision, decided_at=decided_at)

    def note_assignment(
        self,
        *,
        lead: dict[str, str],
        co_handlers: list[dict[str, str]],
        assigned_at: datetime,
        trace: Trace,
    ) -> None:
        self.trigger_event(
            self.AssignmentNoted, lead=lead, co_handlers=co_handlers, assigned_at=assigned_at
        )
        if not any(d["starts_at"] == assigned_at for d in self.deadlines):
            self._schedule("assignment", assigned_at, trace)

    def note_manual_dispatch(self, reason: str) -> None:
        self.trigger_event(self.ManualDispatchNoted, reason=reason)

    def _schedule(
        self, starts_on: str, start: datetime, trace: Trace, skip: tuple[str, ...] = ()
    ) -> None:
        deadlines = [
            p.schedule(start) for p in POLICIES if p.starts_on == starts_on and p.kind not in skip
        ]
        if not deadlines:
            return
        self.trigger_event(
            self.DeadlinesScheduled,
            deadlines=deadlines,
            actor=Actor.service("followup").as_dict(),
            correlation_id=trace.correlation_id,
            causation_id=trace.causation_id,
        )

    def deadlines_at(self, now: datetime) -> list[dict[str, Any]]:
        """Deadlines with their state at `now`: due in how long, or overdue."""
        return [
            {
                **d,
                "state": "met"
                if d.get("met_at") and d["met_at"] <= now
                else ("overdue" if now > d["due_at"] else "open"),
                "seconds_left": int((d["due_at"] - now).total_seconds()),
            }
            for d in sorted(self.deadlines, key=lambda d: d["due_at"])
        ]


GENESIS = "0" * 64


def entry_hash(previous: str, entry: dict[str, Any]) -> str:
    canonical = json.dumps(
        entry, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    )
    return hashlib.sha256(previous.encode() + canonical.encode()).hexdigest()


def history_id(case_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"onestop:case-history:{case_id}")


@dataclass(frozen=True)
class Verification:
    verified: bool
    entries: int
    head_hash: str
    broken_at: int | None = None
    problem: str | None = None


class CaseHistory(Aggregate):
    """The audit trail of one case: every event from every service, each entry hash-chained
    to the one before, so an altered or removed entry is detected on replay."""

    class Started(Aggregate.Created):
        case_id: str

        def apply(self, history: CaseHistory) -> None:
            history.case_id = self.case_id

    class EntryRecorded(Aggregate.Event):
        entry: dict[str, Any]
        previous_hash: str
        hash: str

        def apply(self, history: CaseHistory) -> None:
            history.entries.append(
                {**self.entry, "previous_hash": self.previous_hash, "hash": self.hash}
            )
            history.event_ids.add(self.entry["event_id"])

    def __init__(self) -> None:
        self.case_id = ""
        self.entries: list[dict[str, Any]] = []
        self.event_ids: set[str] = set()

    @classmethod
    def start(cls, case_id: UUID) -> CaseHistory:
        return cls._create(cls.Started, id=history_id(case_id), case_id=str(case_id))

    @property
    def head_hash(self) -> str:
        return self.entries[-1]["hash"] if self.entries else GENESIS

    def record(self, entry: dict[str, Any]) -> bool:
        """Append an entry; False if this event is already in the history (a redelivery)."""
        if entry["event_id"] in self.event_ids:
            return False
        previous = self.head_hash
        self.trigger_event(
            self.EntryRecorded,
            entry=entry,
            previous_hash=previous,
            hash=entry_hash(previous, entry),
        )
        return True

    def verify(self) -> Verification:
        previous = GENESIS
        for index, stored in enumerate(self.entries):
            entry = {k: v for k, v in stored.items() if k not in ("previous_hash", "hash")}
            if stored["previous_hash"] != previous:
                return Verification(
                    False,
                    len(self.entries),
                    self.head_hash,
                    index,
                    "an entry before this one is missing or was replaced",
                )
            if entry_hash(previous, entry) != stored["hash"]:
                return Verification(
                    False,
                    len(self.entries),
                    self.head_hash,
                    index,
                    "this entry was altered after it was recorded",
                )
            previous = stored["hash"]
        return Verification(True, len(self.entries), self.head_hash)


def causal_order(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Time order, except that nothing comes before the event that caused it."""
    by_id = {e["event_id"]: e for e in entries}
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()

    def place(entry: dict[str, Any], visiting: frozenset[str]) -> None:
        if entry["event_id"] in placed:
            return
        cause = by_id.get(entry.get("causation_id") or "")
        if cause is not None and cause["event_id"] not in visiting:
            place(cause, visiting | {entry["event_id"]})
        ordered.append(entry)
        placed.add(entry["event_id"])

    for entry in sorted(entries, key=lambda e: e["time"]):
        place(entry, frozenset())
    return ordered
