"""Hostile text is normal input: every request's text is looked at once, before any route.

A NUL, a control character or bytes that are not UTF-8 have no place in a petition, a name
or a code, and they poison what stores or renders them (an index, an XML listing, a
terminal). So every JSON body, every query parameter and the path of every request to every
service is checked here, in one place a new endpoint cannot bypass, and refused with a 422
naming each field, before anything is read or written. Tabs and line breaks stay allowed
(a description has paragraphs). Bodies nested deeper than a petition ever is are refused too.
A router whose callers read errors in a format of their own (Open311's) is refused in it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import orjson
from fastapi import APIRouter
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http import problem

FORBIDDEN = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]"
)
"""C0 controls but tab, line feed and carriage return; DEL; C1 controls; the Unicode line
and paragraph separators (which break JavaScript strings and some log viewers); and what is
no character of text at all: lone surrogates (a JSON escape can make one) and U+FFFE and
U+FFFF (which XML cannot carry)."""

Refusal = Callable[[str, list[tuple[str, str]]], Response]
"""How a router answers a refused request: from its path and a (field, message) pair for
each problem."""


class OwnErrors(APIRouter):
    """A router whose callers read errors in a format of their own: the guard refuses the
    requests under its prefix with `refuse`, not with problem+json."""

    def __init__(self, *, refuse: Refusal, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.refuse = refuse


MAX_DEPTH = 12


def problems_in(value: Any, at: str = "", depth: int = 0) -> Iterator[tuple[str, str]]:
    """(field, message) for every string (keys too) holding a forbidden character, and for
    nesting deeper than `MAX_DEPTH`."""
    if depth > MAX_DEPTH:
        yield at or "body", f"nested deeper than {MAX_DEPTH} levels"
        return
    if isinstance(value, str):
        found = FORBIDDEN.search(value)
        if found:
            yield at or "body", _holds(found[0])
    elif isinstance(value, dict):
        for key, item in value.items():
            here = f"{at}.{key}" if at else str(key)
            if FORBIDDEN.search(str(key)):
                yield at or "body", "a field name contains a control character"
                continue
            yield from problems_in(item, here, depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from problems_in(item, f"{at}.{i}" if at else str(i), depth + 1)


def _holds(character: str) -> str:
    code = ord(character)
    if code < 0x20 or 0x7F <= code <= 0x9F:
        return f"contains the control character U+{code:04X}; remove it"
    return f"contains U+{code:04X}, which has no place in text; remove it"


def safe_text(text: str) -> str:
    """Text as it may be shown anywhere (XML, a terminal): forbidden characters dropped —
    for what was stored before this guard existed, or came from elsewhere."""
    return FORBIDDEN.sub("", text)


def escaped(text: str) -> str:
    """Text with each forbidden character, and the carriage return, written as its `\\uXXXX`
    escape: for a terminal, where a reader should see that something was there (a carriage
    return would let text overwrite the line it is on)."""
    return _SHOWN.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


_SHOWN = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")
"""`FORBIDDEN` and the carriage return."""


def fields_of(encoded: bytes, where: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The fields of a query string or form body (the last of a repeated name), and a
    (field, message) for each that is not UTF-8 or holds a forbidden character. `where`
    names a field whose own name cannot be read."""
    fields: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    # percent escapes decoded byte for byte (latin-1), then the bytes read as UTF-8
    pairs = parse_qsl(encoded.decode("latin-1"), keep_blank_values=True, encoding="latin-1")
    for key, value in pairs:
        name, text = _decoded(key.encode("latin-1")), _decoded(value.encode("latin-1"))
        if name is None or text is None:
            problems.append((escaped(name) if name else where, "not UTF-8"))
        elif FORBIDDEN.search(name) or FORBIDDEN.search(text):
            problems.append((escaped(name), "contains a control character; remove it"))
        else:
            fields[name] = text
    return fields, problems


class TextGuard:
    """ASGI middleware: refuses a request whose path, query or JSON body holds a forbidden
    character, is not UTF-8, or nests too deep (see the module docstring) — with problem+json,
    or under a prefix of `refusals`, with that refusal."""

    def __init__(self, app: ASGIApp, refusals: Mapping[str, Refusal] | None = None) -> None:
        self.app = app
        self.refusals = refusals or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        errors = list(self._path_and_query(scope))
        headers = dict(scope.get("headers") or [])
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        json_body = kind == b"application/json" or kind.endswith(b"+json")
        form_body = kind == b"application/x-www-form-urlencoded"
        body = b""
        if (json_body or form_body) and scope.get("method") in ("POST", "PUT", "PATCH", "DELETE"):
            body = await _read(receive)
            errors += fields_of(body, "form")[1] if form_body else self._body(body)
        if errors:
            await self._refusal(scope.get("path", ""), errors)(scope, receive, send)
            return
        if not body:
            await self.app(scope, receive, send)
            return
        replayed = False

        async def again() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, again, send)

    def _refusal(self, path: str, errors: list[tuple[str, str]]) -> Response:
        for prefix, refuse in self.refusals.items():
            if path.startswith(prefix + "/"):
                return refuse(path, errors)
        return problem(
            422,
            "validation",
            "Invalid request",
            "check these fields: " + ", ".join(dict.fromkeys(f for f, _ in errors)),
            errors=[{"field": f, "message": m} for f, m in errors],
        )

    @staticmethod
    def _path_and_query(scope: Scope) -> Iterator[tuple[str, str]]:
        raw_path = scope.get("raw_path") or scope.get("path", "").encode()
        path = _decoded(unquote_to_bytes(raw_path))
        if path is None or FORBIDDEN.search(path):
            yield "path", "the path holds a control character or bytes that are not UTF-8"
        yield from fields_of(scope.get("query_string", b""), "query")[1]

    @staticmethod
    def _body(body: bytes) -> list[tuple[str, str]]:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as error:
            return [("body", f"not UTF-8 (byte {body[error.start]:#04x} at {error.start})")]
        try:
            parsed = orjson.loads(body) if body.strip() else None
        except orjson.JSONDecodeError:
            # orjson refuses what the routes' parser takes: the escape of a lone surrogate
            try:
                parsed = json.loads(body)
            except ValueError:
                return []  # not JSON: the route's own validation names what is wrong
        return list(problems_in(parsed))


async def _read(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _decoded(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
