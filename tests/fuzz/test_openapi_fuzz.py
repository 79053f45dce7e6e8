"""Every operation of the three services' OpenAPI documents, fuzzed with hostile input, in
process, the way testers broke them by hand (issue 15).

schemathesis generates requests from each service's own `/openapi.json`: ones that fit the
document (its examples among them) and ones that break it. Each is sent as generated, then
again with a NUL, another control character or bytes that are not UTF-8 put into one of its
body's fields, form fields, query parameters or path parameters. Callers hold tokens of
every role, and parameters often name what the service holds (a registered case, a place, a
department, a ticket), so requests get past 401 and into the routes. No answer may be a 5xx;
every 4xx is problem+json, or on Open311's routes Open311's own error list; what says it is
JSON or XML parses; and afterwards each service still does its ordinary work.

The run is bounded, ONESTOP_FUZZ_EXAMPLES examples per operation and kind of request
(default 8), and deterministic: the same requests every time for one ONESTOP_FUZZ_SEED. Set
more examples, or another seed, to hunt.
"""

from __future__ import annotations

import json
import os
import random
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, quote_plus, unquote
from uuid import UUID

import pytest
import schemathesis
from fastapi import APIRouter
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from schemathesis.core import NotSet
from schemathesis.generation import GenerationMode

from services.followup import api as followup_api
from services.followup.application import FollowUpApplication
from services.intake import api as intake_api
from services.intake.application import IntakeApplication
from services.intake.commands import IssueApiKey
from services.routing import api as routing_api
from services.routing.application import RoutingApplication
from shared.auth import issue_token
from shared.casecode import case_code
from shared.service import Runtime, create_api
from shared.settings import ServiceName, Settings
from tests.territory import seeded
from tests.unit.messaging import Clock
from tests.unit.test_api import EXAMPLE
from tests.unit.test_followup import KEY, accept, assign, registered
from tests.unit.test_open311 import FORM as OPEN311_FORM
from tests.unit.test_routing import register

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("ONESTOP_FUZZ_EXAMPLES", "8"))
SEED = int(os.environ.get("ONESTOP_FUZZ_SEED", "15"))
SETTINGS = Settings(jwt_secret="s" * 40)
PROBLEM = "application/problem+json"

CONTROL = [
    chr(c)
    for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, 0xFFFE, 0xFFFF)
    if chr(c) not in "\t\n\r"
]
"""What no text may hold: C0 controls but tab and line breaks, DEL, C1, the line and
paragraph separators, and the two code points XML cannot carry."""
SPLICED = [
    *(b"\xff", b"\xfe\xff", b"\x80", b"\xc3", b"\xc3\x28", b"\xe2\x82"),
    *(b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf", b"\\ud800", b"\\udfff"),
]
"""Bytes put into the request as they are: stray and truncated sequences, a surrogate, a
code point past U+10FFFF, an overlong '/' (none of them UTF-8), and in a JSON string, the
escape of a lone surrogate (valid JSON; no text)."""
POISONS = [
    [(b"\x00", False)],
    [(c.encode(), False) for c in CONTROL if c != "\x00"],
    [(b, spliced) for b in SPLICED for spliced in (True, False)],
]
"""(bytes, spliced) (see `Request.poisoned`) in three kinds, each as likely: NUL, another
control character, bytes as they are."""
MARKER = "\ue000poison\ue001"
"""Stands in a JSON body for the spliced poison, until the body is serialised."""

CALLERS = [
    issue_token(SETTINGS, user, role, department)
    for user, role, department in (
        ("alice", "clerk", "window-3"),
        ("hu", "handler", "ninghe-hrss"),
        ("zhou", "supervisor", None),
        ("lin", "leader", None),
        ("qian", "auditor", None),
        ("root", "admin", None),
        ("city-app", "integration", None),
    )
]


# --- a request, as generated and as poisoned ------------------------------------------------


FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Request:
    """One request in parts: path parameters and query and form fields as the bytes they
    stand for, a JSON body as data; `sent`, a body exactly as it goes (with its media type)
    when it is more than its data."""

    method: str
    template: str
    path: dict[str, bytes]
    query: tuple[tuple[str, bytes], ...]
    headers: tuple[tuple[str, str], ...]
    body: Any
    form: tuple[tuple[str, bytes], ...] | None
    sent: tuple[bytes, str] | None

    def url(self) -> str:
        path = self.template
        for name, value in self.path.items():
            path = path.replace("{" + name + "}", _segment(value))
        return path + ("?" + _encoded(self.query) if self.query else "")

    def content(self) -> tuple[bytes | None, str | None]:
        if self.sent is not None:
            return self.sent
        if self.form is not None:
            return _encoded(self.form).encode(), FORM
        if isinstance(self.body, NotSet):
            return None, None
        return _json(self.body), "application/json"

    def slots(self) -> list[tuple[str, Any]]:
        """Every place a poison can go: path and query parameters, form fields, the body's
        leaves; a new query parameter when the request has none of these."""
        found: list[tuple[str, Any]] = [("path", name) for name in self.path]
        found += [("query", i) for i in range(len(self.query))]
        found += [("form", i) for i in range(len(self.form or ()))]
        if self.sent is not None:
            found.append(("sent", None))
        elif not isinstance(self.body, NotSet):
            found += [("body", at) for at in _leaves(self.body)]
        return found or [("query", None)]

    def poisoned(self, slot: tuple[str, Any], poison: tuple[bytes, bool], at: int) -> Request:
        """This request with `poison` in `slot`, after the `at`-th character (modulo the
        length). A spliced poison goes into a body's bytes as they are sent: raw in a form,
        into a JSON string's serialised text; else as data, percent-escaped in a URL or
        form, characters in JSON. A URL always carries it percent-escaped."""
        bad, spliced = poison
        where, key = slot
        if where == "path":
            return replace(self, path={**self.path, key: _inserted(self.path[key], bad, at)})
        if where == "query":
            pairs = list(self.query) if key is not None else [("q", b"")]
            name, value = pairs[key or 0]
            pairs[key or 0] = (name, _inserted(value, bad, at))
            return replace(self, query=tuple(pairs))
        if where == "sent" and self.sent is not None:
            return replace(self, sent=(_inserted(self.sent[0], bad, at), self.sent[1]))
        if where == "form" and self.form is not None:
            pairs = list(self.form)
            name, value = pairs[key]
            pairs[key] = (name, _inserted(value, MARKER.encode() if spliced else bad, at))
            if not spliced:
                return replace(self, form=tuple(pairs))
            raw = _encoded(pairs).encode().replace(quote_plus(MARKER).encode(), bad)
            return replace(self, sent=(raw, FORM))
        old = _leaf(self.body, key)
        text = old if isinstance(old, str) else json.dumps(old)
        cut = at % (len(text) + 1)
        try:
            characters = bad.decode("utf-8", "surrogatepass")
        except UnicodeDecodeError:  # no characters: only its bytes can go
            spliced = True
        if not spliced:
            return replace(
                self, body=_replaced(self.body, key, text[:cut] + characters + text[cut:])
            )
        marked = _replaced(self.body, key, text[:cut] + MARKER + text[cut:])
        return replace(self, sent=(_json(marked).replace(MARKER.encode(), bad), "application/json"))


def _json(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _encoded(pairs: Any) -> str:
    return "&".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in pairs)


def _segment(value: bytes) -> str:
    escaped = quote(value, safe="")
    return escaped.replace(".", "%2E") if escaped in (".", "..") else escaped


def _inserted(value: bytes, poison: bytes, at: int) -> bytes:
    """`poison` put into `value` between two of its characters."""
    text = value.decode("utf-8", "surrogateescape")
    cut = at % (len(text) + 1)
    return (
        text[:cut].encode("utf-8", "surrogateescape")
        + poison
        + text[cut:].encode("utf-8", "surrogateescape")
    )


def _leaves(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _leaves(item, (*at, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _leaves(item, (*at, i))
    else:
        yield at


def _leaf(value: Any, at: tuple[Any, ...]) -> Any:
    for key in at:
        value = value[key]
    return value


def _replaced(value: Any, at: tuple[Any, ...], new: Any) -> Any:
    if not at:
        return new
    head, rest = at[0], at[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replaced(value[head], rest, new)
    return copy


def _wire(value: Any) -> list[bytes]:
    """A generated parameter's value as query-string values (a list repeats the name)."""
    if value is None:
        return []
    if isinstance(value, list):
        return [v for item in value for v in _wire(item)]
    if isinstance(value, bool):
        return [b"true" if value else b"false"]
    return [str(value).encode("utf-8", "surrogatepass")]


# --- a service under fuzz ---------------------------------------------------------------------


@dataclass
class Target:
    """A service in process, what its parameters may name, and what the fuzz found."""

    client: TestClient
    known: dict[str, list[str]]
    afterwards: Callable[[], None]
    """Asserts the service still does its ordinary work."""
    sent: int = 0
    findings: dict[str, str] = field(default_factory=dict)
    dice: random.Random = field(default_factory=lambda: random.Random(SEED))
    """Where the poison goes, which, who calls, what is named: spread evenly (Hypothesis
    starts from the simplest choice, and a bounded run would barely leave it), and the
    same every run."""

    def request(self, case: Any) -> Request:
        """The generated case as a `Request`, a caller's token in place of the generated one
        (mostly), and parameters often naming what exists."""

        def named(name: str, value: Any) -> Any:
            if name in self.known and self.dice.random() < 0.5:
                return self.dice.choice(self.known[name])
            return value

        path = {
            name: str(named(name, unquote(str(value)))).encode("utf-8", "surrogatepass")
            for name, value in case.path_parameters.items()
        }
        query = tuple(
            (name, v) for name, value in case.query.items() for v in _wire(named(name, value))
        )
        headers = {k: str(v) for k, v in case.headers.items() if _sendable(str(v))}
        token = self.dice.choice([*CALLERS, None])
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        body, form = case.body, None
        if case.media_type == FORM and isinstance(body, dict):
            form = tuple((k, v) for k, value in body.items() for v in _wire(named(k, value)))
            body = NotSet()
        elif isinstance(body, dict):
            body = {k: named(k, v) if isinstance(v, str) else v for k, v in body.items()}
        sent = None
        if isinstance(body, bytes):
            sent, body = (body, case.media_type or "application/json"), NotSet()
        return Request(
            case.method.upper(), case.path, path, query, tuple(headers.items()), body, form, sent
        )

    def exchange(self, operation: str, case: Any) -> None:
        request = self.request(case)
        self.send(operation, request)
        slot = self.dice.choice(request.slots())
        poison = self.dice.choice(self.dice.choice(POISONS))
        self.send(operation, request.poisoned(slot, poison, self.dice.randrange(64)))

    def send(self, operation: str, request: Request) -> None:
        content, kind = request.content()
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in request.headers]
        if kind is not None:
            headers.append((b"content-type", kind.encode()))
        response = self.client.request(
            request.method, request.url(), content=content, headers=headers
        )
        self.sent += 1
        wrong = judged(request.template, response)
        if wrong:
            self.findings.setdefault(
                f"{operation}: {wrong}",
                f"{request.method} {request.url()[:300]} {(content or b'')[:300]!r}\n"
                f"    → {response.status_code} {response.text[:400]}",
            )


def _sendable(value: str) -> bool:
    """Header values are not what this fuzz is about; what HTTP cannot carry stays out."""
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return not any(c in value for c in "\r\n\x00")


def judged(template: str, response: Any) -> str | None:
    """What is wrong with an answer, if anything."""
    status, kind = response.status_code, response.headers.get("content-type", "")
    if status >= 500:
        return f"answered {status}"
    if "xml" in kind:
        try:
            ET.fromstring(response.content)
        except ET.ParseError:
            return f"a {status} with XML that does not parse"
    elif "json" in kind:
        try:
            response.json()
        except ValueError:
            return f"a {status} with JSON that does not parse"
    if status < 400:
        return None
    if template.startswith("/open311/") and not (kind == PROBLEM and status in (404, 405)):
        return (
            None
            if _open311_error(status, kind, response)
            else f"a {status} not in Open311's format"
        )
    return None if kind == PROBLEM else f"a {status} as {kind or 'nothing'}, not problem+json"


def _open311_error(status: int, kind: str, response: Any) -> bool:
    """Open311's error list: `[{code, description}]` in JSON, `<errors><error>` in XML."""
    if kind.startswith("text/xml"):
        root = ET.fromstring(response.content)
        errors = [(e.findtext("code"), e.findtext("description")) for e in root]
        return (
            root.tag == "errors"
            and bool(errors)
            and all(code == str(status) and text for code, text in errors)
        )
    if kind.startswith("application/json"):
        body = response.json()
        return (
            isinstance(body, list)
            and bool(body)
            and all(
                isinstance(e, dict) and e.get("code") == status and e.get("description")
                for e in body
            )
        )
    return False


def fuzzed(target: Target) -> None:
    """Every operation of the target's OpenAPI document, as valid and as invalid requests."""
    schema = schemathesis.openapi.from_dict(target.client.get("/openapi.json").json())
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        modes = [GenerationMode.POSITIVE]
        if list(operation.query) or list(operation.body):  # something to break but the path
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            cases = operation.as_strategy(generation_mode=mode)
            if mode is GenerationMode.POSITIVE:
                cases = st.one_of(cases, *operation.get_strategies_from_examples())
            _run(target, label, cases)


def _run(target: Target, label: str, cases: st.SearchStrategy[Any]) -> None:
    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(SEED)
    @given(case=cases)
    def exchange(case: Any) -> None:
        target.exchange(label, case)

    exchange()


# --- the three services, each holding something to name ----------------------------------


@contextmanager
def served(
    service: ServiceName, application: Any, routers: list[APIRouter]
) -> Iterator[TestClient]:
    api = create_api(
        lambda: Runtime(service, SETTINGS, application),
        SETTINGS,
        title=service,
        description="under fuzz",
        routers=routers,
    )
    with TestClient(api, raise_server_exceptions=False) as client:
        yield client


def bearer(index: int = 0) -> dict[str, str]:
    return {"Authorization": f"Bearer {CALLERS[index]}"}


@contextmanager
def intake() -> Iterator[Target]:
    application = seeded(IntakeApplication())
    key = application.issue_api_key(IssueApiKey("city-app"), "admin")
    routers = [intake_api.router, intake_api.open311.router]
    with served("intake", application, routers) as client:
        case_id = client.post("/v1/cases", json=EXAMPLE, headers=bearer()).json()["case_id"]
        request_id = filed(client, key)
        case = client.get(f"/v1/cases/{case_id}", headers=bearer()).json()
        ticket = client.post("/v1/queue/tickets", json={"line": "A"}, headers=bearer()).json()

        def afterwards() -> None:
            """A clerk registers, lists, and the public reads Open311's XML listing."""
            new = {"action": "new", "reason": "a matter of its own"}
            body = {**EXAMPLE, "subject": "路灯不亮", "duplicate_decision": new}
            registered = client.post("/v1/cases", json=body, headers=bearer())
            assert registered.status_code == 201, registered.text
            listing = client.get("/v1/cases", headers=bearer())
            assert listing.status_code == 200 and listing.json()["total"] >= 2
            mine = filed(client, key)
            xml = client.get("/open311/v2/requests.xml")
            assert xml.status_code == 200
            ids = [r.findtext("service_request_id") for r in ET.fromstring(xml.content)]
            assert mine in ids  # the fuzz may have made the others accusations, not public

        yield Target(
            client,
            {
                "case_id": [case_id, request_id],
                "request_id": [request_id, case_id],
                "service_request_id": [request_id],
                "petitioner_id": [case["petitioners"][0]["petitioner_id"]],
                "number": [ticket["number"]],
                "code": ["W01", "W02"],
                "line": ["A", "B"],
                "fmt": ["json", "xml"],
                "service_code": ["urban-management", "labour-wages"],
                "category": ["labour-wages", "health"],
                "place": ["lutai", "jinxiu"],
                "api_key": [key],
                "attribute[jurisdiction]": [OPEN311_FORM["attribute[jurisdiction]"]],
            },
            afterwards,
        )


def filed(client: TestClient, key: str) -> str:
    answer = client.post("/open311/v2/requests.json", data={**OPEN311_FORM, "api_key": key})
    assert answer.status_code == 201, answer.text
    return str(answer.json()[0]["service_request_id"])


@contextmanager
def routing() -> Iterator[Target]:
    application = seeded(RoutingApplication())
    case_id = register(application)
    with served("routing", application, [routing_api.router]) as client:

        def afterwards() -> None:
            """Routing hears a new case, and its registry and assignments still read."""
            register(application)
            for path in ("/v1/territory", "/v1/dispatch-queue", f"/v1/cases/{case_id}/assignment"):
                answer = client.get(path, headers=bearer(2))
                assert answer.status_code == 200, f"{path}: {answer.text}"

        yield Target(
            client,
            {
                "case_id": [case_id],
                "code": ["ninghe-hrss", "lutai", "labour-wages", "A", "W01"],
                "department": ["ninghe-hrss", "ninghe-civil"],
                "lead": ["ninghe-hrss", "ninghe-civil"],
                "version": ["v1"],
            },
            afterwards,
        )


@contextmanager
def followup() -> Iterator[Target]:
    application = seeded(FollowUpApplication())
    clock = Clock(datetime.now(UTC))

    def handled() -> str:
        case_id = registered(application, clock)
        assign(application, clock, case_id)
        accept(application, clock, case_id)
        return case_id

    case_id = handled()
    routers = [followup_api.router, followup_api.public]
    with served("followup", application, routers) as client:

        def afterwards() -> None:
            """A new case gets its deadlines, and cases, histories and deadlines read."""
            new = handled()
            case = client.get(f"/v1/cases/{new}", headers=bearer(2))
            assert case.status_code == 200 and case.json()["deadlines"], case.text
            for path in (f"/v1/cases/{case_id}/history", "/v1/deadlines"):
                answer = client.get(path, headers=bearer(2))
                assert answer.status_code == 200, f"{path}: {answer.text}"

        yield Target(
            client,
            {
                "case_id": [case_id],
                "code": [case_code(KEY, UUID(case_id))],
                "department": ["ninghe-hrss"],
                "year": ["2026", "2027"],
            },
            afterwards,
        )


TARGETS = {"intake": intake, "routing": routing, "followup": followup}


@pytest.mark.parametrize("service", TARGETS)
def test_no_hostile_request_gets_a_5xx_or_an_error_out_of_format(service: str) -> None:
    with TARGETS[service]() as target:
        fuzzed(target)
        print(f"{service}: {target.sent} requests")
        assert not target.findings, f"{len(target.findings)} kinds of wrong answer:\n" + "\n".join(
            f"{what}\n  {example}" for what, example in target.findings.items()
        )
        ready = target.client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        target.afterwards()
