"""The work ledger (工作台账): every case's next alarm, its case-code hash, and the facts the
statistics count — a read model of follow-up's notification log, rebuilt when the process
starts and brought up to date before each use, so it never decides anything itself: the
scheduler only learns *which* cases to look at, and each case's own events say what fires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from services.followup.domain import FollowUpCase
from services.followup.domain.vocabulary import (
    HANDLING,
    SETTLED,
    DeadlineKind,
    Satisfaction,
    Status,
)
from shared.projection import LogFollower, current
from shared.territory import Statistics, Territory
from shared.vocabulary import Channel, Decision

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


@dataclass(frozen=True, slots=True)
class Due:
    """A deadline still to be met, as the supervision office's ledger lists it."""

    case_id: UUID
    deadline: str
    kind: DeadlineKind
    due_at: datetime
    department: str | None
    responsible: str | None
    paused: bool
    breached_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "deadline": self.deadline,
            "kind": self.kind,
            "due_at": self.due_at,
            "department": self.department,
            "responsible": self.responsible,
            "paused": self.paused,
            "breached_at": self.breached_at,
        }


class Ledger:
    def __init__(self, app: FollowUpApplication) -> None:
        self.app = app
        self.alarms: dict[UUID, datetime] = {}
        self.codes: dict[str, UUID] = {}
        self.facts: dict[UUID, Facts] = {}
        self.barred: dict[UUID, frozenset[str]] = {}
        self.running: dict[UUID, list[Due]] = {}
        self.log = LogFollower(app, FollowUpCase, self._project)

    def _project(self, case_id: UUID, version: int) -> None:
        try:
            self._note(current(self.app, case_id, version))
        except RuntimeError:  # the shared copy moved on while being read: read a private one
            self._note(self.app.get_case(case_id))

    def _note(self, case: FollowUpCase) -> None:
        case_id = case.id
        alarm = case.next_alarm()
        if alarm is None:
            self.alarms.pop(case_id, None)
        else:
            self.alarms[case_id] = alarm
        if case.lookup_code_hash:
            self.codes[case.lookup_code_hash] = case_id
        self.facts[case_id] = facts_of(case)
        self.barred[case_id] = frozenset(case.barred)
        self.running[case_id] = [
            Due(
                case_id,
                d.key,
                d.kind,
                d.due_at,
                d.department,
                d.responsible or d.department,
                d.paused_at is not None,
                d.breached_at,
            )
            for d in case.running()
        ]

    def catch_up(self) -> int:
        return self.log.catch_up()

    def due(self, now: datetime) -> list[UUID]:
        """The cases with a reminder or a breach due by `now`, the most overdue first."""
        self.catch_up()
        with self.log.lock:
            due = [(at, case_id) for case_id, at in self.alarms.items() if at <= now]
        return [case_id for _, case_id in sorted(due)]

    def by_code(self, hashed: str) -> UUID | None:
        self.catch_up()
        return self.codes.get(hashed)

    def board(
        self,
        *,
        now: datetime,
        department: str | None = None,
        place: str | None = None,
        hidden_from: str | None = None,
        state: str = "running",
        within: float = 48 * 3600,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[dict[str, Any]], int]:
        """The supervision office's ledger of deadlines still to be met, soonest (or most
        overdue) first: all of them, the overdue ones, or those due within `within` s."""
        self.catch_up()
        with self.log.lock:
            rows = [r for rows in self.running.values() for r in rows]
        if department:
            rows = [r for r in rows if r.department == department]
        if place:  # the case lies at the place or within it (any tier of the territory)
            rows = [r for r in rows if place in self._path(r.case_id)]
        if hidden_from:  # an accusation's clocks are not listed to the unit it accuses
            rows = [r for r in rows if hidden_from not in self.barred.get(r.case_id, ())]
        if state == "overdue":
            rows = [r for r in rows if r.due_at <= now and not r.paused]
        elif state == "due-soon":
            rows = [
                r for r in rows if now < r.due_at and (r.due_at - now).total_seconds() <= within
            ]
        rows.sort(key=lambda r: r.due_at)
        page = []
        for row in rows[offset : offset + limit]:
            case = self.app.get_case(row.case_id)
            page.append({"case_id": str(row.case_id), "subject": case.subject, **row.as_dict()})
        return page, len(rows)

    def _path(self, case_id: UUID) -> tuple[str, ...]:
        facts = self.facts.get(case_id)
        return facts.path if facts else ()

    def all_facts(self) -> list[Facts]:
        self.catch_up()
        with self.log.lock:
            return list(self.facts.values())


# --- statistics --------------------------------------------------------------------------

FIXED_GROUPINGS = ("all", "department")
"""Besides these, statistics group by any tier of the centre's territory."""


def rate(numerator: int, denominator: int) -> dict[str, Any]:
    return {
        "numerator": numerator,
        "denominator": denominator,
        "rate": round(numerator / denominator, 4) if denominator else None,
    }


def group_of(f: Facts, by: str, territory: Territory) -> str:
    """The group a case counts in: everything, its lead department, or the place of tier
    `by` that it lies in (by name, with its code)."""
    if by == "all":
        return "all"
    if by == "department":
        return f.lead or "(unassigned)"
    for code in f.path:
        place = territory.places.get(code)
        if place is not None and place.tier == by:
            return f"{place.name} ({code})"
    return "(none)"


def statistics(
    facts: list[Facts],
    *,
    start: datetime,
    end: datetime,
    by: str,
    now: datetime,
    territory: Territory,
    definitions: Statistics,
) -> list[dict[str, Any]]:
    """The indicators per group, for cases registered in [start, end); monthly repeat
    counts and overdue counts by when the repeat or the breach happened."""
    groups: dict[str, list[Facts]] = {}
    for f in facts:
        groups.setdefault(group_of(f, by, territory), []).append(f)
    found = []
    for name, members in sorted(groups.items()):
        registered = [
            f for f in members if f.registered_at is not None and start <= f.registered_at < end
        ]
        base = (
            [f for f in registered if not f.declined]
            if (definitions.closure_base == "accepted")
            else registered
        )
        with_notice = [
            f for f in registered if f.notice_due and (f.notice_met or f.notice_due <= now)
        ]
        timely = [
            f for f in with_notice if f.notice_met and f.notice_due and f.notice_met <= f.notice_due
        ]
        outcome = [f for f in registered if f.first_outcome_at]
        if definitions.resolution == "settled":
            resolved = [f for f in outcome if f.satisfaction in SETTLED]
        else:
            resolved = [f for f in outcome if f.closed_out]
        ceased = [
            f
            for f in outcome
            if {
                "commitment": f.ceased,
                "no-repeat": not f.repeat_after_outcome,
                "either": f.ceased or not f.repeat_after_outcome,
            }[definitions.cessation]
        ]
        rated = [f for f in outcome if f.rated]
        monthly: dict[str, int] = {}
        overdue: dict[str, int] = {}
        for f in members:
            for at in f.repeats:
                if start <= at < end:
                    month = at.strftime("%Y-%m")
                    monthly[month] = monthly.get(month, 0) + 1
            for kind, at in f.breaches:
                if start <= at < end:
                    overdue[kind] = overdue.get(kind, 0) + 1
        found.append(
            {
                "group": name,
                "cases": len(registered),
                "timely_acceptance": rate(len(timely), len(with_notice)),
                "on_time_completion": rate(
                    sum(1 for f in outcome if f.outcome_on_time), len(outcome)
                ),
                "closure": rate(len([f for f in base if f.first_outcome_at]), len(base)),
                "resolution": rate(len(resolved), len(outcome)),
                "cessation": rate(len(ceased), len(outcome)),
                "satisfaction": rate(
                    sum(1 for f in rated if f.satisfaction in SETTLED), len(rated)
                ),
                "participation": rate(len(rated), len(outcome)),
                "first_visit_resolution": rate(
                    sum(1 for f in outcome if f.first_round_settled_at_window), len(outcome)
                ),
                "repeat_petitions_by_month": dict(sorted(monthly.items())),
                "overdue": {"total": sum(overdue.values()), **dict(sorted(overdue.items()))},
            }
        )
    return found
