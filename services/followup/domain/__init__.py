"""Follow-up's domain, split along its seams:

- `case`      a case's handling: what the other services said of it, outcome, return visit,
              reopening, close-out and review (`FollowUpCase`)
- `clocks`    its clocks: deadlines from the policy, reminders, breaches and supervision
              notices, pauses, extensions (`CaseClocks`, the base of `FollowUpCase`)
- `calendar`  the holiday calendar working days are counted with (`HolidayCalendar`)
- `history`   the hash-chained audit trail of every hand-off (`CaseHistory`)

Imports nothing from the outside world but eventsourcing's aggregate.
"""

from __future__ import annotations

from eventsourcing.utils import register_topic

from services.followup.domain.calendar import CALENDAR_ID, HolidayCalendar
from services.followup.domain.case import (
    FORMS,
    OPINIONS,
    REVIEW_DECISIONS,
    REVIEW_LEVELS,
    FollowUpCase,
)
from services.followup.domain.clocks import SUPERVISION_OFFICE, CaseClocks, Rules
from services.followup.domain.errors import FollowUpRefused
from services.followup.domain.history import (
    GENESIS,
    CaseHistory,
    Verification,
    causal_order,
    entry_hash,
    history_id,
)

# Events stored before the split name their classes in this module, e.g.
# `services.followup.domain:FollowUpCase.DeadlinesScheduled`: each aggregate's old topic
# resolves to the aggregate, and an event's old topic to the class of that name on it.
for _moved in (FollowUpCase, HolidayCalendar, CaseHistory):
    register_topic(f"{__name__}:{_moved.__qualname__}", _moved)

__all__ = [
    "CALENDAR_ID",
    "FORMS",
    "GENESIS",
    "OPINIONS",
    "REVIEW_DECISIONS",
    "REVIEW_LEVELS",
    "SUPERVISION_OFFICE",
    "CaseClocks",
    "CaseHistory",
    "FollowUpCase",
    "FollowUpRefused",
    "HolidayCalendar",
    "Rules",
    "Verification",
    "causal_order",
    "entry_hash",
    "history_id",
]
