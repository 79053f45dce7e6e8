"""Open311 GeoReport v2 on intake, so city systems and their apps can file and track matters.

`/open311/v2/services.{json|xml}`, `/services/{code}.{fmt}`, `POST /requests.{fmt}` with an
`api_key` (form-encoded, as the specification says), `GET /requests.{fmt}` with its filters
and `GET /requests/{id}.{fmt}`. Only requests filed through Open311 are shown, and never an
accusation (Art. 30): matters registered at the door are not public. Errors are
`[{code, description}]` with the HTTP status as `code`. Times are ISO-8601 with the centre's
offset. Personal data never appears in answers: requests show no names, phones or e-mail,
and descriptions are scrubbed of phone and ID numbers, e-mail addresses and the petitioners'
names (`shared.scrub`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import orjson
from fastapi import Request, Response
from starlette.concurrency import run_in_threadpool

from services.intake.api.deps import Intake, RequestTrace, SettingsDep
from services.intake.application import IntakeApplication, fingerprint
from services.intake.commands import PersonGiven, RegisterCase
from services.intake.domain import (
    CLOSED_STATES,
    Case,
    ExternalReference,
    Status,
    Whereabouts,
    check_media_url,
)
from services.intake.index import OPEN311_SYSTEMS, Query, open311_public, row_of
from shared.domain import Actor, DomainError, Trace
from shared.guard import OwnErrors, fields_of, safe_text
from shared.http import NotFound
from shared.scrub import scrub
from shared.territory import Category, Territory
from shared.vocabulary import Channel

FORMATS = {"json": "application/json", "xml": "text/xml; charset=utf-8"}
DEFAULT_PERIOD = timedelta(days=90)
MAX_REQUESTS = 1000


class Open311Error(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _jurisdictions(territory: Territory) -> list[tuple[str, str]]:
    """Every active place as (its path of codes, its path of names): the `jurisdiction`
    attribute's values, from the centre's registry."""
    values = []
    for place in territory.places.values():
        if place.active:
            path = territory.path(place.code)
            values.append(("/".join(p.code for p in path), "".join(p.name for p in path)))
    return values


def _service(category: Category | None, code: str) -> dict[str, Any]:
    return {
        "service_code": code,
        "service_name": category.name if category else code,
        "description": category.description if category else "",
        "metadata": True,
        "type": "batch",
        "keywords": code.replace("-", ", "),
        "group": "petitions",
    }


def _definition(code: str, territory: Territory) -> dict[str, Any]:
    return {
        "service_code": code,
        "attributes": [
            {
                "variable": True,
                "code": "jurisdiction",
                "datatype": "singlevaluelist",
                "required": True,
                "datatype_description": "a place's path of codes, top tier first",
                "order": 1,
                "description": "Where the matter is (区/街道/社区…)",
                "values": [{"key": k, "name": n} for k, n in _jurisdictions(territory)],
            },
            {
                "variable": True,
                "code": "subject",
                "datatype": "string",
                "required": False,
                "datatype_description": "at most 200 characters",
                "order": 2,
                "description": "A one-line subject; taken from the description if absent",
            },
        ],
    }


# --- rendering ---------------------------------------------------------------------------


_PLURALS = {"attributes": "attribute", "values": "value"}


def _fill(element: ET.Element, data: dict[str, Any]) -> None:
    for key, value in data.items():
        child = ET.SubElement(element, key)
        if isinstance(value, list):
            for entry in value:
                _fill(ET.SubElement(child, _PLURALS.get(key, "item")), entry)
        elif isinstance(value, bool):
            child.text = "true" if value else "false"
        elif value is not None:
            child.text = str(value)


def _shown(value: Any) -> Any:
    """Stored text as anyone may be shown it: without the characters XML cannot carry or a
    reader would not see (control characters stored before the text guard existed, or that
    came from another service's events)."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, list):
        return [_shown(v) for v in value]
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    return value


def _render(fmt: str, root: str, body: Any, item: str = "", status: int = 200) -> Response:
    """JSON as it is; XML with `root` around a list of `item`s, or around one object's fields.
    Either way, text is `_shown`."""
    body = _shown(body)
    if fmt != "xml":
        return Response(orjson.dumps(body), status_code=status, media_type=FORMATS["json"])
    top = ET.Element(root)
    if isinstance(body, list):
        for entry in body:
            _fill(ET.SubElement(top, item), entry)
    else:
        _fill(top, body)
    content = b'<?xml version="1.0" encoding="utf-8"?>' + ET.tostring(
        top, encoding="utf-8", xml_declaration=False
    )
    return Response(content, status_code=status, media_type=FORMATS["xml"])


def _error(fmt: str, status: int, *descriptions: str) -> Response:
    shown = fmt if fmt in FORMATS else "json"
    errors = [{"code": status, "description": d} for d in descriptions]
    return _render(shown, "errors", errors, "error", status)


def _refused(fmt: str, problems: list[tuple[str, str]]) -> Response:
    """A 400 naming each field that is not UTF-8 or holds a control character."""
    return _error(fmt, 400, *(f"{field}: {message}" for field, message in problems))


router = OwnErrors(
    prefix="/open311/v2",
    tags=["open311"],
    refuse=lambda path, problems: _refused("xml" if path.endswith(".xml") else "json", problems),
)
"""Open311's routes; what the text guard refuses here, it refuses in Open311's format."""


# --- requests as the public sees them ------------------------------------------------------


def _local(moment: datetime | None, zone: ZoneInfo) -> str | None:
    return moment.astimezone(zone).isoformat(timespec="seconds") if moment else None


def request_view(case: Case, zone: ZoneInfo, territory: Territory) -> dict[str, Any]:
    progress, acceptance = case.progress, case.acceptance
    refused = case.status in (Status.DECLINED, Status.DIVERTED)
    notes = acceptance.decision.reason if acceptance and refused else None
    return {
        "service_request_id": str(case.id),
        "status": "closed" if case.status in CLOSED_STATES else "open",
        "status_notes": notes or (progress.summary if progress else None) or case.status.value,
        "service_name": _service(territory.categories.get(case.category), case.category)[
            "service_name"
        ],
        "service_code": case.category,
        "description": scrub(case.description, [p.details.name for p in case.petitioners]),
        "agency_responsible": progress.summary
        if progress and progress.stage is Status.ASSIGNED
        else None,
        "service_notice": None,
        "requested_datetime": _local(case.created_on, zone),
        "updated_datetime": _local(case.updated_at or case.created_on, zone),
        "expected_datetime": _local(case.created_on + timedelta(days=15), zone),
        "address": "".join(territory.place_label(case.location).split()),
        "address_id": None,
        "zipcode": None,
        "lat": case.location.lat,
        "long": case.location.long,
        "media_url": case.media_url,
    }


def _parse_time(name: str, raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name} is not an ISO-8601 date-time: {raw!r}") from None
    if moment.tzinfo is None:
        raise Open311Error(400, f"{name} needs a time-zone offset, e.g. 2026-11-21T09:00:00+08:00")
    return moment


# --- what the OpenAPI document says of the form and the filters ------------------------------
# The routes read them raw, to answer in Open311's own error format, so FastAPI cannot infer
# them: they are described here for readers and for tools that generate requests from it.


def _text(description: str, **more: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **more}


FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": [
                        "api_key",
                        "service_code",
                        "attribute[jurisdiction]",
                        "description",
                    ],
                    "properties": {
                        "api_key": _text("The key issued to the calling system"),
                        "service_code": _text("A service of services.json"),
                        "attribute[jurisdiction]": _text("A value of the service definition's"),
                        "attribute[subject]": _text("A one-line subject", maxLength=200),
                        "description": _text("What the matter is", maxLength=5000),
                        "lat": _text("Latitude, a decimal number"),
                        "long": _text("Longitude, a decimal number"),
                        "first_name": _text("The requester's given name"),
                        "last_name": _text("The requester's family name"),
                        "phone": _text("The requester's phone; needs a name"),
                        "email": _text("The requester's e-mail (not kept)"),
                    },
                }
            }
        },
    }
}
FILTERS = {
    "parameters": [
        {"name": name, "in": "query", "required": False, "schema": _text(description)}
        for name, description in (
            ("service_request_id", "Comma-separated request ids"),
            ("service_code", "Comma-separated service codes"),
            ("status", "open or closed"),
            ("start_date", "ISO-8601 date-time with offset; 90 days before end_date if absent"),
            ("end_date", "ISO-8601 date-time with offset"),
        )
    ]
}


# --- endpoints -------------------------------------------------------------------------------


@router.get("/services.{fmt}", summary="The services (case categories) requests may use")
def services(fmt: str, app: Intake) -> Response:
    if fmt not in FORMATS:
        return _error(fmt, 404, f"unknown format {fmt!r}; use json or xml")
    offered = app.territory().categories.values()
    listed = [_service(c, c.code) for c in offered if c.active]
    return _render(fmt, "services", listed, "service")


@router.get("/services/{service_code}.{fmt}", summary="A service's definition (attributes)")
def service_definition(service_code: str, fmt: str, app: Intake) -> Response:
    if fmt not in FORMATS:
        return _error(fmt, 404, f"unknown format {fmt!r}; use json or xml")
    territory = app.territory()
    if territory.category_problems(service_code):
        return _error(fmt, 404, f"no service {service_code!r}; see services.{fmt}")
    return _render(fmt, "service_definition", _definition(service_code, territory))


@router.post(
    "/requests.{fmt}",
    summary="File a service request (form-encoded, with api_key)",
    openapi_extra=FORM,
)
async def post_request(fmt: str, request: Request, app: Intake, trace: RequestTrace) -> Response:
    if fmt not in FORMATS:
        return _error(fmt, 404, f"unknown format {fmt!r}; use json or xml")
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind != "application/x-www-form-urlencoded":
        return _error(fmt, 415, "send the request form-encoded (application/x-www-form-urlencoded)")
    form, problems = fields_of(await request.body(), "form")  # the JSON guard reads no forms
    if problems:
        return _refused(fmt, problems)
    try:
        key = request.headers.get("idempotency-key")
        case_id, notice = await run_in_threadpool(_file, app, form, key, trace)
    except Open311Error as error:
        return _error(fmt, error.status, error.description)
    answer = [{"service_request_id": case_id, "service_notice": notice, "account_id": None}]
    return _render(fmt, "service_requests", answer, "request", status=201)


def _file(
    app: IntakeApplication, form: dict[str, str], idempotency_key: str | None, trace: Trace
) -> tuple[str, str]:
    client = app.api_client(form.get("api_key", ""))
    if client is None:
        raise Open311Error(403, "api_key is missing, unknown or revoked")
    territory = app.territory()
    code = form.get("service_code", "")
    if territory.category_problems(code):
        raise Open311Error(400, f"service_code {code!r} is not a service; see services.json")
    place = form.get("attribute[jurisdiction]", "")
    if place not in dict(_jurisdictions(territory)):
        raise Open311Error(
            400, "attribute[jurisdiction] must be one of the service definition's values"
        )
    description = form.get("description", "").strip()
    if not description:
        raise Open311Error(400, "description is required")
    if len(description) > 5000:
        raise Open311Error(400, "description is longer than 5000 characters")
    point = {name: _number(form, name) for name in ("lat", "long")}
    name = (form.get("last_name", "") + form.get("first_name", "")).strip()
    phone = form.get("phone", "").strip()
    if phone and not name:
        raise Open311Error(400, "first_name or last_name is needed with a phone")
    petitioners = (PersonGiven(name, phone=phone or None),) if name else ()
    subject = (form.get("attribute[subject]") or description.splitlines()[0])[:200]
    try:
        media_url = check_media_url(form.get("media_url"))
    except DomainError as error:
        raise Open311Error(400, f"media_url: {error}") from None
    command = RegisterCase(
        channel=Channel.SYSTEM,
        petitioners=petitioners,
        subject=subject,
        description=description,
        category=code,
        location=Whereabouts(place.rsplit("/", 1)[-1], point["lat"], point["long"]),
        external=ExternalReference(OPEN311_SYSTEMS + client),
        idempotency_key=idempotency_key,
        fingerprint=fingerprint({k: v for k, v in form.items() if k != "api_key"}),
        media_url=media_url,
    )
    actor = Actor(user=OPEN311_SYSTEMS + client, role="integration")
    try:
        outcome = app.register(command, actor, trace)
    except DomainError as error:
        where = f" ({error.field})" if error.field else ""
        raise Open311Error(400, f"{error}{where}") from None
    notice = {
        "registered": "Registered. You will be told within 15 days whether it is accepted.",
        "existing": "Already registered under this Idempotency-Key.",
        "linked": "Linked to an earlier request about the same matter.",
        "refused": "This matter is final after re-review; it is not accepted again.",
    }[outcome.outcome]
    return str(outcome.case.id), notice


def _number(form: dict[str, str], name: str) -> float | None:
    if not form.get(name):
        return None
    try:
        return float(form[name])
    except ValueError:
        raise Open311Error(400, f"{name} is not a number") from None


@router.get(
    "/requests.{fmt}", summary="Requests by id, service, period and status", openapi_extra=FILTERS
)
def get_requests(fmt: str, request: Request, app: Intake, settings: SettingsDep) -> Response:
    if fmt not in FORMATS:
        return _error(fmt, 404, f"unknown format {fmt!r}; use json or xml")
    params = request.query_params
    try:
        ids = None
        if params.get("service_request_id"):
            try:
                ids = [UUID(i.strip()) for i in params["service_request_id"].split(",")]
            except ValueError:
                raise Open311Error(
                    400, "service_request_id is a comma-separated list of ids"
                ) from None
        codes = [c for c in params.get("service_code", "").split(",") if c] or None
        status = params.get("status") or None
        if status not in (None, "open", "closed"):
            raise Open311Error(400, "status is open or closed")
        start = _parse_time("start_date", params.get("start_date"))
        end = _parse_time("end_date", params.get("end_date"))
        if ids is None and start is None:
            start = (end or datetime.now(ZoneInfo(settings.timezone))) - DEFAULT_PERIOD
        if start and end and start > end:
            raise Open311Error(400, "start_date is after end_date")
    except Open311Error as error:
        return _error(fmt, error.status, error.description)
    cases = app.public_cases(
        Query(
            case_ids=ids,
            categories=codes,
            open=None if status is None else status == "open",
            registered_from=start,
            registered_to=end,
            limit=MAX_REQUESTS,
        )
    )
    zone, territory = ZoneInfo(settings.timezone), app.territory()
    shown = [request_view(c, zone, territory) for c in cases]
    return _render(fmt, "service_requests", shown, "request")


@router.get("/requests/{request_id}.{fmt}", summary="One request")
def get_request(request_id: str, fmt: str, app: Intake, settings: SettingsDep) -> Response:
    if fmt not in FORMATS:
        return _error(fmt, 404, f"unknown format {fmt!r}; use json or xml")
    try:
        case = app.get_case(UUID(request_id))
    except (ValueError, NotFound):
        return _error(fmt, 404, f"no request {request_id}")
    if not open311_public(row_of(case)):  # a matter filed at the door, or an accusation
        return _error(fmt, 404, f"no request {request_id}")
    shown = [request_view(case, ZoneInfo(settings.timezone), app.territory())]
    return _render(fmt, "service_requests", shown, "request")
