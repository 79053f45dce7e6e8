"""HTTP conventions shared by the three APIs: problem+json errors, body limits, health."""

from __future__ import annotations

import logging
import re
from typing import Any

import orjson
import psycopg
from eventsourcing.persistence import InterfaceError as EventsourcingInterfaceError
from eventsourcing.persistence import OperationalError as EventsourcingOperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from psycopg_pool import PoolTimeout
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import Unauthenticated
from shared.domain import DomainError, Forbidden, Trace
from shared.store import DatabaseUnavailable
from shared.tracing import case_of_log, new_correlation_id, parse_traceparent

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
RETRY_AFTER_SECONDS = 5

STORE_UNAVAILABLE: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    PoolTimeout,
    EventsourcingOperationalError,
    EventsourcingInterfaceError,
    DatabaseUnavailable,
)
"""The database is unreachable or went away: the request changed nothing and may be tried
again (an answer within the pool's 2 s, not a hang)."""
TYPE_BASE = "https://onestop.example/problems/"


def request_trace(request: Request) -> Trace:
    """The trace of a change made through the API: the request's correlation id."""
    return Trace(correlation_id=request.state.correlation_id)


def example(body: dict[str, Any]) -> ConfigDict:
    """A request model's config: unknown fields refused, one example for the OpenAPI page."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [body]})


class NotFound(Exception):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} was not found")


class TooManyRequests(Exception):
    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class LargeJSON(Response):
    """A large JSON answer (a case's whole history, a dossier) encoded once by orjson: FastAPI
    would otherwise validate and serialize every nested value of a `dict[str, Any]` again,
    as long as building the answer took. Route it with `response_model` for the docs."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def as_json(model: BaseModel) -> orjson.Fragment:
    """A model inside a `LargeJSON` answer, written to JSON by pydantic at once: what
    `model_dump(mode="json")` gives, without the Python objects on the way (a long case's
    status: ~1 ms less a history read)."""
    return orjson.Fragment(model.model_dump_json())


def problem(status: int, kind: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": TYPE_BASE + kind, "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
        fields = ", ".join(e["field"] for e in errors)
        return problem(
            422, "validation", "Invalid request", f"check these fields: {fields}", errors=errors
        )

    @app.exception_handler(DomainError)
    async def rule_broken(_: Request, exc: DomainError) -> JSONResponse:
        errors = [{"field": p.field, "message": p.message} for p in exc.problems]
        extra = {"errors": errors} if errors else {}
        return problem(422, "rule", "The request breaks a rule", str(exc), **extra)

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(_: Request, exc: Unauthenticated) -> JSONResponse:
        return problem(401, "unauthenticated", "Authentication required", str(exc))

    @app.exception_handler(Forbidden)
    async def forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return problem(403, "forbidden", "Not allowed", str(exc))

    @app.exception_handler(NotFound)
    async def not_found(_: Request, exc: NotFound) -> JSONResponse:
        return problem(404, "not-found", "Not found", str(exc))

    @app.exception_handler(TooManyRequests)
    async def too_many(_: Request, exc: TooManyRequests) -> JSONResponse:
        answer = problem(429, "too-many-requests", "Too many requests", str(exc))
        answer.headers["Retry-After"] = str(exc.retry_after)
        return answer

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, "http", str(exc.detail), str(exc.detail))

    for unavailable in STORE_UNAVAILABLE:

        @app.exception_handler(unavailable)
        async def store_unavailable(_: Request, exc: Exception) -> JSONResponse:
            log.warning("answering 503: the database is unreachable (%s)", type(exc).__name__)
            answer = problem(
                503,
                "unavailable",
                "Service unavailable",
                "the service cannot reach its database right now; nothing was changed — "
                "try again shortly",
            )
            answer.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return answer

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error answering %s %s", request.method, request.url.path)
        return problem(
            500,
            "internal",
            "Internal error",
            "the request could not be completed; it has been logged with its correlation id",
            correlation_id=getattr(request.state, "correlation_id", None),
        )


UPLOAD_PATH = re.compile(r"^/v1/cases/[^/]+/attachments$")
"""The one kind of request whose body is a file: attaching it to a case (multipart)."""


class BodyLimit:
    """Refuse oversized bodies with 413 before anything reads them (nothing half-written).
    A file uploaded to a case may be as large as `upload_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_bytes = upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if (
            self.upload_bytes is not None
            and kind == b"multipart/form-data"
            and UPLOAD_PATH.match(scope.get("path", ""))
        ):
            await BodyLimit(self.app, self.upload_bytes)._limited(scope, receive, send, "file")
            return
        await self._limited(scope, receive, send, None)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, field: str | None) -> None:
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, field)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, receive, send, field)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, field: str | None) -> None:
        what = "the file" if field else "the body"
        extra = {"errors": [{"field": field, "message": "too large"}]} if field else {}
        response = problem(
            413,
            "too-large",
            "Request body too large",
            f"{what} must be at most {self.max_bytes} bytes",
            **extra,
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class Correlation:
    """Every request gets a correlation id, as `request.state.correlation_id` and on the
    response: the caller's X-Correlation-ID, else the trace id of the caller's W3C
    `traceparent`, else a new one — which is also the trace id of the conversation (see
    `shared.tracing`). The request is answered in its span. A plain ASGI middleware:
    Starlette's `BaseHTTPMiddleware` costs every request a task and a stream."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        sent = _printable(headers.get(b"x-correlation-id", b""))[:100]
        incoming = _printable(headers.get(b"traceparent", b"")) or None
        from_trace = parse_traceparent(incoming) if incoming else None
        correlation = sent or (f"{from_trace[0]:032x}" if from_trace else new_correlation_id())
        scope.setdefault("state", {})["correlation_id"] = correlation

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-correlation-id", correlation.encode())]
                message = {**message, "headers": headers}
            await send(message)

        tracing = getattr(getattr(scope.get("app"), "state", None), "tracing", None)
        found = _CASE_IN_PATH.search(scope.get("path", ""))
        token = case_of_log.set(found[1] if found else None)
        try:
            if tracing is None:
                await self.app(scope, receive, send_with_id)
                return
            name = f"{scope.get('method', 'GET')} {scope.get('path', '')}"
            with tracing.request(correlation, name, incoming):
                await self.app(scope, receive, send_with_id)
        finally:
            case_of_log.reset(token)


_CASE_IN_PATH = re.compile(r"/cases/([0-9a-fA-F-]{36})")


def _printable(raw: bytes) -> str:
    """A header's value, or nothing if it holds anything but printable ASCII."""
    text = raw.decode("latin-1")
    return text if text.isprintable() and text.isascii() else ""
