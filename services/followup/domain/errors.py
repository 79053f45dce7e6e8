"""The one error of follow-up's domain, shared by the case, its clocks and the calendar."""

from __future__ import annotations

from shared.domain import DomainError


class FollowUpRefused(DomainError):
    """The case is not in a state where this can be done; the message says why."""
