"""Department inboxes: a read model of which department has which case, in what state.

Built from routing's notification log (so it can always be rebuilt), kept in memory and
brought up to date before each query. A department never sees a case it is barred from
(an accusation against it, Art. 30): barred units are no party to the assignment.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from services.routing.domain import Assignment
from shared.projection import LogFollower, current

STATES = ("awaiting-acceptance", "accepted", "objected", "awaiting-handler", "released")
ROLES = ("lead", "co-handler")


class Inbox:
    def __init__(self, app: Any) -> None:
        self.app = app
        self._rows: dict[UUID, list[dict[str, Any]]] = {}
        self._manual: dict[UUID, dict[str, Any]] = {}
        self._log = LogFollower(app, Assignment, lambda i, v: self._project(current(app, i, v)))

    def catch_up(self) -> None:
        self._log.catch_up()

    def _project(self, a: Assignment) -> None:
        self._rows[a.id] = [
            {
                "case_id": str(a.id),
                "department": party["code"],
                "role": party["role"],
                "state": party["state"],
                "case_status": a.status,
                "since": party["since"],
                "objection_due": party["objection_due"],
                "handler": party["handler"],
                "level": a.level,
                "category": a.category,
                "restricted": a.accused is not None,
            }
            for party in a.parties.values()
        ]
        if a.status == "awaiting-manual-dispatch":
            self._manual[a.id] = {
                "case_id": str(a.id),
                "reason": a.reason,
                "category": a.category,
                "level": a.level,
            }
        else:
            self._manual.pop(a.id, None)

    def query(
        self,
        *,
        department: str,
        state: str | None = None,
        role: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """A department's cases, newest first; `state` and `role` narrow it down."""
        self.catch_up()
        rows = [
            r
            for rows in list(self._rows.values())
            for r in rows
            if r["department"] == department
            and (state is None or r["state"] == state)
            and (role is None or r["role"] == role)
        ]
        rows.sort(key=lambda r: (r["since"], r["case_id"]), reverse=True)
        return rows[offset : offset + limit], len(rows)

    def manual_queue(self, limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        self.catch_up()
        rows = list(self._manual.values())
        return rows[offset : offset + limit], len(rows)
