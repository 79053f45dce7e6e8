"""What callers see of an assignment, as JSON: built from the domain's value objects, in the
shapes the API has always answered with."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from services.routing.domain import (
    Assignment,
    CaseLeader,
    DepartmentRef,
    Escalation,
    JointMeeting,
    Objection,
    Party,
    Transfer,
)
from shared.domain import Actor


def assignment_view(a: Assignment, actor: Actor) -> dict[str, Any]:
    """The assignment as staff see it (a case hidden from the caller — an accusation against
    their unit — never reaches a view: shared.service's gate answers not found)."""
    return {
        "case_id": str(a.id),
        "status": a.status,
        "lead": department(a.lead) if a.lead else None,
        "co_handlers": [department(d) for d in a.co_handlers],
        "departments": [party(p) for p in a.parties.values()],
        "rule_id": a.rule_id,
        "rule_version": a.rule_version,
        "reason": a.reason,
        "handled_at": asdict(a.handled_at) if a.handled_at else None,
        "legal_class": a.legal_class,
        "restricted": a.accused is not None,
        "level": a.level,
        "escalations": [escalation(e) for e in a.escalations],
        "joint_meetings": [meeting(m) for m in a.meetings],
        "leader": leader(a.leader) if a.leader else None,
        "transfers": [transfer(t) for t in a.transfers],
        "version": a.version,
    }


def department(ref: DepartmentRef) -> dict[str, Any]:
    return {"code": ref.code, "name": ref.name}


def party(p: Party) -> dict[str, Any]:
    return {
        **department(p.department),
        "role": p.role,
        "state": p.state,
        "since": p.since,
        "objection_due": p.objection_due,
        "objection": objection(p.objection) if p.objection else None,
        "binding": p.binding,
        "handler": p.handler,
        "recused": list(p.recused),
        "answered_at": p.answered_at,
        "parts": [{"summary": r.summary, "at": r.at} for r in p.parts],
    }


def objection(o: Objection) -> dict[str, Any]:
    """Its reason and time; and the review's reason once it is overruled."""
    found: dict[str, Any] = {"reason": o.reason, "at": o.at}
    if o.overruled is not None:
        found["overruled"] = o.overruled
    return found


def escalation(e: Escalation) -> dict[str, Any]:
    return {
        "level": e.level,
        "trigger": e.trigger,
        "reason": e.reason,
        "at": e.at,
        "by": e.by.as_dict(),
    }


def meeting(m: JointMeeting) -> dict[str, Any]:
    return {
        "chair": m.chair,
        "departments": list(m.departments),
        "minutes": m.minutes,
        "decisions": list(m.decisions),
        "at": m.at,
    }


def leader(taken: CaseLeader) -> dict[str, Any]:
    return {"user": taken.user, "note": taken.note, "at": taken.at}


def transfer(t: Transfer) -> dict[str, Any]:
    return {
        "from": department(t.from_lead),
        "to": department(t.to_lead),
        "trigger": t.trigger,
        "at": t.at,
    }
