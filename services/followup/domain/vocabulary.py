"""Follow-up's words, as enums: one definition each, read by the deadline policy, the domain,
the API and the wire mapping alike. Words other services speak too are in
`shared.vocabulary`; these are follow-up's own."""

from __future__ import annotations

from enum import StrEnum


class DeadlineKind(StrEnum):
    """The clocks a case may carry. A policy (`services.followup.policy`) says when each
    starts and stops and for how long; the domain knows what each means for the case."""

    ACCEPTANCE_NOTICE = "acceptance-notice"
    HANDLING_PLAN = "handling-plan"
    FIRST_REPORT = "first-report"
    RESOLUTION = "resolution"
    MONTHLY_REPORT = "monthly-report"
    STATUTORY_HANDLING = "statutory-handling"
    RETURN_VISIT = "return-visit"
    REVIEW_DECISION = "review-decision"
    RE_REVIEW_DECISION = "re-review-decision"


HANDED_ON = (DeadlineKind.HANDLING_PLAN, DeadlineKind.FIRST_REPORT, DeadlineKind.RESOLUTION)
"""The 13710 clocks a lead department answers for: a new lead starts its own."""

HANDLING = (DeadlineKind.RESOLUTION, DeadlineKind.STATUTORY_HANDLING)
"""The clocks an outcome must beat to count as on time."""


class Milestone(StrEnum):
    """A moment of a case that starts or stops clocks; the domain raises them, the policy
    says what each means for the clocks."""

    REGISTERED = "registered"
    ACCEPTED = "accepted"
    ACCEPTANCE_DECIDED = "acceptance-decided"
    ASSIGNED = "assigned"
    PLAN = "plan"
    PROGRESS = "progress"
    LONG_TERM_PLAN = "long-term-plan"
    OUTCOME = "outcome"
    RATED = "rated"
    REOPENED = "reopened"
    REVIEW_REQUESTED = "review-requested"
    REVIEW_DECIDED = "review-decided"
    RE_REVIEW_REQUESTED = "re-review-requested"
    RE_REVIEW_DECIDED = "re-review-decided"


class Responsible(StrEnum):
    """Who answers for a clock: the clerk who first received the case, its lead department,
    the supervision office, or the organ reviewing it."""

    FIRST_RECEIVER = "first-receiver"
    LEAD = "lead"
    SUPERVISION = "supervision"
    REVIEWING_ORGAN = "reviewing-organ"


class DeadlineState(StrEnum):
    """Where a deadline stands at a moment."""

    OPEN = "open"
    OVERDUE = "overdue"
    MET = "met"
    MET_LATE = "met-late"
    SUPERSEDED = "superseded"
    PAUSED = "paused"


class Status(StrEnum):
    """Where a case stands, derived from what follow-up knows of it."""

    PENDING_REGISTRATION = "pending-registration"
    REGISTERED = "registered"
    AWAITING_MANUAL_DISPATCH = "awaiting-manual-dispatch"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in-progress"
    REOPENED = "reopened"
    RESOLVED = "resolved"
    CLOSED_OUT = "closed-out"
    UNDER_REVIEW = "under-review"
    UNDER_RE_REVIEW = "under-re-review"
    FINAL = "final"
    DECLINED = "declined"
    DIVERTED = "diverted"


class ReportKind(StrEnum):
    """What the lead department reported on its handling (13710)."""

    PLAN = "plan"
    PROGRESS = "progress"
    LONG_TERM_PLAN = "long-term-plan"


class OutcomeForm(StrEnum):
    """处理意见书 — a written handling opinion (Art. 32), or a mediation or settlement
    agreement the parties signed (Art. 33)."""

    OPINION = "opinion"
    AGREEMENT = "agreement"


class Opinion(StrEnum):
    """What a handling opinion says of the request (Art. 32): 支持 / 解释说明 / 不予支持."""

    SUPPORT = "support"
    EXPLAIN = "explain"
    NOT_SUPPORT = "not-support"


class Satisfaction(StrEnum):
    """The petitioner's answer to an outcome: satisfied, basically satisfied, unsatisfied."""

    SATISFIED = "satisfied"
    BASICALLY_SATISFIED = "basically-satisfied"
    UNSATISFIED = "unsatisfied"


SETTLED = (Satisfaction.SATISFIED, Satisfaction.BASICALLY_SATISFIED)
"""Answers that count the matter as settled (化解)."""


class RatingSource(StrEnum):
    """Who recorded a satisfaction: staff at a return visit, or the petitioner online with
    the case code."""

    RETURN_VISIT = "return-visit"
    PETITIONER = "petitioner"


class ReviewLevel(StrEnum):
    """复查 (Art. 35) by the next higher organ, then 复核 (Art. 36), whose decision is final."""

    REVIEW = "review"
    RE_REVIEW = "re-review"

    @property
    def requested(self) -> Milestone:
        return Milestone(f"{self.value}-requested")

    @property
    def decided(self) -> Milestone:
        return Milestone(f"{self.value}-decided")


class ReviewDecision(StrEnum):
    """What the reviewing organ decided of the handling opinion."""

    UPHELD = "upheld"
    REVISED = "revised"
    REVOKED = "revoked"


class VisitKind(StrEnum):
    """How staff reached the petitioner: a visit in person, or a call back by telephone."""

    VISIT = "visit"
    RETURN_CALL = "return-call"


class AttachmentKind(StrEnum):
    """What a file attached to a case is: the petitioner's letter, an identity document, a
    mediation or settlement agreement, a signed cease-petition commitment (息诉罢访承诺书),
    a photo (of the damage, of the repair), or another document."""

    LETTER = "letter"
    IDENTITY = "identity-document"
    AGREEMENT = "agreement"
    COMMITMENT = "commitment"
    PHOTO = "photo"
    OTHER = "other"

    @property
    def personal(self) -> bool:
        """Whether it is a petitioner's personal data, erased with them: an ID scan, their
        letter, what they signed."""
        return self in (
            AttachmentKind.LETTER,
            AttachmentKind.IDENTITY,
            AttachmentKind.AGREEMENT,
            AttachmentKind.COMMITMENT,
        )
