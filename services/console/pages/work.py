"""The work lists: a department's inbox, the supervision office's ledger of deadlines
(督办台账), and the cases a leader holds (包案) with what each waits on."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.console.backend import Answer
from services.console.web import Page

router = APIRouter()
PAGE = 25
Code = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")]
Offset = Annotated[int, Query(ge=0, le=100_000)]


async def _followups(page: Page, case_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Follow-up's view of each listed case (subject, clocks), as the user may see it."""
    found = await page.services.many(
        *(page.services.get("followup", f"/v1/cases/{c}", page.token) for c in case_ids)
    )
    return {c: a.body for c, a in zip(case_ids, found, strict=True) if a.ok}


@router.get("/inbox")
async def inbox(
    request: Request,
    state: Annotated[
        str, Query(pattern="^(awaiting-acceptance|accepted|objected|awaiting-handler|all)$")
    ] = "awaiting-acceptance",
    department: Code = None,
    offset: Offset = 0,
) -> Response:
    page = Page(request)
    code = page.actor.department if page.actor.role == "handler" else department
    departments = await page.services.get("routing", "/v1/departments", page.token)
    if not code:
        return page.render(
            "inbox.html",
            department=None,
            departments=departments.body if departments.ok else [],
            rows=[],
            total=0,
            state=state,
            offset=0,
        )
    answer = await page.services.get(
        "routing",
        f"/v1/departments/{code}/inbox",
        page.token,
        state=None if state == "all" else state,
        limit=PAGE,
        offset=offset,
    )
    if not answer.ok:
        return page.failed(answer)
    rows = answer.body["cases"]
    cases = await _followups(page, [r["case_id"] for r in rows])
    for row in rows:
        row["followup"] = cases.get(row["case_id"])
        row["seconds_left"] = page.seconds_until(row.get("objection_due"))
    names = {d["code"]: d["name"] for d in departments.body} if departments.ok else {}
    return page.render(
        "inbox.html",
        department=code,
        department_name=names.get(code, code),
        departments=departments.body if departments.ok else [],
        rows=rows,
        total=answer.body["total"],
        more=not answer.body.get("total_exact", True),
        state=state,
        offset=offset,
    )


@router.get("/ledger")
async def ledger(
    request: Request,
    state: Annotated[str, Query(pattern="^(overdue|due-soon|running)$")] = "overdue",
    department: Code = None,
    place: Code = None,
    offset: Offset = 0,
) -> Response:
    page = Page(request)
    answer, departments, places, tiers = await page.services.many(
        page.services.get(
            "followup",
            "/v1/deadlines",
            page.token,
            state=state,
            department=department,
            place=place,
            limit=PAGE,
            offset=offset,
        ),
        page.services.get("routing", "/v1/departments", page.token),
        page.services.get("intake", "/v1/places", page.token),
        page.services.get("routing", "/v1/tiers", page.token),
    )
    if not answer.ok:
        return page.failed(answer)
    names = {d["code"]: d["name"] for d in departments.body} if departments.ok else {}
    return page.render(
        "ledger.html",
        items=answer.body["items"],
        total=answer.body["total"],
        more=not answer.body.get("total_exact", True),
        state=state,
        department=department or "",
        place=place or "",
        offset=offset,
        departments=departments.body if departments.ok else [],
        names=names,
        places_by_tier=_by_tier(places, tiers),
    )


def _by_tier(places: Answer, tiers: Answer) -> list[tuple[str, list[dict[str, Any]]]]:
    """The places to filter by, grouped under their tiers, top tier first."""
    if not places.ok:
        return []
    order = [(t["code"], t["name"]) for t in tiers.body.get("tiers", [])] if tiers.ok else []
    known = {code for code, _ in order}
    order += sorted({(p["tier"], p["tier"]) for p in places.body if p["tier"] not in known})
    return [
        (name, sorted((p for p in places.body if p["tier"] == code), key=lambda p: p["label"]))
        for code, name in order
    ]


@router.get("/mine")
async def leader_cases(
    request: Request,
    leader: Annotated[str | None, Query(max_length=100)] = None,
    offset: Offset = 0,
) -> Response:
    page = Page(request)
    user = page.actor.user if page.actor.role == "leader" or not leader else leader
    answer = await page.services.get(
        "routing", f"/v1/leaders/{user}/cases", page.token, limit=PAGE, offset=offset
    )
    if not answer.ok:
        return page.failed(answer)
    rows = answer.body["cases"]
    cases = await _followups(page, [r["case_id"] for r in rows])
    for row in rows:
        row["followup"] = cases.get(row["case_id"])
        row["waits_on"] = waits_on(cases.get(row["case_id"]))
    return page.render(
        "leader.html",
        leader=user,
        rows=rows,
        total=answer.body["total"],
        more=not answer.body.get("total_exact", True),
        offset=offset,
    )


def waits_on(case: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the case waits on now: the soonest clock still running (its kind, who answers
    for it, when it falls due), or nothing when no clock runs."""
    if not case:
        return None
    running = [d for d in case["deadlines"] if d["state"] in ("open", "overdue", "paused")]
    if not running:
        return None
    soonest = min(running, key=lambda d: d["due_at"])
    return {
        "kind": soonest["kind"],
        "state": soonest["state"],
        "department": soonest.get("department") or soonest.get("responsible"),
        "due_at": soonest["due_at"],
        "seconds_left": soonest["seconds_left"],
    }
