"""One case, as the signed-in user may see it — intake's registration, routing's assignment
and follow-up's clocks and handling side by side — and every action on it the user's role
may take, each a form posted to the one service that owns it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.console.backend import Answer, Service
from services.console.web import Page

router = APIRouter()


async def _case(page: Page, case_id: UUID) -> tuple[Answer, Answer, Answer]:
    intake, routing, followup = await page.services.many(
        page.services.get("intake", f"/v1/cases/{case_id}", page.token),
        page.services.get("routing", f"/v1/cases/{case_id}/assignment", page.token),
        page.services.get("followup", f"/v1/cases/{case_id}", page.token),
    )
    return intake, routing, followup


async def _case_page(
    page: Page,
    case_id: UUID,
    status: int = 200,
    failed: str | None = None,
    answer: Answer | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    intake, routing, followup = await _case(page, case_id)
    if not intake.ok and not followup.ok:
        return page.failed(intake if intake.status != 503 else followup)
    departments = await page.services.get("routing", "/v1/departments", page.token)
    mine = None
    if routing.ok and page.actor.department:
        mine = next(
            (d for d in routing.body["departments"] if d["code"] == page.actor.department), None
        )
    return page.render(
        "case.html",
        status=status,
        case_id=str(case_id),
        case=intake.body if intake.ok else None,
        assignment=routing.body if routing.ok else None,
        followup=followup.body if followup.ok else None,
        mine=mine,
        departments=departments.body if departments.ok else [],
        failed=failed,
        problem=answer.detail if answer else "",
        errors=answer.field_errors() if answer else {},
        form=form or {},
    )


@router.get("/cases/{case_id}")
async def case_page(request: Request, case_id: UUID) -> Response:
    return await _case_page(Page(request), case_id)


Build = Callable[[dict[str, str], Page], Any]


async def _act(
    request: Request,
    case_id: UUID,
    action: str,
    service: Service,
    path: str,
    build: Build | None = None,
) -> Response:
    """Posts the action's form to its service; back to where the user came from when it was
    done, or the case page again with the service's reasons beside the form."""
    page = Page(request)
    given = await page.fields()
    body = build(given, page) if build else {}
    answer = await page.services.post(service, f"/v1/cases/{case_id}{path}", page.token, body)
    if answer.ok:
        back = given.get("next", "")
        target = back if back.startswith("/") and not back.startswith("//") else ""
        return page.redirect(target or f"/cases/{case_id}", done=action)
    if answer.status in (503, 429):
        return page.failed(answer)
    return await _case_page(page, case_id, answer.status, action, answer, given)


def _text(given: dict[str, str], name: str) -> str | None:
    value = given.get(name, "").strip()
    return value or None


def _lines(given: dict[str, str], name: str) -> list[str]:
    return [line.strip() for line in given.get(name, "").splitlines() if line.strip()]


def _codes(given: dict[str, str], name: str) -> list[str]:
    return [c for c in given.get(name, "").replace(",", " ").split() if c]


# --- at the door: intake --------------------------------------------------------------------


@router.post("/cases/{case_id}/classify")
async def classify(request: Request, case_id: UUID) -> Response:
    return await _act(
        request,
        case_id,
        "classify",
        "intake",
        "/classification",
        lambda g, _: {
            "legal_class": g.get("legal_class", ""),
            "litigation_related": g.get("litigation_related") == "on",
            "accused": _text(g, "accused"),
            "note": _text(g, "note"),
        },
    )


@router.post("/cases/{case_id}/decide")
async def decide(request: Request, case_id: UUID) -> Response:
    return await _act(
        request,
        case_id,
        "decide",
        "intake",
        "/acceptance",
        lambda g, _: {
            "decision": g.get("decision", ""),
            "reason": _text(g, "reason"),
            "diverted_to": _text(g, "diverted_to") if g.get("decision") == "divert" else None,
        },
    )


# --- the department: routing and follow-up ----------------------------------------------------


@router.post("/cases/{case_id}/accept")
async def accept(request: Request, case_id: UUID) -> Response:
    return await _act(request, case_id, "accept", "routing", "/assignment/accept")


@router.post("/cases/{case_id}/object")
async def object_to(request: Request, case_id: UUID) -> Response:
    return await _act(
        request,
        case_id,
        "object_to",
        "routing",
        "/assignment/objection",
        lambda g, _: {"reason": g.get("reason", "").strip()},
    )


@router.post("/cases/{case_id}/part")
async def report_part(request: Request, case_id: UUID) -> Response:
    return await _act(
        request,
        case_id,
        "report_part",
        "routing",
        "/assignment/parts",
        lambda g, _: {"summary": g.get("summary", "").strip()},
    )


@router.post("/cases/{case_id}/plan")
async def plan(request: Request, case_id: UUID) -> Response:
    return await _act(
        request,
        case_id,
        "plan",
        "followup",
        "/plan",
        lambda g, _: {"summary": g.get("summary", "").strip(), "major": g.get("major") == "on"},
    )


@router.post("/cases/{case_id}/progress")
async def progress(request: Request, case_id: UUID) -> Response:
    return await _act(
        request,
        case_id,
        "progress",
        "followup",
        "/progress",
        lambda g, _: {"summary": g.get("summary", "").strip()},
    )


@router.post("/cases/{case_id}/outcome")
async def outcome(request: Request, case_id: UUID) -> Response:
    return await _act(
        request,
        case_id,
        "outcome",
        "followup",
        "/outcome",
        lambda g, _: {
            "form": g.get("form", ""),
            "opinion": _text(g, "opinion") if g.get("form") == "opinion" else None,
            "summary": g.get("summary", "").strip(),
        },
    )


# --- the supervision office -----------------------------------------------------------------


@router.post("/cases/{case_id}/notice")
async def notice(request: Request, case_id: UUID) -> Response:
    return await _act(
        request,
        case_id,
        "notice",
        "followup",
        "/supervision-notices",
        lambda g, _: {"text": g.get("text", "").strip(), "department": _text(g, "department")},
    )


@router.post("/cases/{case_id}/escalate")
async def escalate(request: Request, case_id: UUID) -> Response:
    return await _act(
        request,
        case_id,
        "escalate",
        "routing",
        "/assignment/escalation",
        lambda g, _: {"reason": g.get("reason", "").strip()},
    )


@router.post("/cases/{case_id}/joint-meeting")
async def joint_meeting(request: Request, case_id: UUID) -> Response:
    return await _act(
        request,
        case_id,
        "joint_meeting",
        "routing",
        "/assignment/joint-meetings",
        lambda g, _: {
            "chair": g.get("chair", "").strip(),
            "departments": _codes(g, "departments"),
            "minutes": g.get("minutes", "").strip(),
            "decisions": _lines(g, "decisions"),
            "lead": _text(g, "lead"),
            "co_handlers": _codes(g, "co_handlers"),
        },
    )


@router.post("/cases/{case_id}/return-visit")
async def return_visit(request: Request, case_id: UUID) -> Response:
    return await _act(
        request,
        case_id,
        "return_visit",
        "followup",
        "/return-visit",
        lambda g, _: {"satisfaction": g.get("satisfaction", ""), "notes": g.get("notes", "")},
    )


@router.post("/cases/{case_id}/close-out")
async def close_out(request: Request, case_id: UUID) -> Response:
    return await _act(request, case_id, "close_out", "followup", "/close-out")


@router.post("/cases/{case_id}/visit")
async def visit(request: Request, case_id: UUID) -> Response:
    return await _act(
        request,
        case_id,
        "visit",
        "followup",
        "/visits",
        lambda g, _: {
            "kind": g.get("kind", "visit"),
            "visited_by": g.get("visited_by", "").strip(),
            "summary": g.get("summary", "").strip(),
        },
    )


# --- a leader -------------------------------------------------------------------------------


@router.post("/cases/{case_id}/take")
async def take_personally(request: Request, case_id: UUID) -> Response:
    return await _act(
        request,
        case_id,
        "take_personally",
        "routing",
        "/assignment/leader",
        lambda g, _: {"note": g.get("note", "").strip()},
    )
