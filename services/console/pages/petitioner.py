"""The petitioner's own page, without an account and sized for a phone: the case code from
the slip (typed, or in the QR code's link) shows where the matter is and what was answered,
and rates the handling — follow-up's public lookup and rating, under its rules (wrong codes
are limited per petitioner: their address is passed on)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.console.backend import Answer
from services.console.web import Page

router = APIRouter()


def _address(request: Request) -> str | None:
    return request.client.host if request.client else None


def _shown(page: Page, code: str, answer: Answer | None, status: int = 200) -> Response:
    if answer is not None and answer.status == 503:
        return page.render("public.html", status=503, code=code, case=None, problem="unavailable")
    case = answer.body if answer is not None and answer.ok else None
    problem = None
    if answer is not None and not answer.ok:
        problem = {404: "unknown", 422: "malformed", 429: "too-many"}.get(answer.status, "other")
    return page.render(
        "public.html",
        status=status if answer is None or answer.ok else answer.status,
        code=code,
        case=case,
        problem=problem,
    )


@router.get("/p")
async def lookup_page(
    request: Request, code: Annotated[str | None, Query(max_length=40)] = None
) -> Response:
    """The QR code's link carries the code: the page looks it up at once."""
    page = Page(request)
    if not code:
        return _shown(page, "", None)
    answer = await page.services.post(
        "followup", "/v1/public/lookup", None, {"code": code}, client_address=_address(request)
    )
    return _shown(page, code, answer)


@router.post("/p")
async def lookup(request: Request) -> Response:
    page = Page(request)
    code = (await page.fields()).get("code", "").strip().upper()
    answer = await page.services.post(
        "followup", "/v1/public/lookup", None, {"code": code}, client_address=_address(request)
    )
    return _shown(page, code, answer)


@router.post("/p/rating")
async def rate(request: Request) -> Response:
    page = Page(request)
    given = await page.fields()
    code = given.get("code", "").strip().upper()
    answer = await page.services.post(
        "followup",
        "/v1/public/rating",
        None,
        {
            "code": code,
            "satisfaction": given.get("satisfaction", ""),
            "comment": given.get("comment", ""),
        },
        client_address=_address(request),
    )
    if answer.ok:
        return page.render("public.html", code=code, case=answer.body, problem=None, rated=True)
    return _shown(page, code, answer)
