"""Deadline policies as data: which clocks a case carries, what starts and stops each, who
answers for it, when to remind, and when a case may be closed out (销号).

A clock starts at a *milestone* of the case (its registration, its assignment, the
outcome, a review request…) and is met by another. The milestones, the kinds of clock and
who answers for one are the domain's words (`services.followup.domain.vocabulary`); the
domain raises the milestones, the policy decides what they mean for the clock.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from services.followup.domain.vocabulary import (
    SETTLED,
    DeadlineKind,
    Milestone,
    Responsible,
    Satisfaction,
)
from shared.calendar import Period


def period(text: str | None, field: str) -> Period | None:
    """`"7 days"`, `"5 working-days"`, `"1 months"`, `"4 hours"` → a Period."""
    if text is None:
        return None
    try:
        amount, unit = str(text).split()
        return Period(int(amount), unit)  # type: ignore[arg-type]
    except ValueError as error:
        raise ValueError(f"{field}: {text!r} is not '<n> <unit>' ({error})") from None


def milestones(names: list[str], field: str) -> tuple[Milestone, ...]:
    unknown = sorted(set(names) - set(Milestone))
    if unknown:
        raise ValueError(f"{field}: unknown milestone {unknown[0]!r}")
    return tuple(Milestone(name) for name in names)


@dataclass(frozen=True)
class Clock:
    kind: DeadlineKind
    period: Period
    starts_on: tuple[Milestone, ...]
    stops_on: tuple[Milestone, ...]
    responsible: Responsible
    rule: str
    legal_basis: str
    remind_before: Period | None = None
    major: bool | None = None
    """Only for major matters (True), only for ordinary ones (False), or for any (None)."""
    extension: Period | None = None
    """The longest single extension a leader may approve (Art. 34: ≤ 30 days, once)."""
    recurring: bool = False
    """Met by its stop milestone and started again at once (monthly progress reports)."""
    escalates: bool = True
    """A breach is reported to routing, which climbs the escalation ladder."""

    def applies_to(self, major: bool) -> bool:
        return self.major is None or self.major == major

    def as_dict(self) -> dict[str, Any]:
        found = asdict(self)
        for key in ("period", "remind_before", "extension"):
            found[key] = str(getattr(self, key)) if getattr(self, key) else None
        return found


@dataclass(frozen=True)
class CloseOut:
    """When a resolved case may be closed out (销号)."""

    satisfied: tuple[Satisfaction, ...] = SETTLED
    """Return-visit answers that allow it."""
    cease_commitment_suffices: bool = True
    """A signed cease-petition commitment (息诉罢访) allows it even without such an answer."""

    def refusal(self, satisfaction: Satisfaction | None, ceased: bool) -> str | None:
        if satisfaction in self.satisfied:
            return None
        if ceased and self.cease_commitment_suffices:
            return None
        needs = " or ".join(self.satisfied)
        if self.cease_commitment_suffices:
            needs += ", or a signed cease-petition commitment"
        got = satisfaction or "no return visit yet"
        return f"closing out needs a return visit answered {needs} (have: {got})"


@dataclass(frozen=True)
class Policy:
    name: str
    description: str
    clocks: tuple[Clock, ...]
    close_out: CloseOut = field(default_factory=CloseOut)
    review_window: Period = field(default_factory=lambda: Period(30, "days"))
    """How long after a reply the petitioner may ask for review, or re-review (Arts. 35–36)."""

    def starting(self, milestone: Milestone, major: bool) -> list[Clock]:
        return [c for c in self.clocks if milestone in c.starts_on and c.applies_to(major)]

    def clock(self, kind: DeadlineKind) -> Clock | None:
        return next((c for c in self.clocks if c.kind == kind), None)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Policy:
        """A policy as a locality writes it (the shape `as_dict` gives, e.g. from
        `GET /v1/policy`); a mistake raises ValueError naming the field."""
        clocks = []
        for i, raw in enumerate(data.get("clocks") or []):
            at = f"clocks.{i}"
            try:
                if raw["kind"] not in set(DeadlineKind):
                    raise ValueError(f"{at}.kind: one of {', '.join(DeadlineKind)}")
                if raw["responsible"] not in set(Responsible):
                    raise ValueError(f"{at}.responsible: one of {', '.join(Responsible)}")
                clocks.append(
                    Clock(
                        kind=DeadlineKind(raw["kind"]),
                        period=period(raw["period"], f"{at}.period") or Period(0),
                        starts_on=milestones(raw["starts_on"], f"{at}.starts_on"),
                        stops_on=milestones(raw["stops_on"], f"{at}.stops_on"),
                        responsible=Responsible(raw["responsible"]),
                        rule=raw["rule"],
                        legal_basis=raw["legal_basis"],
                        remind_before=period(raw.get("remind_before"), f"{at}.remind_before"),
                        major=raw.get("major"),
                        extension=period(raw.get("extension"), f"{at}.extension"),
                        recurring=bool(raw.get("recurring", False)),
                        escalates=bool(raw.get("escalates", True)),
                    )
                )
            except KeyError as missing:
                raise ValueError(f"{at}.{missing.args[0]}: missing") from None
        if not clocks:
            raise ValueError("clocks: a policy has at least one clock")
        close = data.get("close_out") or {}
        answers = close.get("satisfied", CloseOut().satisfied)
        if not set(answers) <= set(Satisfaction):
            raise ValueError(f"close_out.satisfied: each one of {', '.join(Satisfaction)}")
        return cls(
            name=str(data.get("name") or "custom"),
            description=str(data.get("description") or ""),
            clocks=tuple(clocks),
            close_out=CloseOut(
                satisfied=tuple(Satisfaction(answer) for answer in answers),
                cease_commitment_suffices=bool(close.get("cease_commitment_suffices", True)),
            ),
            review_window=period(data.get("review_window", "30 days"), "review_window")
            or Period(30),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "clocks": [c.as_dict() for c in self.clocks],
            "close_out": asdict(self.close_out),
            "review_window": str(self.review_window),
        }


REGULATION = "《信访工作条例》"
M13710 = "13710 工作法"

STANDARD = Policy(
    name="13710",
    description="The 13710 method with the statutory clocks of the 2022 regulation",
    clocks=(
        Clock(
            DeadlineKind.ACCEPTANCE_NOTICE,
            Period(15, "days"),
            starts_on=(Milestone.REGISTERED,),
            stops_on=(Milestone.ACCEPTANCE_DECIDED,),
            responsible=Responsible.FIRST_RECEIVER,
            rule="tell the petitioner in writing within 15 days whether the matter is accepted",
            legal_basis=f"{REGULATION}第二十三条",
            remind_before=Period(3, "days"),
            escalates=False,
        ),
        Clock(
            DeadlineKind.HANDLING_PLAN,
            Period(1, "days"),
            starts_on=(Milestone.ASSIGNED,),
            stops_on=(Milestone.PLAN,),
            responsible=Responsible.LEAD,
            rule="13710: the lead department draws up a handling plan within 1 day",
            legal_basis=M13710,
            remind_before=Period(4, "hours"),
            escalates=False,
        ),
        Clock(
            DeadlineKind.FIRST_REPORT,
            Period(3, "days"),
            starts_on=(Milestone.ASSIGNED,),
            stops_on=(Milestone.PROGRESS,),
            responsible=Responsible.LEAD,
            rule="13710: report first progress to the supervision office within 3 days",
            legal_basis=M13710,
            remind_before=Period(1, "days"),
            escalates=False,
        ),
        Clock(
            DeadlineKind.RESOLUTION,
            Period(7, "days"),
            starts_on=(Milestone.ASSIGNED, Milestone.REOPENED),
            stops_on=(Milestone.OUTCOME,),
            responsible=Responsible.LEAD,
            rule="13710: resolve an ordinary matter within 7 days",
            legal_basis=M13710,
            remind_before=Period(2, "days"),
            major=False,
        ),
        Clock(
            DeadlineKind.RESOLUTION,
            Period(1, "months"),
            starts_on=(Milestone.ASSIGNED, Milestone.REOPENED),
            stops_on=(Milestone.OUTCOME,),
            responsible=Responsible.LEAD,
            rule="13710: resolve a major or complex matter within 1 month, or have a leader "
            "approve a plan with dates and monthly progress reports",
            legal_basis=M13710,
            remind_before=Period(5, "days"),
            major=True,
        ),
        Clock(
            DeadlineKind.MONTHLY_REPORT,
            Period(1, "months"),
            starts_on=(Milestone.LONG_TERM_PLAN,),
            stops_on=(Milestone.PROGRESS,),
            responsible=Responsible.LEAD,
            rule="13710: under a leader-approved plan, report progress every month",
            legal_basis=M13710,
            remind_before=Period(3, "days"),
            recurring=True,
            escalates=False,
        ),
        Clock(
            DeadlineKind.STATUTORY_HANDLING,
            Period(60, "days"),
            starts_on=(Milestone.ACCEPTED,),
            stops_on=(Milestone.OUTCOME,),
            responsible=Responsible.LEAD,
            rule="handle an accepted matter within 60 days; one approved extension of at "
            "most 30 days, its reason told to the petitioner",
            legal_basis=f"{REGULATION}第三十四条",
            remind_before=Period(10, "days"),
            extension=Period(30, "days"),
        ),
        Clock(
            DeadlineKind.RETURN_VISIT,
            Period(5, "working-days"),
            starts_on=(Milestone.OUTCOME,),
            stops_on=(Milestone.RATED,),
            responsible=Responsible.SUPERVISION,
            rule="visit or call the petitioner back after the outcome and record satisfaction",
            legal_basis="国信发〔2022〕11号",
            remind_before=Period(1, "days"),
            escalates=False,
        ),
        Clock(
            DeadlineKind.REVIEW_DECISION,
            Period(30, "days"),
            starts_on=(Milestone.REVIEW_REQUESTED,),
            stops_on=(Milestone.REVIEW_DECIDED,),
            responsible=Responsible.REVIEWING_ORGAN,
            rule="decide a review (复查) within 30 days of the request",
            legal_basis=f"{REGULATION}第三十五条",
            remind_before=Period(5, "days"),
            escalates=False,
        ),
        Clock(
            DeadlineKind.RE_REVIEW_DECISION,
            Period(30, "days"),
            starts_on=(Milestone.RE_REVIEW_REQUESTED,),
            stops_on=(Milestone.RE_REVIEW_DECIDED,),
            responsible=Responsible.REVIEWING_ORGAN,
            rule="decide a re-review (复核) within 30 days; hearing time is not counted",
            legal_basis=f"{REGULATION}第三十六条",
            remind_before=Period(5, "days"),
            escalates=False,
        ),
    ),
)

POLICIES = {STANDARD.name: STANDARD}


def load_policy(name_or_path: str) -> Policy:
    """The policy named (built in), or the one in a JSON file a locality wrote."""
    if name_or_path in POLICIES:
        return POLICIES[name_or_path]
    path = Path(name_or_path)
    if not path.is_file():
        raise ValueError(
            f"ONESTOP_FOLLOWUP_POLICY: {name_or_path!r} is neither a built-in policy "
            f"({', '.join(POLICIES)}) nor a JSON file"
        )
    try:
        return Policy.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
