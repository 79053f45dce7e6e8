"""What every page of the console shares: the gate each request passes (CSRF, sign-in, and
the one policy's word on who may use the page), rendering in the user's language, and the
pages for what went wrong — always a page, never a stack trace."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.console.backend import Answer, Services
from services.console.qr import qr_svg
from services.console.signin import Csrf, Session, SignIn, current_session
from services.console.strings import Strings
from shared.clock import Clock
from shared.domain import Actor, Forbidden
from shared.policy import PERMISSIONS, permit, public
from shared.settings import Settings

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


@dataclass
class Console:
    """What the console is made of; one per process (`app.state.console`)."""

    settings: Settings
    services: Services
    signin: SignIn
    csrf: Csrf
    strings: Strings
    templates: Jinja2Templates
    zone: ZoneInfo
    clock: Clock
    """The services' time (a drill's too): how long is left is counted from it."""


class SignInNeeded(Exception):
    """No session, or one whose token expired: to the sign-in page, then back."""


class CsrfRefused(Exception):
    """A form post without this browser's CSRF token: not from one of our pages."""


def console_of(request: Request) -> Console:
    found: Console = request.app.state.console
    return found


async def gate(request: Request) -> None:
    """Every route of the console passes here first (FastAPI app dependency)."""
    console = console_of(request)
    operation = getattr(request.scope.get("route"), "name", "")
    session = current_session(request, console.signin)
    request.state.session = session
    if request.method == "POST":
        form = await request.form()
        given = form.get("csrf") or request.headers.get("x-csrf-token")
        if not console.csrf.valid(request, given if isinstance(given, str) else None):
            raise CsrfRefused()
    if public("console", operation):
        return
    if session is None:
        raise SignInNeeded()
    permit(session.actor, "console", operation)


class Page:
    """One request's view of the console: who is signed in, and how to answer them."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.console = console_of(request)
        self.session: Session | None = getattr(request.state, "session", None)
        self.strings = self.console.strings

    @property
    def actor(self) -> Actor:
        assert self.session is not None, "the gate signs every non-public page in"
        return self.session.actor

    @property
    def token(self) -> str | None:
        return self.session.token if self.session else None

    @property
    def services(self) -> Services:
        return self.console.services

    def may(self, page: str) -> bool:
        """Whether the signed-in user may use a page of the console (the one policy)."""
        if self.session is None:
            return False
        return self.session.actor.role in PERMISSIONS.get(f"console.{page}", frozenset())

    def t(self, text: str, **values: Any) -> str:
        return self.strings.t(text, **values)

    async def fields(self) -> dict[str, str]:
        """The posted form's text fields (each once; the CSRF token left out)."""
        form = await self.request.form()
        return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}

    async def lists(self, name: str) -> list[str]:
        form = await self.request.form()
        return [v for v in form.getlist(name) if isinstance(v, str) and v.strip()]

    def render(self, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        console = self.console
        response = console.templates.TemplateResponse(
            self.request,
            template,
            {
                "page": self,
                "t": self.t,
                "csrf": console.csrf.token(self.request),
                "nav": navigation(self),
                "done": self.request.query_params.get("done"),
                **context,
            },
            status_code=status,
        )
        console.csrf.remember(self.request, response)
        return response

    def redirect(self, url: str, **query: str) -> RedirectResponse:
        """After a post, to the page that shows its result (POST → redirect → GET)."""
        joiner = "&" if "?" in url else "?"
        target = url + (joiner + urlencode(query) if query else "")
        return RedirectResponse(target, status_code=303)

    def failed(self, answer: Answer) -> HTMLResponse:
        """A service's refusal as a page: its status and its words."""
        status = answer.status if answer.status in (400, 403, 404, 409, 422, 429, 503) else 502
        return self.render(
            "error.html",
            status=status,
            title=self.t(f"http:{status}"),
            detail=answer.detail,
            errors=answer.errors,
        )

    def local(self, value: str | datetime | None, seconds: bool = False) -> str:
        return local_time(value, self.console.zone, seconds)

    def seconds_until(self, moment: str | datetime | None) -> int | None:
        """Seconds from now (the services' clock) until `moment`."""
        if not moment:
            return None
        when = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
        return int((when - self.console.clock()).total_seconds())

    def span(self, seconds: float | None) -> str:
        """A length of time as a person says it: 3天4小时, 5小时20分, 12分."""
        if seconds is None:
            return ""
        minutes = int(abs(seconds)) // 60
        days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
        if days:
            return self.t("{d}d {h}h", d=days, h=hours)
        if hours:
            return self.t("{h}h {m}m", h=hours, m=mins)
        return self.t("{m}m", m=max(mins, 0))

    def qr(self, text: str) -> Markup:
        """An SVG QR code of `text`, to put in the page as it is (we drew it: no user markup)."""
        svg = qr_svg(text)
        return Markup(svg[svg.index("<svg") :])


def local_time(value: str | datetime | None, zone: ZoneInfo, seconds: bool = False) -> str:
    if not value:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


NAVIGATION = (
    ("window", "/window", "Window"),
    ("cases", "/cases", "Cases"),
    ("petitioners", "/petitioners", "Petitioners"),
    ("inbox", "/inbox", "Inbox"),
    ("ledger", "/ledger", "Supervision ledger"),
    ("leader_cases", "/mine", "Cases I hold"),
    ("statistics", "/statistics", "Statistics"),
)


def navigation(page: Page) -> list[dict[str, Any]]:
    here = page.request.url.path
    return [
        {"href": href, "label": page.t(label), "current": here.startswith(href)}
        for name, href, label in NAVIGATION
        if page.may(name)
    ]


def install_error_pages(app: FastAPI) -> None:
    """What went wrong, as pages in the user's language (never a 5xx for bad input)."""

    def error_page(
        request: Request,
        status: int,
        detail: str = "",
        errors: Sequence[Mapping[str, Any]] | None = None,
    ) -> Response:
        if not hasattr(request.state, "session"):  # refused before the gate ran
            request.state.session = current_session(request, console_of(request).signin)
        page = Page(request)
        return page.render(
            "error.html",
            status=status,
            title=page.t(f"http:{status}"),
            detail=detail,
            errors=errors or [],
        )

    @app.exception_handler(SignInNeeded)
    async def sign_in(request: Request, _: SignInNeeded) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, error: Forbidden) -> Response:
        return error_page(request, 403, str(error))

    @app.exception_handler(CsrfRefused)
    async def csrf(request: Request, _: CsrfRefused) -> Response:
        page = Page(request)
        field = {"field": "csrf", "message": page.t("The form is stale; reload the page")}
        return error_page(request, 403, page.t("The form is stale; reload the page"), [field])

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        errors = [
            {
                "field": ".".join(str(p) for p in e["loc"] if p not in ("query", "path", "body")),
                "message": e["msg"],
            }
            for e in error.errors()
        ]
        return error_page(request, 422, ", ".join(e["field"] for e in errors), errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        return error_page(request, error.status_code, str(error.detail))
