"""Who sees what: the one visibility policy every read and write path of every service asks.

For an actor (a user with a role, perhaps a department) and a case, `sight` says how much
of it they see:

- `HIDDEN` — nothing, not even that it exists: an accusation is never shown to the unit it
  accuses (《信访工作条例》第三十条第三款, Art. 30 ¶3; Art. 46(5)), in any service, in any
  past state, and a refusal must not tell them where it went; another government system
  sees only the cases it filed.
- `MASKED` — the case, with its petitioners' personal data masked (王**, 138****8000).
- `FULL` — the case with personal data, for those who need to know: the clerks of the
  centre (the first receiver among them), the handlers of the departments the case is
  assigned to, the supervision office and leaders.

Everyone else — an auditor, an admin, a handler of an unrelated department — sees it masked.
What a case's facts are (who received it first, which departments handle it, which are
barred as accused, which system filed it) each service knows from its own events; the rule
is here, once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

from shared.domain import Actor

NEED_TO_KNOW_ROLES = frozenset({"clerk", "supervisor", "leader"})
"""Roles entitled to every case's personal data (the centre's own desks and supervision)."""


class Sight(IntEnum):
    """How much of a case an actor sees; ordered, so the most of several is `max`."""

    HIDDEN = 0
    MASKED = 1
    FULL = 2


@dataclass(frozen=True)
class CaseAccess:
    """The facts of a case the policy decides by."""

    first_receiver: str | None = None
    departments: frozenset[str] = field(default_factory=frozenset)
    """The lead and co-handling departments it is assigned to now."""
    barred: frozenset[str] = field(default_factory=frozenset)
    """Units an accusation names: never shown it (Art. 30)."""
    filed_by: str | None = None
    """The other government system that filed it, if one did."""


def sight(actor: Actor, access: CaseAccess) -> Sight:
    """How much of the case `actor` sees (see the module docstring)."""
    if actor.department is not None and actor.department in access.barred:
        return Sight.HIDDEN
    if actor.role == "integration":
        return Sight.MASKED if access.filed_by == actor.user else Sight.HIDDEN
    if actor.role in NEED_TO_KNOW_ROLES or actor.role == "system":
        return Sight.FULL
    if actor.role == "handler" and actor.department in access.departments:
        return Sight.FULL
    if access.first_receiver is not None and actor.user == access.first_receiver:
        return Sight.FULL
    return Sight.MASKED


def sight_of_person(actor: Actor, cases: Iterable[CaseAccess]) -> Sight:
    """How much of a petitioner `actor` sees: as much as of the most they see of the
    petitioner's cases (their details are in each), and nothing if they see none."""
    return max((sight(actor, c) for c in cases), default=Sight.MASKED)


def may_act_on(actor: Actor, access: CaseAccess) -> bool:
    """Whether `actor` may change the case at all (what a role may do is the route's
    permission; this is about the case): not a unit it accuses, not a system it is not from."""
    return sight(actor, access) is not Sight.HIDDEN
