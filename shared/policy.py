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

from shared.domain import Actor, Forbidden
from shared.territory import Territory

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
    handed_on_by: frozenset[str] = field(default_factory=frozenset)
    """Departments that had it and handed it on (an objection upheld, a transfer): they may
    still take a dispute over who is responsible up the ladder, but see no more of it."""


def accused_departments(accused: str | None, territory: Territory) -> frozenset[str]:
    """The registered departments an accusation names, by code or by name: the units it is
    never shown to (Art. 30). Every service that learns an accusation bars the same ones."""
    if not accused:
        return frozenset()
    text = accused.strip()
    return frozenset(
        d.code for d in territory.departments.values() if d.code == text or d.name in text
    )


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
    if actor.role != "auditor" and actor.user == access.first_receiver:
        return Sight.FULL  # who received it first owns it (首访责任制); an auditor never needs it
    return Sight.MASKED


def sight_of_person(actor: Actor, cases: Iterable[CaseAccess]) -> Sight:
    """How much of a petitioner `actor` sees: as much as of the most they see of the
    petitioner's cases (their details are in each), and nothing if they see none."""
    return max((sight(actor, c) for c in cases), default=Sight.MASKED)


def require_part_in(actor: Actor, access: CaseAccess) -> None:
    """A handler escalates a case for a department that has it or handed it on — an
    unrelated department cannot (403)."""
    involved = access.departments | access.handed_on_by
    if actor.role == "handler" and actor.department not in involved:
        raise Forbidden(f"department {actor.department!r} has no part in this case")


def may_act_on(actor: Actor, access: CaseAccess) -> bool:
    """Whether `actor` may change the case at all (what a role may do is the route's
    permission; this is about the case): not a unit it accuses, not a system it is not from."""
    return sight(actor, access) is not Sight.HIDDEN


# --- what each role may do ----------------------------------------------------------------

CLERK, HANDLER, SUPERVISOR, LEADER, AUDITOR, ADMIN, INTEGRATION = (
    "clerk", "handler", "supervisor", "leader", "auditor", "admin", "integration",
)  # fmt: skip
STAFF = frozenset({CLERK, HANDLER, SUPERVISOR, LEADER, AUDITOR, ADMIN})
"""Everyone at the centre, and the auditor who reads it all."""
SUPERVISING = frozenset({SUPERVISOR, LEADER, ADMIN})
ANY_CALLER = frozenset({*STAFF, INTEGRATION})

PUBLIC = frozenset(
    {
        "*.live",
        "*.ready",
        "*.prometheus",
        "intake.services",
        "intake.service_definition",
        "intake.post_request",
        "intake.get_requests",
        "intake.get_request",
        "followup.lookup",
        "followup.rate",
        "console.static",
        "console.signin_page",
        "console.signin",
        "console.lookup_page",
        "console.lookup",
        "console.rate",
    }
)
"""What is answered without a token: health and metrics; Open311 (its own API keys); the
petitioner's page (their case code), on follow-up and in the console; the console's sign-in
and its styles."""

PERMISSIONS: dict[str, frozenset[str]] = {
    # intake: the one door
    "intake.register_case": frozenset({CLERK, ADMIN, INTEGRATION}),
    "intake.list_cases": ANY_CALLER,
    "intake.get_case": ANY_CALLER,
    "intake.classify_case": frozenset({CLERK, SUPERVISOR, LEADER, ADMIN}),
    "intake.decide_acceptance": frozenset({CLERK, SUPERVISOR, LEADER, ADMIN}),
    "intake.find_petitioner": frozenset({CLERK, SUPERVISOR, LEADER, ADMIN}),
    "intake.get_petitioner": STAFF,
    "intake.personal_data_reads": frozenset({AUDITOR}),
    "intake.categories": ANY_CALLER,
    "intake.places": ANY_CALLER,
    "intake.legal_channels": ANY_CALLER,
    "intake.queue_board": ANY_CALLER,
    "intake.queue_figures": ANY_CALLER,
    "intake.take_ticket": frozenset({CLERK, HANDLER, ADMIN}),
    "intake.call_next": frozenset({CLERK, HANDLER, ADMIN}),
    "intake.transfer_ticket": frozenset({CLERK, HANDLER, ADMIN}),
    "intake.finish_ticket": frozenset({CLERK, HANDLER, ADMIN}),
    # routing: who handles it
    "routing.get_assignment": STAFF,
    "routing.accept": frozenset({HANDLER}),
    "routing.object_to": frozenset({HANDLER}),
    "routing.review": SUPERVISING,
    "routing.dispatch": SUPERVISING,
    "routing.escalate": frozenset({HANDLER, *SUPERVISING}),
    "routing.joint_meeting": SUPERVISING,
    "routing.take_personally": frozenset({LEADER}),
    "routing.recuse": frozenset({HANDLER}),
    "routing.take_over": frozenset({HANDLER}),
    "routing.report_part": frozenset({HANDLER}),
    "routing.inbox": frozenset({HANDLER, *SUPERVISING, AUDITOR}),
    "routing.dispatch_queue": frozenset({*SUPERVISING, AUDITOR}),
    # routing: the registry of the territory, read by every caller, changed by an admin
    "routing.get_territory": ANY_CALLER,
    "routing.put_territory": frozenset({ADMIN}),
    "routing.get_tiers": ANY_CALLER,
    "routing.put_tiers": frozenset({ADMIN}),
    "routing.get_statistics": ANY_CALLER,
    "routing.put_statistics": frozenset({ADMIN}),
    "routing.dispatch_rules": ANY_CALLER,
    "routing.publish_rules": frozenset({ADMIN}),
    **{
        f"routing.{verb}_{kind}": ANY_CALLER if verb in ("list", "read") else frozenset({ADMIN})
        for kind in ("places", "departments", "lines", "windows", "categories")
        for verb in ("list", "read", "put", "retire")
    },
    # follow-up: the clock, the outcome, the return visit
    "followup.get_case": STAFF,
    "followup.get_history": STAFF,
    "followup.file_plan": frozenset({HANDLER, SUPERVISOR, LEADER}),
    "followup.report_progress": frozenset({HANDLER, SUPERVISOR, LEADER}),
    "followup.record_outcome": frozenset({HANDLER, SUPERVISOR, LEADER}),
    "followup.long_term_plan": frozenset({LEADER}),
    "followup.return_visit": frozenset({CLERK, HANDLER, SUPERVISOR, LEADER, ADMIN}),
    "followup.cease_commitment": frozenset({CLERK, HANDLER, SUPERVISOR, LEADER, ADMIN}),
    "followup.close_out": SUPERVISING,
    "followup.request_review": frozenset({CLERK, *SUPERVISING}),
    "followup.decide_review": SUPERVISING,
    "followup.record_visit": frozenset({CLERK, HANDLER, SUPERVISOR, LEADER}),
    "followup.pause": SUPERVISING,
    "followup.resume": SUPERVISING,
    "followup.extend": frozenset({LEADER}),
    "followup.supervise": SUPERVISING,
    "followup.deadlines": frozenset({HANDLER, *SUPERVISING, AUDITOR}),
    "followup.policy": STAFF,
    "followup.calendar": STAFF,
    "followup.publish_year": frozenset({ADMIN}),
    "followup.get_statistics": frozenset({SUPERVISOR, LEADER, AUDITOR, ADMIN}),
    "routing.leader_cases": frozenset({LEADER, SUPERVISOR, AUDITOR, ADMIN}),
}
"""Each operation of each service (`<service>.<route name>`, its OpenAPI operationId) and
the roles that may call it. An operation missing here is refused to everyone — a new
endpoint is closed until the policy says who may use it (and a test fails until it does)."""


# --- the console: what each of its pages and forms calls -------------------------------------

CONSOLE_USES: dict[str, tuple[str, ...]] = {
    "home": (),
    "signout": (),
    "window": ("intake.queue_board", "intake.call_next"),
    "take_ticket": ("intake.take_ticket",),
    "call_next": ("intake.call_next",),
    "finish_ticket": ("intake.finish_ticket",),
    "register_form": ("intake.register_case", "intake.categories", "intake.places"),
    "register": ("intake.register_case",),
    "slip": ("intake.get_case",),
    "cases": ("intake.list_cases",),
    "case_page": ("intake.get_case", "routing.get_assignment", "followup.get_case"),
    "classify": ("intake.classify_case",),
    "decide": ("intake.decide_acceptance",),
    "petitioners": ("intake.find_petitioner",),
    "petitioner": ("intake.get_petitioner",),
    "inbox": ("routing.inbox",),
    "accept": ("routing.accept",),
    "object_to": ("routing.object_to",),
    "report_part": ("routing.report_part",),
    "plan": ("followup.file_plan",),
    "progress": ("followup.report_progress",),
    "outcome": ("followup.record_outcome",),
    "ledger": ("followup.deadlines",),
    "notice": ("followup.supervise",),
    "escalate": ("routing.escalate",),
    "joint_meeting": ("routing.joint_meeting",),
    "return_visit": ("followup.return_visit",),
    "close_out": ("followup.close_out",),
    "visit": ("followup.record_visit",),
    "take_personally": ("routing.take_personally",),
    "leader_cases": ("routing.leader_cases",),
    "timeline": ("followup.get_history",),
    "statistics": ("followup.get_statistics",),
    "statistics_csv": ("followup.get_statistics",),
    "statistics_xlsx": ("followup.get_statistics",),
}
"""Each page and form of the console (`console.<route name>`) and the services' operations it
calls with the signed-in user's token. Who may use it follows from them: the staff roles
that may call every one of those operations — so the console never offers what the services
would refuse, and a change to a service's permission changes the console's with it."""

PERMISSIONS.update(
    {
        f"console.{page}": frozenset(STAFF).intersection(*(PERMISSIONS[op] for op in uses))
        for page, uses in CONSOLE_USES.items()
    }
)


def public(service: str, operation: str) -> bool:
    return f"*.{operation}" in PUBLIC or f"{service}.{operation}" in PUBLIC


def permit(actor: Actor, service: str, operation: str) -> None:
    """Refuses (403) a caller whose role may not call the operation."""
    roles = PERMISSIONS.get(f"{service}.{operation}")
    if roles is None:
        raise Forbidden(f"{service}.{operation} is not in the visibility policy: nobody may")
    if actor.role not in roles:
        raise Forbidden(f"role {actor.role!r} may not do this; allowed: {', '.join(sorted(roles))}")


def require_department(actor: Actor) -> None:
    """A handler acts for their department, which their token names."""
    if actor.role == HANDLER and not actor.department:
        raise Forbidden("a handler's token names their department (onestop token --department)")
