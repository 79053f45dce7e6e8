"""The front of the console: signing in and out, the home page, and the window clerk's desk
— the queue at my window, registering a visitor (field errors from the API, the duplicate
dialog), the slip with the case code, finding a petitioner's earlier matters."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from services.console import forms
from services.console.signin import SignInRefused, end_session, keep_session
from services.console.web import Page
from shared.vocabulary import Channel, LegalClass

router = APIRouter()
WINDOW_COOKIE = "onestop_window"
Code = Annotated[str | None, Query(max_length=20, pattern=r"^[A-Za-z0-9-]*$")]


def _safe_next(target: str | None) -> str:
    """Only a path of this console (never another site) is a place to go back to."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"


@router.get("/signin")
def signin_page(request: Request, next: Annotated[str | None, Query(max_length=500)] = None):
    page = Page(request)
    return page.render("signin.html", next=_safe_next(next), errors={})


@router.post("/signin")
async def signin(request: Request) -> Response:
    page = Page(request)
    given = await page.fields()
    try:
        session = page.console.signin.complete(given)
    except SignInRefused as refused:
        return page.render(
            "signin.html",
            status=422,
            next=_safe_next(given.get("next")),
            errors={refused.field: page.t("sign-in:" + str(refused))},
        )
    response = page.redirect(_safe_next(given.get("next")))
    keep_session(response, session, page.console.settings)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    response = RedirectResponse("/signin", status_code=303)
    end_session(response)
    return response


@router.get("/")
def home(request: Request) -> Response:
    """Each role's own desk is its home; the others are in the navigation."""
    page = Page(request)
    for name, href in (
        ("register", "/window"),
        ("accept", "/inbox"),
        ("take_personally", "/mine"),
        ("notice", "/ledger"),
        ("statistics", "/cases"),
    ):
        if page.may(name):
            return page.redirect(href)
    return page.redirect("/cases")


# --- the queue at my window -------------------------------------------------------------


@router.get("/window")
async def window(request: Request, window: Code = None) -> Response:
    page = Page(request)
    board = await page.services.get("intake", "/v1/queue", page.token)
    if not board.ok:
        return page.failed(board)
    windows: dict[str, Any] = board.body["windows"]
    mine = window or request.cookies.get(WINDOW_COOKIE)
    if mine not in windows:
        mine = next(iter(sorted(windows)), None)
    tickets = board.body["tickets"]
    serving = [t for t in tickets if t["window"] == mine and t["state"] == "called"]
    lines = board.body["lines"]
    figures = board.body["figures"]["lines"]
    response = page.render(
        "window.html",
        windows=sorted(windows),
        window=mine,
        window_lines=windows.get(mine, {}).get("lines", []) if mine else [],
        lines=lines,
        figures=figures,
        serving=serving[-1] if serving else None,
        waiting=[t for t in tickets if t["state"] == "waiting"],
        called=request.query_params.get("ticket"),
    )
    if mine:
        response.set_cookie(WINDOW_COOKIE, mine, samesite="strict", httponly=True)
    return response


@router.post("/window/ticket")
async def take_ticket(request: Request) -> Response:
    page = Page(request)
    given = await page.fields()
    answer = await page.services.post(
        "intake", "/v1/queue/tickets", page.token, {"line": given.get("line", "")}
    )
    if not answer.ok:
        return page.failed(answer)
    return page.redirect(
        "/window", window=given.get("window", ""), done="ticket", ticket=answer.body["number"]
    )


@router.post("/window/call")
async def call_next(request: Request) -> Response:
    page = Page(request)
    given = await page.fields()
    code = given.get("window", "")
    answer = await page.services.post("intake", f"/v1/queue/windows/{code}/call", page.token)
    if answer.status == 204:
        return page.redirect("/window", window=code, done="nobody")
    if not answer.ok:
        return page.failed(answer)
    return page.redirect("/window", window=code, done="called", ticket=answer.body["number"])


@router.post("/window/tickets/{number}/finish")
async def finish_ticket(request: Request, number: str) -> Response:
    page = Page(request)
    given = await page.fields()
    body: dict[str, Any] = {"outcome": given.get("outcome", "served")}
    if given.get("case_id"):
        body["case_id"] = given["case_id"]
    answer = await page.services.post(
        "intake", f"/v1/queue/tickets/{number}/finish", page.token, body
    )
    if not answer.ok:
        return page.failed(answer)
    return page.redirect("/window", window=given.get("window", ""), done="finished")


# --- registering a visitor ----------------------------------------------------------------


async def _reference(page: Page) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    categories, places = await page.services.many(
        page.services.get("intake", "/v1/categories", page.token),
        page.services.get("intake", "/v1/places", page.token),
    )
    return (
        categories.body if categories.ok else [],
        sorted(places.body, key=lambda p: p["label"]) if places.ok else [],
    )


async def _register_page(
    page: Page,
    given: dict[str, str],
    status: int = 200,
    errors: dict[str, str] | None = None,
    duplicates: list[dict[str, Any]] | None = None,
    problem: str = "",
) -> Response:
    categories, places = await _reference(page)
    return page.render(
        "register.html",
        status=status,
        form=given,
        errors=errors or {},
        duplicates=duplicates or [],
        problem=problem,
        categories=categories,
        places=places,
        channels=[c.value for c in Channel if c is not Channel.SYSTEM],
        legal_classes=[c.value for c in LegalClass],
    )


@router.get("/register")
async def register_form(request: Request, ticket: Code = None, window: Code = None) -> Response:
    page = Page(request)
    given = {"channel": "visit", "ticket": ticket or "", "window": window or ""}
    return await _register_page(page, given)


@router.post("/register")
async def register(request: Request) -> Response:
    """Registers through intake. A script posting the form (`Accept: application/json`) gets
    the field errors or duplicates as JSON and shows them in place; without script the page
    comes back with them."""
    page = Page(request)
    given = await page.fields()
    wants_json = "application/json" in request.headers.get("accept", "")
    body = forms.registration(given)
    answer = await page.services.post("intake", "/v1/cases", page.token, body)
    if answer.ok:
        case_id = answer.body["case_id"]
        if given.get("ticket"):
            await page.services.post(
                "intake",
                f"/v1/queue/tickets/{given['ticket']}/finish",
                page.token,
                {"outcome": "served", "case_id": case_id},
            )
        target = f"/cases/{case_id}/slip?outcome={answer.body['outcome']}"
        if wants_json:
            return JSONResponse({"redirect": target})
        return page.redirect(target.split("?")[0], outcome=answer.body["outcome"])
    errors = forms.registration_errors(answer)
    duplicates = answer.body.get("candidates", []) if answer.status == 409 else []
    if answer.status not in (409, 422):
        if wants_json:
            return JSONResponse({"problem": answer.detail or page.t(f"http:{answer.status}")}, 502)
        return page.failed(answer)
    if wants_json:
        return JSONResponse(
            {
                "errors": errors,
                "duplicates": [forms.candidate_view(page, c) for c in duplicates],
                "problem": answer.detail,
            },
            status_code=answer.status,
        )
    return await _register_page(
        page,
        given,
        status=answer.status,
        errors=errors,
        duplicates=[forms.candidate_view(page, c) for c in duplicates],
        problem=answer.detail,
    )


@router.get("/cases/{case_id}/slip")
async def slip(
    request: Request,
    case_id: UUID,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    page = Page(request)
    case = await page.services.get("intake", f"/v1/cases/{case_id}", page.token)
    if not case.ok:
        return page.failed(case)
    code = case.body.get("case_code")
    return page.render(
        "slip.html",
        case=case.body,
        code=code,
        outcome=outcome,
        lookup_url=petitioner_url(page, code) if code else None,
    )


def petitioner_url(page: Page, code: str) -> str:
    base = page.console.settings.console_public_url or str(page.request.base_url)
    return base.rstrip("/") + f"/p?code={code}"


# --- cases and petitioners -------------------------------------------------------------------


@router.get("/cases")
async def cases(
    request: Request,
    status: Annotated[str | None, Query(pattern="^(open|closed)?$")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    case: Annotated[str | None, Query(max_length=60)] = None,
) -> Response:
    page = Page(request)
    if case:
        try:
            return page.redirect(f"/cases/{UUID(case.strip())}")
        except ValueError:
            pass
    answer = await page.services.get(
        "intake", "/v1/cases", page.token, status=status, limit=25, offset=offset
    )
    if not answer.ok:
        return page.failed(answer)
    return page.render(
        "cases.html",
        cases=answer.body["cases"],
        total=answer.body["total"],
        more=not answer.body.get("total_exact", True),
        offset=offset,
        shown=status or "",
        bad_case=bool(case),
    )


@router.get("/petitioners")
async def petitioners(
    request: Request,
    id_number: Annotated[str | None, Query(max_length=18)] = None,
    phone: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    page = Page(request)
    if not id_number and not phone:
        return page.render("petitioners.html", person=None, cases=[], searched=False, query={})
    answer = await page.services.get(
        "intake", "/v1/petitioners", page.token, id_number=id_number, phone=phone
    )
    query = {"id_number": id_number or "", "phone": phone or ""}
    if answer.status in (404, 422):
        return page.render(
            "petitioners.html",
            status=answer.status,
            person=None,
            cases=[],
            searched=True,
            query=query,
            errors=answer.field_errors(),
            problem=answer.detail,
        )
    if not answer.ok:
        return page.failed(answer)
    return await _person_page(page, answer.body, query)


@router.get("/petitioners/{petitioner_id}")
async def petitioner(request: Request, petitioner_id: UUID) -> Response:
    page = Page(request)
    answer = await page.services.get("intake", f"/v1/petitioners/{petitioner_id}", page.token)
    if not answer.ok:
        return page.failed(answer)
    return await _person_page(page, answer.body, {})


async def _person_page(page: Page, person: dict[str, Any], query: dict[str, str]) -> Response:
    found = await page.services.many(
        *(page.services.get("intake", f"/v1/cases/{c}", page.token) for c in person["case_ids"])
    )
    return page.render(
        "petitioners.html",
        person=person,
        cases=sorted(
            (a.body for a in found if a.ok), key=lambda c: c["registered_at"], reverse=True
        ),
        searched=True,
        query=query,
    )
