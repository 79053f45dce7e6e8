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
            )
            for party in a.parties.values()
        ]
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

    def manual_queue(self, limit: int = 50, offset: int = 0) -> tuple[list[QueuedCase], int]:
        self.catch_up()
        rows = list(self._manual.values())
        return rows[offset : offset + limit], len(rows)
