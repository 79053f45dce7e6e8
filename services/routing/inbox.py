"""Department inboxes: a read model of which department has which case, in what state.

A projection of routing's notification log into two tables (shared/projection.py): each
assignment's row (its status, rung of the ladder, and why it waits for a person if no rule
covered it) and its departments' parts; brought up to date before each query. A department
never sees a case it is barred from (an accusation against it, Art. 30): barred units are
no party to the assignment.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from psycopg import sql
from psycopg.rows import dict_row

from services.routing.domain import Assignment, Level, PartyState, Role, Status
from shared.listing import count_matches
from shared.processing import TrackedApplication
from shared.projection import MemoryTables, PostgresTables, Projected, Projector, Tables
from shared.settings import Settings


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


def project_assignment(a: Assignment) -> Projected:
    manual = a.status is Status.AWAITING_MANUAL_DISPATCH
    return Projected(
        a.id,
        a.version,
        {
            "status": a.status.value,
            "level": a.level.value,
            "category": a.category,
            "restricted": a.accused is not None,
            "manual_reason": a.reason if manual else None,
            "rule_id": a.rule_id,
            "rule_version": a.rule_version,
            "lead": a.lead.code if a.lead else None,
            "leader": a.leader.user if a.leader else None,
            "leader_since": a.leader.at if a.leader else None,
            "leader_note": a.leader.note if a.leader else None,
        },
        [
            {
                "department": party.code,
                "role": party.role.value,
                "state": party.state.value,
                "since": party.since,
                "objection_due": party.objection_due,
                "handler": party.handler,
            }
            for party in a.parties.values()
        ],
    )


CASE_COLUMNS = (
    *("status", "level", "category", "restricted", "manual_reason", "rule_id", "rule_version"),
    *("lead", "leader", "leader_since", "leader_note"),
)
PARTY_COLUMNS = ("department", "role", "state", "since", "objection_due", "handler")


@dataclass(frozen=True)
class InboxQuery:
    department: str
    state: PartyState | None = None
    role: Role | None = None
    limit: int = 50
    offset: int = 0


def _entry(party: dict[str, Any], case: dict[str, Any]) -> InboxEntry:
    return InboxEntry(
        case_id=str(party["id"]),
        department=party["department"],
        role=Role(party["role"]),
        state=PartyState(party["state"]),
        case_status=Status(case["status"]),
        since=party["since"],
        objection_due=party["objection_due"],
        handler=party["handler"],
        level=Level(case["level"]),
        category=case["category"],
        restricted=case["restricted"],
        rule_id=case["rule_id"],
        rule_version=case["rule_version"],
        leader=case["leader"],
    )


def _held(case: dict[str, Any]) -> HeldCase:
    return HeldCase(
        str(case["id"]),
        case["leader"],
        Status(case["status"]),
        Level(case["level"]),
        case["category"],
        case["lead"],
        case["leader_since"],
        case["leader_note"],
    )


def _queued(case: dict[str, Any]) -> QueuedCase:
    return QueuedCase(
        str(case["id"]), case["manual_reason"], case["category"], Level(case["level"])
    )


@dataclass(frozen=True)
class Gauges:
    """What the operators' metrics count (services/routing/metrics.py)."""

    cases_by_level: dict[str, int]
    parts: dict[tuple[str, str], int]
    """(department, state of its answer) → how many, in cases not withdrawn."""
    manual_queue: int


class InboxTables(Tables, Protocol):
    def query(self, query: InboxQuery) -> tuple[list[InboxEntry], int]: ...

    def manual_queue(self, limit: int, offset: int) -> tuple[list[QueuedCase], int]: ...

    def held_by(self, user: str, limit: int, offset: int) -> tuple[list[HeldCase], int]: ...

    def gauges(self) -> Gauges: ...


class MemoryInbox(MemoryTables):
    """The inboxes in memory, for unit tests."""

    def query(self, query: InboxQuery) -> tuple[list[InboxEntry], int]:
        cases = {r["id"]: r for r in self.rows()}
        rows = [
            _entry(p, cases[p["id"]])
            for p in self.child_rows()
            if p["department"] == query.department
            and (query.state is None or p["state"] == query.state)
            and (query.role is None or p["role"] == query.role)
        ]
        rows.sort(key=lambda r: (r.since, r.case_id), reverse=True)
        return rows[query.offset : query.offset + query.limit], len(rows)

    def manual_queue(self, limit: int, offset: int) -> tuple[list[QueuedCase], int]:
        waiting = sorted(
            (r for r in self.rows() if r["manual_reason"] is not None), key=lambda r: str(r["id"])
        )
        return [_queued(r) for r in waiting[offset : offset + limit]], len(waiting)

    def held_by(self, user: str, limit: int, offset: int) -> tuple[list[HeldCase], int]:
        held = sorted(
            (r for r in self.rows() if r["leader"] == user),
            key=lambda r: (r["leader_since"], str(r["id"])),
        )
        return [_held(r) for r in held[offset : offset + limit]], len(held)

    def gauges(self) -> Gauges:
        cases = {r["id"]: r for r in self.rows()}
        live = {i for i, r in cases.items() if r["status"] != Status.WITHDRAWN}
        return Gauges(
            dict(Counter(cases[i]["level"] for i in live)),
            dict(
                Counter((p["department"], p["state"]) for p in self.child_rows() if p["id"] in live)
            ),
            sum(1 for r in cases.values() if r["manual_reason"] is not None),
        )


class PostgresInbox(PostgresTables):
    """The inboxes as two tables in routing's schema (migrations/0001_inbox.sql)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings,
            "routing",
            "inbox",
            "inbox_cases",
            CASE_COLUMNS,
            "inbox_parties",
            PARTY_COLUMNS,
        )

    def query(self, query: InboxQuery) -> tuple[list[InboxEntry], int]:
        where = ["p.department = %(department)s"]
        params: dict[str, Any] = {"department": query.department}
        if query.state is not None:
            where.append("p.state = %(state)s")
            params["state"] = query.state.value
        if query.role is not None:
            where.append("p.role = %(role)s")
            params["role"] = query.role.value
        condition = sql.SQL(" AND ".join(where))
        tables = sql.SQL("routing.inbox_parties p JOIN routing.inbox_cases c ON c.id = p.id")
        with self.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(
                sql.SQL(
                    "SELECT p.*, c.status, c.level, c.category, c.restricted, c.rule_id, "
                    "c.rule_version, c.leader FROM {} WHERE {} "
                    "ORDER BY p.since DESC, p.id DESC LIMIT %(limit)s OFFSET %(offset)s"
                ).format(tables, condition),
                {**params, "limit": query.limit, "offset": query.offset},
            ).fetchall()
            # every party has its case's row: the count reads the parties alone
            parties = sql.SQL("routing.inbox_parties p WHERE {}").format(condition)
            total = count_matches(cursor, parties, params)
        return [_entry(r, r) for r in rows], total

    def manual_queue(self, limit: int, offset: int) -> tuple[list[QueuedCase], int]:
        with self.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(
                "SELECT * FROM routing.inbox_cases WHERE manual_reason IS NOT NULL "
                "ORDER BY id LIMIT %s OFFSET %s",
                (limit, offset),
            ).fetchall()
            total = cursor.execute(
                "SELECT count(*) AS n FROM routing.inbox_cases WHERE manual_reason IS NOT NULL"
            ).fetchone()
        return [_queued(r) for r in rows], int(total["n"]) if total else 0

    def held_by(self, user: str, limit: int, offset: int) -> tuple[list[HeldCase], int]:
        with self.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(
                "SELECT * FROM routing.inbox_cases WHERE leader = %s "
                "ORDER BY leader_since, id LIMIT %s OFFSET %s",
                (user, limit, offset),
            ).fetchall()
            total = cursor.execute(
                "SELECT count(*) AS n FROM routing.inbox_cases WHERE leader = %s", (user,)
            ).fetchone()
        return [_held(r) for r in rows], int(total["n"]) if total else 0

    def gauges(self) -> Gauges:
        with self.connection() as conn:
            levels = conn.execute(
                "SELECT level, count(*) FROM routing.inbox_cases "
                "WHERE status <> 'withdrawn' GROUP BY level"
            ).fetchall()
            parts = conn.execute(
                "SELECT p.department, p.state, count(*) FROM routing.inbox_parties p "
                "JOIN routing.inbox_cases c ON c.id = p.id WHERE c.status <> 'withdrawn' "
                "GROUP BY 1, 2"
            ).fetchall()
            manual = conn.execute(
                "SELECT count(*) FROM routing.inbox_cases WHERE manual_reason IS NOT NULL"
            ).fetchone()
        return Gauges(
            {level: n for level, n in levels},
            {(d, s): n for d, s, n in parts},
            int(manual[0]) if manual else 0,
        )


class Inbox:
    """Department inboxes and the dispatch queue, kept by a projection of routing's log."""

    def __init__(self, app: TrackedApplication, tables: InboxTables | None = None) -> None:
        self.tables: InboxTables = tables if tables is not None else MemoryInbox()
        self.projector = Projector("inbox", app, Assignment, project_assignment, self.tables)

    def catch_up(self) -> None:
        self.projector.catch_up()

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
        return self.tables.query(InboxQuery(department, state, role, limit, offset))

    def held_by(self, user: str, limit: int = 50, offset: int = 0) -> tuple[list[HeldCase], int]:
        """The cases `user` holds personally, the longest held first."""
        self.catch_up()
        return self.tables.held_by(user, limit, offset)

    def manual_queue(self, limit: int = 50, offset: int = 0) -> tuple[list[QueuedCase], int]:
        self.catch_up()
        return self.tables.manual_queue(limit, offset)

    def gauges(self) -> Gauges:
        self.catch_up()
        return self.tables.gauges()
