"""The console as a FastAPI app: server-rendered pages (Jinja2) with a light touch of script,
for the people at the centre and the petitioner's own page. It reads no database: every
page is made from the services' public APIs, called with the signed-in user's token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

import httpx
from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from services.console.backend import Services
from services.console.pages import audit, cases, desk, petitioner, work
from services.console.signin import Csrf, SignIn, TokenSignIn
from services.console.strings import Strings
from services.console.web import STATIC, TEMPLATES, Console, gate, install_error_pages
from shared.clock import clock_from
from shared.guard import TextGuard
from shared.http import BodyLimit, Correlation
from shared.settings import Settings

ROUTERS = [desk.router, cases.router, work.router, audit.router, petitioner.router]


def templates(strings: Strings) -> Jinja2Templates:
    found = Jinja2Templates(directory=TEMPLATES)
    found.env.globals["lang"] = strings.language
    found.env.autoescape = True
    return found


def create_app(
    settings: Settings | None = None,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    signin: SignIn | None = None,
) -> FastAPI:
    """`transports` lets tests answer for the services in-process; `signin` another way of
    signing in (an OIDC provider's)."""
    settings = settings or Settings.load()
    strings = Strings(settings.console_language)
    services = Services(settings, transports)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await services.close()

    app = FastAPI(
        title="OneStop console",
        lifespan=lifespan,
        dependencies=[Depends(gate)],
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.console = Console(
        settings=settings,
        services=services,
        signin=signin or TokenSignIn(settings),
        csrf=Csrf(settings),
        strings=strings,
        templates=templates(strings),
        zone=ZoneInfo(settings.timezone),
        clock=clock_from(settings.clock_file),
    )
    install_error_pages(app)
    app.add_middleware(TextGuard)
    app.add_middleware(Correlation)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    @app.middleware("http")
    async def security_headers(request, call_next):
        response = await call_next(request)
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/health/live", include_in_schema=False)
    def live() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/health/ready", include_in_schema=False)
    async def ready() -> JSONResponse:
        answers = await services.many(
            *(
                services.get(name, "/health/live", None)
                for name in ("intake", "routing", "followup")
            )
        )
        down = [
            name
            for name, answer in zip(("intake", "routing", "followup"), answers, strict=True)
            if not answer.ok
        ]
        if down:
            return JSONResponse({"status": f"not ready: {', '.join(down)} unreachable"}, 503)
        return JSONResponse({"status": "ready"})

    return app
