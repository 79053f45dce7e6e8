"""Follow-up's domain, split along its seams:

- `vocabulary` its words, as enums (deadline kinds, milestones, satisfaction, review levels…)
- `case`       a case's handling: what the other services said of it, outcome, return visit,
               reopening, close-out, review, and visits (`FollowUpCase`)
- `clocks`     its clocks: deadlines from the policy, reminders, breaches and supervision
               notices, pauses, extensions (`CaseClocks`, the base of `FollowUpCase`)
- `calendar`   the holiday calendar working days are counted with (`HolidayCalendar`)
- `history`    the hash-chained audit trail of every hand-off (`CaseHistory`)

Imports nothing from the outside world but eventsourcing's aggregate.
"""

from __future__ import annotations

from eventsourcing.utils import register_topic

from services.followup.domain.calendar import CALENDAR_ID, HolidayCalendar, HolidayYear
from services.followup.domain.case import (
    Attachment,
    CeaseCommitment,
    Closure,
    Finality,
    FollowUpCase,
    LongTermPlan,
    Outcome,
    Part,
    Rating,
    Reopening,
    Report,
    Review,
    Unit,
    Visit,
    happened_at,
)
from services.followup.domain.clocks import (
    SUPERVISION_OFFICE,
    CaseClocks,
    Deadline,
    Extension,
    Pause,
    Rules,
    SupervisionNotice,
)
from services.followup.domain.errors import FollowUpRefused
from services.followup.domain.history import (
    GENESIS,
    CaseHistory,
    ChainLink,
    HistoryEntry,
    Verification,
    causal_order,
    entry_hash,
    history_id,
)
from shared.domain import Actor

# Events stored before the split name their classes in this module, e.g.
# `services.followup.domain:FollowUpCase.DeadlinesScheduled`: each aggregate's old topic
# resolves to the aggregate, and an event's old topic to the class of that name on it.
for _moved in (FollowUpCase, HolidayCalendar, CaseHistory):
    register_topic(f"{__name__}:{_moved.__qualname__}", _moved)

VALUE_OBJECTS: tuple[type, ...] = (Deadline, Extension, Unit, HistoryEntry, Actor)
"""The value objects follow-up's stored events carry (see `shared.values.register_values`)."""

__all__ = [
    "CALENDAR_ID",
    "GENESIS",
    "SUPERVISION_OFFICE",
    "VALUE_OBJECTS",
    "Attachment",
    "CaseClocks",
    "CaseHistory",
    "CeaseCommitment",
    "ChainLink",
    "Closure",
    "Deadline",
    "Extension",
    "Finality",
    "FollowUpCase",
    "FollowUpRefused",
    "HistoryEntry",
    "HolidayCalendar",
    "HolidayYear",
    "LongTermPlan",
    "Outcome",
    "Part",
    "Pause",
    "Rating",
    "Reopening",
    "Report",
    "Review",
    "Rules",
    "SupervisionNotice",
    "Unit",
    "Verification",
    "Visit",
    "causal_order",
    "entry_hash",
    "happened_at",
    "history_id",
]
