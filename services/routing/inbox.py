"""Department inboxes: a read model of which department has which case, in what state.

Built from routing's notification log (so it can always be rebuilt), kept in memory and
brought up to date before each query. A department never sees a case it is barred from
(an accusation against it, Art. 30): barred units are no party to the assignment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from services.routing.domain import Assignment, Level, PartyState, Role, Status
from shared.processing import TrackedApplication
from shared.projection import LogFollower, current


@dataclass(frozen=True)
class InboxEntry:
    """A department's part in a case, as its inbox lists it."""

    case_id: str
    department: str
    role: Role
    state: PartyState
    case_status: Status
    since: datetime
    objection_due: datetime
    handler: str | None
    level: Level
    category: str | None
    restricted: bool
    rule_id: str | None
    """The catalogue rule that sent the case here (None: by hand, a review, a meeting)."""
    rule_version: str | None
    leader: str | None
    """The leader who holds the case personally (包案), once one does."""


@dataclass(frozen=True)
class HeldCase:
    """A case a leader holds personally (包案), as their list shows it."""

    case_id: str
    leader: str
    status: Status
    level: Level
    category: str | None
    lead: str | None
    since: datetime
    note: str


@dataclass(frozen=True)
class QueuedCase:
    """A case no rule covers, waiting to be dispatched by hand."""

    case_id: str
    reason: str
    category: str | None
    level: Level


class Inbox:
    def __init__(self, app: TrackedApplication) -> None:
        self._rows: dict[UUID, list[InboxEntry]] = {}
        self._manual: dict[UUID, QueuedCase] = {}
        self._held: dict[UUID, HeldCase] = {}
        self._log = LogFollower(app, Assignment, lambda i, v: self._project(current(app, i, v)))

    def catch_up(self) -> None:
        self._log.catch_up()

    def _project(self, a: Assignment) -> None:
        self._rows[a.id] = [
            InboxEntry(
                case_id=str(a.id),
                department=party.code,
                role=party.role,
                state=party.state,
                case_status=a.status,
                since=party.since,
                objection_due=party.objection_due,
                handler=party.handler,
                level=a.level,
                category=a.category,
                restricted=a.accused is not None,
                rule_id=a.rule_id,
                rule_version=a.rule_version,
                leader=a.leader.user if a.leader else None,
            )
            for party in a.parties.values()
        ]
        if a.leader is not None:
            self._held[a.id] = HeldCase(
                str(a.id),
                a.leader.user,
                a.status,
                a.level,
                a.category,
                a.lead.code if a.lead else None,
                a.leader.at,
                a.leader.note,
            )
        if a.status is Status.AWAITING_MANUAL_DISPATCH:
            self._manual[a.id] = QueuedCase(str(a.id), a.reason, a.category, a.level)
        else:
            self._manual.pop(a.id, None)

    def query(
        self,
        *,
        department: str,
        state: PartyState | None = None,
        role: Role | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[InboxEntry], int]:
        """A department's cases, newest first; `state` and `role` narrow it down."""
        self.catch_up()
        rows = [
            r
            for rows in list(self._rows.values())
            for r in rows
            if r.department == department
            and (state is None or r.state == state)
            and (role is None or r.role == role)
        ]
        rows.sort(key=lambda r: (r.since, r.case_id), reverse=True)
        return rows[offset : offset + limit], len(rows)

    def held_by(self, user: str, limit: int = 50, offset: int = 0) -> tuple[list[HeldCase], int]:
        """The cases `user` holds personally, the longest held first."""
        self.catch_up()
        rows = sorted(
            (r for r in list(self._held.values()) if r.leader == user),
            key=lambda r: (r.since, r.case_id),
        )
        return rows[offset : offset + limit], len(rows)

    def manual_queue(self, limit: int = 50, offset: int = 0) -> tuple[list[QueuedCase], int]:
        self.catch_up()
        rows = list(self._manual.values())
        return rows[offset : offset + limit], len(rows)
