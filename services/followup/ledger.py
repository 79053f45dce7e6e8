"""The work ledger (工作台账): every case's next alarm, its case-code hash, its running
deadlines and the facts the statistics count — a projection of follow-up's notification log
into a row per case, its deadlines' rows and the statistics' rows (shared/projection.py,
migrations 0001, 0009, 0011), brought up to date before each use. It never decides
anything itself: the scheduler only learns *which* cases to look at, and each case's own
events say what fires.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from psycopg import sql
from psycopg.rows import dict_row

from services.followup.domain import FollowUpCase
from services.followup.domain.vocabulary import (
    HANDLING,
    SETTLED,
    DeadlineKind,
    Satisfaction,
    Status,
)
from shared.listing import count_matches
from shared.projection import MemoryTables, PostgresTables, Projected, Projector, Tables
from shared.settings import Settings
from shared.territory import Statistics, Territory
from shared.vocabulary import Cessation, Channel, ClosureBase, Decision, Resolution

if TYPE_CHECKING:
    from services.followup.application import FollowUpApplication


@dataclass(frozen=True, slots=True)
class Facts:
    """What the statistics need to know of one case, derived from its events."""

    case_id: UUID
    registered_at: datetime | None
    channel: Channel | None
    lead: str | None
    path: tuple[str, ...]
    """The case's place and those it lies within, top tier first."""
    status: Status
    declined: bool
    notice_due: datetime | None
    notice_met: datetime | None
    first_outcome_at: datetime | None
    outcome_on_time: bool
    closed_out: bool
    satisfaction: Satisfaction | None  # the latest rating's
    rated: bool
    ceased: bool
    repeats: tuple[datetime, ...]
    repeat_after_outcome: bool
    first_round_settled_at_window: bool
    breaches: tuple[tuple[DeadlineKind, datetime], ...]


def facts_of(case: FollowUpCase) -> Facts:
    notice = next((d for d in case.deadlines if d.kind is DeadlineKind.ACCEPTANCE_NOTICE), None)
    first_outcome = case.outcomes[0].at if case.outcomes else None
    handling = [d for d in case.deadlines if d.kind in HANDLING]
    on_time = bool(case.outcomes) and not any(d.breached_at for d in handling)
    first_rating = next((r for r in case.ratings if r.round == 1), None)
    return Facts(
        case_id=case.id,
        registered_at=case.registered_at,
        channel=case.channel,
        lead=case.lead.code if case.lead else None,
        path=case.location.path if case.location else (),
        status=case.status,
        declined=case.acceptance in (Decision.DECLINE, Decision.DIVERT),
        notice_due=notice.due_at if notice else None,
        notice_met=notice.met_at if notice else None,
        first_outcome_at=first_outcome,
        outcome_on_time=on_time,
        closed_out=case.closed_out is not None,
        satisfaction=case.ratings[-1].satisfaction if case.ratings else None,
        rated=bool(case.ratings),
        ceased=case.cease_commitment is not None,
        repeats=tuple(case.repeats),
        repeat_after_outcome=first_outcome is not None
        and any(r > first_outcome for r in case.repeats),
        first_round_settled_at_window=case.level == "window"
        and first_rating is not None
        and first_rating.satisfaction in SETTLED,
        breaches=tuple((d.kind, d.breached_at) for d in case.deadlines if d.breached_at),
    )


def active_until(facts: Facts) -> datetime | None:
    """The last moment a period's statistics count the case in: when it was registered,
    came again or missed a deadline, whichever is latest."""
    moments = [m for m in (facts.registered_at, *facts.repeats) if m is not None]
    moments += [w for _, w in facts.breaches]
    return max(moments) if moments else None


def project_case(case: FollowUpCase) -> Projected:
    """A case's row in the ledger and its running deadlines."""
    facts = facts_of(case)
    return Projected(
        case.id,
        case.version,
        {
            "status": case.status.value,
            "next_alarm": case.next_alarm(),
            "code_hash": case.lookup_code_hash,
            "barred": sorted(case.barred),
            "subject": case.subject,
            "path": list(facts.path),
            # not a column: the statistics' rows are made of it (PostgresLedger), the
            # memory ledger counts from it
            "facts": facts,
        },
        [
            {
                "deadline": d.key,
                "kind": d.kind.value,
                "due_at": d.due_at,
                "department": d.department,
                "responsible": d.responsible or d.department,
                "paused": d.paused_at is not None,
                "breached_at": d.breached_at,
                # the case's, on each of its deadlines: the board filters and counts one
                # table (migrations/0007_ledger_board.sql)
                "subject": case.subject,
                "barred": sorted(case.barred),
                "path": list(facts.path),
            }
            for d in case.running()
        ],
    )


LEDGER_COLUMNS = ("status", "next_alarm", "code_hash", "barred", "subject", "path")
DEADLINE_COLUMNS = (
    "deadline",
    "kind",
    "due_at",
    "department",
    "responsible",
    "paused",
    "breached_at",
)
"""What the ledger lists of a deadline."""
DEADLINE_TABLE_COLUMNS = (*DEADLINE_COLUMNS, "subject", "barred", "path")


@dataclass(frozen=True)
class Board:
    """What the supervision office's ledger lists: deadlines still to be met."""

    now: datetime
    department: str | None = None
    place: str | None = None
    """The case lies at this place or within it (a place of any tier of the territory)."""
    hidden_from: str | None = None
    """A unit an accusation names: its clocks are not listed to it."""
    state: str = "running"
    within: float = 48 * 3600
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class Gauges:
    """What the operators' metrics count (services/followup/metrics.py)."""

    cases_by_status: dict[str, int]
    deadlines: dict[tuple[str, str], int]
    """(state, department) → how many: running, due-soon, overdue, paused."""
    breaches_by_kind: dict[str, int]
    most_overdue_seconds: float


DUE_SOON = 48 * 3600
"""As the ledger's `due-soon` listing counts it (seconds)."""


def deadline_state(due_at: datetime, paused: bool, now: datetime) -> str:
    if paused:
        return "paused"
    if due_at <= now:
        return "overdue"
    return "due-soon" if (due_at - now).total_seconds() <= DUE_SOON else "running"


class LedgerTables(Tables, Protocol):
    def due(self, now: datetime) -> list[UUID]: ...

    def by_code(self, hashed: str) -> UUID | None: ...

    def board(self, query: Board) -> tuple[list[dict[str, Any]], int]: ...

    def tally(self, query: StatisticsQuery) -> dict[str, Tally]: ...

    def gauges(self, now: datetime) -> Gauges: ...


class MemoryLedger(MemoryTables):
    """The ledger in memory, for unit tests."""

    def due(self, now: datetime) -> list[UUID]:
        due = [
            (r["next_alarm"], r["id"])
            for r in self.rows()
            if r["next_alarm"] and r["next_alarm"] <= now
        ]
        return [case_id for _, case_id in sorted(due)]

    def by_code(self, hashed: str) -> UUID | None:
        return next((r["id"] for r in self.rows() if r["code_hash"] == hashed), None)

    def board(self, query: Board) -> tuple[list[dict[str, Any]], int]:
        rows = self.child_rows()
        if query.department:
            rows = [r for r in rows if r["department"] == query.department]
        if query.place:
            rows = [r for r in rows if query.place in r["path"]]
        if query.hidden_from:
            rows = [r for r in rows if query.hidden_from not in r["barred"]]
        now = query.now
        if query.state == "overdue":
            rows = [r for r in rows if r["due_at"] <= now and not r["paused"]]
        elif query.state == "due-soon":
            rows = [
                r
                for r in rows
                if now < r["due_at"] and (r["due_at"] - now).total_seconds() <= query.within
            ]
        rows.sort(key=lambda r: (r["due_at"], r["id"], r["deadline"]))
        page = rows[query.offset : query.offset + query.limit]
        return [listed(r) for r in page], len(rows)

    def facts(self, start: datetime, end: datetime) -> list[Facts]:
        """The facts of every case registered before `end` that registered, repeated or
        missed a deadline since `start` — all the statistics of [start, end) count."""
        facts: list[Facts] = [r["facts"] for r in self.rows()]
        return [
            f
            for f in facts
            if f.registered_at
            and f.registered_at < end
            and (until := active_until(f)) is not None
            and until >= start
        ]

    def tally(self, query: StatisticsQuery) -> dict[str, Tally]:
        return tally(self.facts(query.start, query.end), query)

    def gauges(self, now: datetime) -> Gauges:
        rows = self.rows()
        deadlines: Counter[tuple[str, str]] = Counter(
            (deadline_state(r["due_at"], r["paused"], now), r["department"] or "(none)")
            for r in self.child_rows()
        )
        overdue = [
            (now - r["due_at"]).total_seconds()
            for r in self.child_rows()
            if r["due_at"] <= now and not r["paused"]
        ]
        return Gauges(
            dict(Counter(r["status"] for r in rows)),
            dict(deadlines),
            # a case's missed deadlines count once follow-up has heard it registered, as
            # PostgreSQL counts them from the statistics' moments
            dict(
                Counter(
                    k.value
                    for r in rows
                    if r["facts"].registered_at
                    for k, _ in r["facts"].breaches
                )
            ),
            max(overdue, default=0.0),
        )


def listed(row: dict[str, Any]) -> dict[str, Any]:
    """A deadline as the ledger lists it."""
    return {
        "case_id": str(row["id"]),
        "subject": row["subject"],
        **{c: row[c] for c in DEADLINE_COLUMNS},
    }


STATISTICS_TABLES = ("ledger_facts", "ledger_moments")
"""The statistics' rows, beside the ledger's (migrations/0009_statistics_facts.sql)."""
FACT_COLUMNS = (
    *("id", "registered_at", "lead", "path", "declined", "notice_due", "notice_met"),
    *("outcome", "outcome_on_time", "closed_out", "satisfaction", "rated", "ceased"),
    *("repeat_after_outcome", "first_round_settled_at_window"),
)
MOMENT_COLUMNS = ("id", "registered_at", "lead", "path", "breach", "at", "written")


def fact_row(f: Facts) -> tuple[Any, ...]:
    """A registered case's row in `ledger_facts`."""
    return (
        *(f.case_id, f.registered_at, f.lead, list(f.path), f.declined, f.notice_due),
        *(f.notice_met, f.first_outcome_at is not None, f.outcome_on_time, f.closed_out),
        f.satisfaction.value if f.satisfaction else None,
        *(f.rated, f.ceased, f.repeat_after_outcome, f.first_round_settled_at_window),
    )


def moment_rows(f: Facts) -> list[tuple[Any, ...]]:
    """A registered case's rows in `ledger_moments`: each time the petitioner came again
    (no breach), each deadline missed (its kind)."""
    case = (f.case_id, f.registered_at, f.lead, list(f.path))
    moments = [(None, at) for at in f.repeats] + [(kind.value, at) for kind, at in f.breaches]
    return [(*case, breach, at, at.isoformat()) for breach, at in moments]


class PostgresLedger(PostgresTables):
    """The ledger in follow-up's schema: the cases and their running deadlines
    (migrations/0001_ledger.sql), and the facts the statistics count (0009)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            settings,
            "followup",
            "ledger",
            "ledger_cases",
            LEDGER_COLUMNS,
            "ledger_deadlines",
            DEADLINE_TABLE_COLUMNS,
            STATISTICS_TABLES,
        )

    def _replace_children(self, cursor: Any, written: list[Projected]) -> None:
        """The deadlines, and the facts the statistics count, of the cases written."""
        super()._replace_children(cursor, written)
        ids = [p.id for p in written]
        for table in STATISTICS_TABLES:
            cursor.execute(
                sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(self.table(table)), (ids,)
            )
        facts: list[Facts] = [p.row["facts"] for p in written]
        registered = [f for f in facts if f.registered_at]
        if not registered:
            return
        with cursor.copy(self._copy("ledger_facts", FACT_COLUMNS)) as rows:
            for f in registered:
                rows.write_row(fact_row(f))
        moments = [m for f in registered for m in moment_rows(f)]
        if moments:
            with cursor.copy(self._copy("ledger_moments", MOMENT_COLUMNS)) as rows:
                for m in moments:
                    rows.write_row(m)

    def _copy(self, table: str, columns: Sequence[str]) -> sql.Composed:
        return sql.SQL("COPY {} ({}) FROM STDIN").format(
            self.table(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )

    def due(self, now: datetime) -> list[UUID]:
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT id FROM followup.ledger_cases WHERE next_alarm <= %s ORDER BY next_alarm",
                (now,),
            ).fetchall()
        return [r[0] for r in rows]

    def by_code(self, hashed: str) -> UUID | None:
        with self.connection() as conn:
            row = conn.execute(
                "SELECT id FROM followup.ledger_cases WHERE code_hash = %s LIMIT 1", (hashed,)
            ).fetchone()
        return row[0] if row else None

    def board(self, query: Board) -> tuple[list[dict[str, Any]], int]:
        where = ["TRUE"]
        params: dict[str, Any] = {"now": query.now}
        if query.department:
            where.append("department = %(department)s")
            params["department"] = query.department
        if query.place:
            where.append("path @> ARRAY[%(place)s]::text[]")
            params["place"] = query.place
        if query.hidden_from:
            where.append("NOT (%(hidden)s = ANY(barred))")
            params["hidden"] = query.hidden_from
        if query.state == "overdue":
            where.append("due_at <= %(now)s AND NOT paused")
        elif query.state == "due-soon":
            where.append("due_at > %(now)s AND due_at <= %(now)s + %(within)s")
            params["within"] = timedelta(seconds=query.within)
        condition = sql.SQL(" AND ".join(where))
        tables = sql.SQL("followup.ledger_deadlines")
        with self.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(
                sql.SQL(
                    "SELECT * FROM {} WHERE {} ORDER BY due_at, id, deadline "
                    "LIMIT %(limit)s OFFSET %(offset)s"
                ).format(tables, condition),
                {**params, "limit": query.limit, "offset": query.offset},
            ).fetchall()
            total = count_matches(cursor, sql.SQL("{} WHERE {}").format(tables, condition), params)
        return [listed(r) for r in rows], total

    def tally(self, query: StatisticsQuery) -> dict[str, Tally]:
        """The statistics counted by PostgreSQL from the typed facts of the period's cases
        (migrations/0009_statistics_facts.sql), per lead department and place, and put into
        the groups asked for here: a year of a city's cases is never read out case by case
        (that cost ~1 s per 50,000 cases). `tally` below is the reference the tests hold
        this to."""
        definitions = query.definitions
        cessation = definitions.cessation
        params: dict[str, Any] = {
            "start": query.start,
            "end": query.end,
            "now": query.now,
            "settled": [s.value for s in SETTLED],
            "registered_base": definitions.closure_base == ClosureBase.REGISTERED,
            "settled_resolves": definitions.resolution == Resolution.SETTLED,
            "commitment": cessation in (Cessation.COMMITMENT, Cessation.EITHER),
            "no_repeat": cessation in (Cessation.NO_REPEAT, Cessation.EITHER),
        }
        found: dict[tuple[str | None, tuple[str, ...]], Tally] = {}
        with self.connection() as conn:
            for lead, path, *counts in conn.execute(_TALLY, params):
                found[lead, tuple(path)] = Tally(*counts)
            for lead, path, breach, month, n in conn.execute(_MOMENTS, params):
                t = found.setdefault((lead, tuple(path)), Tally())
                if breach is None:
                    t.repeats_by_month[month] = n
                else:
                    t.breaches_by_kind[breach] = n
        tallies: dict[str, Tally] = {}
        for (lead, path), t in found.items():
            tallies.setdefault(group_for(lead, path, query.by, query.territory), Tally()).add(t)
        return tallies

    def gauges(self, now: datetime) -> Gauges:
        """Counted by one backend, never a parallel plan: every `gauges_seconds`, a
        parallel scan of the deadlines (PostgreSQL chose one for them written as filtered
        counts) took the other core of a small machine from the queries people wait for.
        A background count need not be fast, only out of their way."""
        with self.connection() as conn, conn.transaction():
            conn.execute("SET LOCAL max_parallel_workers_per_gather = 0")
            statuses = conn.execute(
                "SELECT status, count(*) FROM followup.ledger_cases GROUP BY status"
            ).fetchall()
            deadlines = conn.execute(
                "SELECT CASE WHEN paused THEN 'paused' WHEN due_at <= %(now)s THEN 'overdue' "
                "WHEN due_at <= %(now)s + interval '48 hours' THEN 'due-soon' "
                "ELSE 'running' END, coalesce(department, '(none)'), count(*) "
                "FROM followup.ledger_deadlines GROUP BY 1, 2",
                {"now": now},
            ).fetchall()
            breaches = conn.execute(
                "SELECT breach, count(*) FROM followup.ledger_moments "
                "WHERE breach IS NOT NULL GROUP BY breach"
            ).fetchall()
            oldest = conn.execute(
                "SELECT min(due_at) FROM followup.ledger_deadlines "
                "WHERE due_at <= %s AND NOT paused",
                (now,),
            ).fetchone()
        return Gauges(
            {s: n for s, n in statuses},
            {(state, dept): n for state, dept, n in deadlines},
            {k: n for k, n in breaches},
            (now - oldest[0]).total_seconds() if oldest and oldest[0] else 0.0,
        )


class Ledger:
    """The work ledger of follow-up's cases, kept by a projection of its log."""

    def __init__(self, app: FollowUpApplication, tables: LedgerTables | None = None) -> None:
        self.tables: LedgerTables = tables if tables is not None else MemoryLedger()
        self.projector = Projector("ledger", app, FollowUpCase, project_case, self.tables)

    def catch_up(self) -> int | None:
        return self.projector.catch_up()

    def due(self, now: datetime) -> list[UUID]:
        """The cases with a reminder or a breach due by `now`, the most overdue first."""
        self.catch_up()
        return self.tables.due(now)

    def by_code(self, hashed: str) -> UUID | None:
        self.catch_up()
        return self.tables.by_code(hashed)

    def board(self, query: Board) -> tuple[list[dict[str, Any]], int]:
        """The supervision office's ledger of deadlines still to be met, soonest (or most
        overdue) first: all of them, the overdue ones, or those due within `within` s."""
        self.catch_up()
        return self.tables.board(query)

    def tally(self, query: StatisticsQuery) -> dict[str, Tally]:
        self.catch_up()
        return self.tables.tally(query)

    def gauges(self, now: datetime) -> Gauges:
        self.catch_up()
        return self.tables.gauges(now)


# --- statistics --------------------------------------------------------------------------

FIXED_GROUPINGS = ("all", "department")
"""Besides these, statistics group by any tier of the centre's territory."""


def rate(numerator: int, denominator: int) -> dict[str, Any]:
    return {
        "numerator": numerator,
        "denominator": denominator,
        "rate": round(numerator / denominator, 4) if denominator else None,
    }


@dataclass(frozen=True)
class StatisticsQuery:
    """What a statistics request asks: the cases registered in [start, end), grouped `by`
    all, department or a tier of `territory`, the rates as `definitions` define them."""

    start: datetime
    end: datetime
    by: str
    now: datetime
    territory: Territory
    definitions: Statistics


@dataclass
class Tally:
    """What the statistics count in one group: how many of its cases meet each condition
    (the numerators and denominators of the rates) and when its repeats and breaches fell."""

    cases: int = 0
    with_notice: int = 0
    timely: int = 0
    outcome: int = 0
    on_time: int = 0
    base: int = 0
    closed: int = 0
    resolved: int = 0
    ceased: int = 0
    rated: int = 0
    satisfied: int = 0
    first_visit: int = 0
    repeats_by_month: dict[str, int] = field(default_factory=dict)
    breaches_by_kind: dict[str, int] = field(default_factory=dict)

    def add(self, other: Tally) -> None:
        """Count `other`'s cases, repeats and breaches in this group too."""
        for name in TALLY_COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for mine, theirs in (
            (self.repeats_by_month, other.repeats_by_month),
            (self.breaches_by_kind, other.breaches_by_kind),
        ):
            for key, n in theirs.items():
                mine[key] = mine.get(key, 0) + n

    def answer(self, group: str) -> dict[str, Any]:
        return {
            "group": group,
            "cases": self.cases,
            "timely_acceptance": rate(self.timely, self.with_notice),
            "on_time_completion": rate(self.on_time, self.outcome),
            "closure": rate(self.closed, self.base),
            "resolution": rate(self.resolved, self.outcome),
            "cessation": rate(self.ceased, self.outcome),
            "satisfaction": rate(self.satisfied, self.rated),
            "participation": rate(self.rated, self.outcome),
            "first_visit_resolution": rate(self.first_visit, self.outcome),
            "repeat_petitions_by_month": dict(sorted(self.repeats_by_month.items())),
            "overdue": {
                "total": sum(self.breaches_by_kind.values()),
                **dict(sorted(self.breaches_by_kind.items())),
            },
        }


TALLY_COUNTS = tuple(f.name for f in fields(Tally) if isinstance(f.default, int))
"""The numbers a `Tally` counts (the rest count by month or kind)."""


def group_for(lead: str | None, path: Sequence[str], by: str, territory: Territory) -> str:
    """The group a case led by `lead` at `path` counts in: everything, its lead
    department, or the place of tier `by` that it lies in (its code; `group_name` names
    it)."""
    if by == "all":
        return "all"
    if by == "department":
        return lead or UNASSIGNED
    for code in path:
        place = territory.places.get(code)
        if place is not None and place.tier == by:
            return code
    return NO_PLACE


UNASSIGNED, NO_PLACE = "(unassigned)", "(none)"


def group_name(group: str, by: str, territory: Territory) -> str:
    """A group as the statistics show it: a place by its name, with its code."""
    if by in FIXED_GROUPINGS or group == NO_PLACE:
        return group
    return f"{territory.places[group].name} ({group})"


def answer(tallies: dict[str, Tally], by: str, territory: Territory) -> list[dict[str, Any]]:
    named = {group_name(g, by, territory): tally for g, tally in tallies.items()}
    return [tally.answer(name) for name, tally in sorted(named.items())]


def tally(facts: list[Facts], query: StatisticsQuery) -> dict[str, Tally]:
    """The statistics of cases registered in the period counted case by case, in Python:
    the reference the ledger's SQL (`PostgresLedger.tally`) is tested against. Monthly
    repeat counts and overdue counts go by when the repeat or the breach happened (in the
    period, of a case registered before its end). A group is there if a case of it was
    registered in the period, came again or missed a deadline in it."""
    start, end, now, definitions = query.start, query.end, query.now, query.definitions
    tallies: dict[str, Tally] = {}
    for f in facts:
        if f.registered_at is None or f.registered_at >= end:
            continue
        registered = start <= f.registered_at
        repeats = [at for at in f.repeats if start <= at < end]
        breaches = [(kind, at) for kind, at in f.breaches if start <= at < end]
        if not (registered or repeats or breaches):
            continue
        t = tallies.setdefault(group_for(f.lead, f.path, query.by, query.territory), Tally())
        for at in repeats:
            month = at.strftime("%Y-%m")
            t.repeats_by_month[month] = t.repeats_by_month.get(month, 0) + 1
        for kind, _ in breaches:
            t.breaches_by_kind[kind] = t.breaches_by_kind.get(kind, 0) + 1
        if not registered:
            continue
        t.cases += 1
        if f.notice_due and (f.notice_met or f.notice_due <= now):
            t.with_notice += 1
            t.timely += bool(f.notice_met and f.notice_met <= f.notice_due)
        if definitions.closure_base == ClosureBase.REGISTERED or not f.declined:
            t.base += 1
            t.closed += f.first_outcome_at is not None
        if f.first_outcome_at is None:
            continue
        t.outcome += 1
        t.on_time += f.outcome_on_time
        settled = f.satisfaction in SETTLED
        t.resolved += settled if definitions.resolution == Resolution.SETTLED else f.closed_out
        t.ceased += {
            Cessation.COMMITMENT: f.ceased,
            Cessation.NO_REPEAT: not f.repeat_after_outcome,
            Cessation.EITHER: f.ceased or not f.repeat_after_outcome,
        }[definitions.cessation]
        if f.rated:
            t.rated += 1
            t.satisfied += settled
        t.first_visit += f.first_round_settled_at_window
    return tallies


def statistics(facts: list[Facts], query: StatisticsQuery) -> list[dict[str, Any]]:
    """The indicators per group, for cases registered in the period, from their facts."""
    return answer(tally(facts, query), query.by, query.territory)


_TALLY = """
    SELECT lead, path,
      count(*),
      count(*) FILTER (WHERE notice_due IS NOT NULL
                       AND (notice_met IS NOT NULL OR notice_due <= %(now)s)),
      count(*) FILTER (WHERE notice_met <= notice_due),
      count(*) FILTER (WHERE outcome),
      count(*) FILTER (WHERE outcome AND outcome_on_time),
      count(*) FILTER (WHERE %(registered_base)s OR NOT declined),
      count(*) FILTER (WHERE (%(registered_base)s OR NOT declined) AND outcome),
      count(*) FILTER (WHERE outcome AND CASE WHEN %(settled_resolves)s THEN settled
                       ELSE closed_out END),
      count(*) FILTER (WHERE outcome AND ((%(commitment)s AND ceased)
                                          OR (%(no_repeat)s AND NOT repeat_after_outcome))),
      count(*) FILTER (WHERE outcome AND rated),
      count(*) FILTER (WHERE outcome AND rated AND settled),
      count(*) FILTER (WHERE outcome AND first_round_settled_at_window)
    FROM (
      SELECT *, coalesce(satisfaction = ANY(%(settled)s), false) AS settled
        FROM followup.ledger_facts
       WHERE registered_at >= %(start)s AND registered_at < %(end)s
    ) AS registered
    GROUP BY lead, path"""
"""The cases registered in the period, counted per lead department and place: the counts
of `Tally`, in its order (the same conditions as `tally`)."""

_MOMENTS = """
    SELECT lead, path, breach, CASE WHEN breach IS NULL THEN left(written, 7) END, count(*)
      FROM followup.ledger_moments
     WHERE at >= %(start)s AND at < %(end)s AND registered_at < %(end)s
     GROUP BY 1, 2, 3, 4"""
"""The repeats by month (as written, like `strftime("%Y-%m")` of the stored moment) and the
breaches by kind that fell in the period, per lead department and place."""
