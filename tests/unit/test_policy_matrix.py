"""Every endpoint of every service × every role × the departments that matter, generated from
the services' own OpenAPI documents — so a new endpoint cannot slip through — and the
accusation of Art. 30 through every read and write path of all three services: no leak.

The three services run in-process on their in-memory stores, wired as Kafka would wire them
(each service's published events handed to the others' consumers)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count, product
from uuid import UUID

import pytest
from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient

from services.followup import bootstrap as followup_bootstrap
from services.followup import wire as followup_wire
from services.followup.application import FollowUpApplication
from services.followup.domain import history_id
from services.intake import bootstrap as intake_bootstrap
from services.intake import wire as intake_wire
from services.intake.application import API_KEYS_ID, IntakeApplication
from services.intake.queue import LAYOUT_ID
from services.routing import bootstrap as routing_bootstrap
from services.routing import wire as routing_wire
from services.routing.application import RoutingApplication
from services.routing.calendar import CALENDAR_ID
from services.routing.organisation import CATALOGUE_ID, ORGANISATION_ID
from shared.auth import CALLER_ROLES, issue_token
from shared.policy import PERMISSIONS, public
from shared.registry import REPLICA_ID
from shared.service import Runtime, create_api
from shared.settings import Settings
from tests.territory import seeded
from tests.unit.test_api import EXAMPLE
from tests.unit.test_flow import published

SETTINGS = Settings(jwt_secret="s" * 40)
LEAD = "ninghe-hrss"  # the wage case's lead, and the unit the accusation names
UNRELATED = "ninghe-edu"
ACCUSER = EXAMPLE["petitioner"]


@dataclass
class Centre:
    """The three services, one case each service knows, and test clients for them."""

    intake: IntakeApplication
    routing: RoutingApplication
    followup: FollowUpApplication
    clients: dict[str, TestClient]
    case_id: str
    petitioner_id: str
    offsets: Iterator[int]

    def settle(self) -> None:
        """Hand every service's new events to the others, until nothing new is said."""
        seen: set[str] = getattr(self, "_seen", set())
        for _ in range(5):
            fresh = 0
            for app, wire, topic in (
                (self.intake, intake_wire, "intake"),
                (self.routing, routing_wire, "routing"),
                (self.followup, followup_wire, "followup"),
            ):
                for event in published(app, wire):
                    if event.id in seen:
                        continue
                    seen.add(event.id)
                    fresh += 1
                    for other in (self.intake, self.routing, self.followup):
                        if other is not app or topic == "followup":
                            other.handle(event, Tracking(f"kafka:{topic}:0", next(self.offsets)))
            if not fresh:
                break
        self._seen = seen


def auth(role: str, department: str | None = None, user: str = "u") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SETTINGS, user, role, department)}"}


@pytest.fixture
def centre() -> Iterator[Centre]:
    apps = (
        seeded(IntakeApplication()),
        seeded(RoutingApplication()),
        seeded(FollowUpApplication()),
    )
    routers = {
        "intake": intake_bootstrap.ROUTERS,
        "routing": routing_bootstrap.ROUTERS,
        "followup": followup_bootstrap.ROUTERS,
    }
    clients = {}
    for name, app in zip(("intake", "routing", "followup"), apps, strict=True):
        api = create_api(
            lambda app=app, name=name: Runtime(name, SETTINGS, app),
            SETTINGS,
            title=name,
            description="d",
            routers=routers[name],
        )
        clients[name] = TestClient(api).__enter__()
    made = clients["intake"].post("/v1/cases", json=EXAMPLE, headers=auth("clerk", user="alice"))
    assert made.status_code == 201, made.text
    intake = apps[0]
    case = intake.get_case(UUID(made.json()["case_id"]))
    found = Centre(*apps, clients, made.json()["case_id"], case.petitioner_ids[0], count(10**6))
    found.settle()
    yield found
    for client in clients.values():
        client.__exit__(None, None, None)


def operations(client: TestClient) -> list[tuple[str, str, str]]:
    """(method, path, operationId) of every operation the service documents."""
    found = []
    for path, item in client.app.openapi()["paths"].items():
        for method, operation in item.items():
            found.append((method.upper(), path, operation["operationId"]))
    return found


def filled(path: str, centre: Centre, department: str | None) -> str:
    values = {
        "case_id": centre.case_id,
        "petitioner_id": centre.petitioner_id,
        "code": department or LEAD,
        "year": "2026",
        "number": "A001",
        "fmt": "json",
        "service_code": "labour-wages",
        "request_id": centre.case_id,
        "sha256": "0" * 64,
        "sequence": "1",
        "user": "u",
    }
    return re.sub(r"\{(\w+)\}", lambda m: values[m[1]], path)


SERVICES = ("intake", "routing", "followup")


@pytest.mark.parametrize("service", SERVICES)
def test_every_documented_operation_is_in_the_visibility_policy(centre, service):
    missing = [
        (method, path, op)
        for method, path, op in operations(centre.clients[service])
        if f"{service}.{op}" not in PERMISSIONS and not public(service, op)
    ]
    assert missing == [], "say in shared/policy.py who may call these"


@pytest.mark.parametrize("service", SERVICES)
def test_each_role_gets_exactly_what_the_policy_says_on_every_operation(centre, service):
    client = centre.clients[service]
    for method, path, op in operations(client):
        if public(service, op):
            continue
        allowed = PERMISSIONS[f"{service}.{op}"]
        for role in CALLER_ROLES:
            department = LEAD if role == "handler" else None
            url = filled(path, centre, department)
            answer = client.request(method, url, json={}, headers=auth(role, department))
            refused_by_role = answer.status_code == 403 and "may not do this" in answer.text
            assert answer.status_code != 401, (method, path, role)
            assert refused_by_role == (role not in allowed), (method, path, role, answer.text)
            assert answer.status_code < 500, (method, path, role, answer.text)
            assert answer.headers["content-type"].startswith("application/"), (method, path)


@pytest.mark.parametrize("service", SERVICES)
def test_an_id_of_something_other_than_a_case_is_no_case_on_any_route(centre, service):
    """Each service keeps more than cases, under ids anyone can work out: a case's history,
    the registry's replica, the organisation, the catalogue, the calendar, the API keys, a
    petitioner. Given as a case's id on any route about a case, each is a case not found
    (a 500 before: the route read it as a case)."""
    others = [
        history_id(UUID(centre.case_id)),
        REPLICA_ID,
        ORGANISATION_ID,
        CATALOGUE_ID,
        CALENDAR_ID,
        API_KEYS_ID,
        LAYOUT_ID,
        centre.petitioner_id,
    ]
    client = centre.clients[service]
    about_a_case = [(m, p) for m, p, _ in operations(client) if "{case_id}" in p]
    assert about_a_case
    for (method, path), other, role in product(about_a_case, others, ("auditor", "supervisor")):
        url = filled(path.replace("{case_id}", str(other)), centre, None)
        answer = client.request(method, url, json={}, headers=auth(role))
        assert answer.status_code < 500, (method, url, answer.text)
        if method == "GET":
            assert answer.status_code in (403, 404), (method, url, answer.text)


def test_an_accusation_is_never_shown_to_the_unit_it_names_in_any_service(centre):
    clerk = auth("clerk", user="alice")
    classified = centre.clients["intake"].post(
        f"/v1/cases/{centre.case_id}/classification",
        json={"legal_class": "accusation", "accused": "宁河区人力资源和社会保障局 劳动监察大队"},
        headers=clerk,
    )
    assert classified.status_code == 200, classified.text
    centre.settle()
    accused = auth("handler", LEAD, user="li")
    secrets = (ACCUSER["name"], "13800138000", ACCUSER["id_number"], "劳动监察")

    for service in SERVICES:
        client = centre.clients[service]
        for method, path, op in operations(client):
            if public(service, op) or (service, op) in (
                ("routing", "inbox"),  # the unit's own inbox: listed below
                ("followup", "deadlines"),
            ):
                continue
            url = filled(path, centre, LEAD)
            for extra in ("", "?as_of=2020-01-01T00:00:00Z"):
                answer = client.request(method, url + extra, json={}, headers=accused)
                if "{case_id}" in path or "{petitioner_id}" in path:
                    assert answer.status_code in (403, 404), (method, path, answer.text)
                text = answer.text
                for secret in secrets:
                    assert secret not in text, (service, method, path, secret)
                assert centre.case_id not in text or answer.status_code == 404, (path, text)

    listed = centre.clients["intake"].get("/v1/cases", headers=accused).json()
    assert centre.case_id not in {c["case_id"] for c in listed["cases"]} and listed["total"] == 0
    inbox = centre.clients["routing"].get(f"/v1/departments/{LEAD}/inbox", headers=accused)
    assert centre.case_id not in inbox.text
    ledger = centre.clients["followup"].get("/v1/deadlines?state=running", headers=accused)
    assert centre.case_id not in ledger.text

    # those who need to know still see it: discipline inspection, the supervision office
    inspectors = auth("handler", "ninghe-discipline", user="ma")
    seen = centre.clients["intake"].get(f"/v1/cases/{centre.case_id}", headers=inspectors)
    assert seen.json()["petitioners"][0]["name"] == ACCUSER["name"]
    supervisor = centre.clients["followup"].get(
        f"/v1/cases/{centre.case_id}/history", headers=auth("supervisor")
    )
    assert supervisor.status_code == 200


def test_personal_data_is_shown_only_to_those_who_need_to_know_and_each_showing_is_recorded(
    centre,
):
    intake = centre.clients["intake"]
    path = f"/v1/cases/{centre.case_id}"
    for who, masked in (
        (auth("clerk", "window-2", user="bo"), False),
        (auth("handler", LEAD, user="li"), False),
        (auth("supervisor", user="zhou"), False),
        (auth("leader", user="lin"), False),
        (auth("handler", UNRELATED, user="qi"), True),
        (auth("auditor", user="carol"), True),
        (auth("admin", user="root"), True),
    ):
        [person] = intake.get(path, headers=who).json()["petitioners"]
        assert person["masked"] is masked, who
        assert (person["name"] == ACCUSER["name"]) is not masked
    person = intake.get(
        f"/v1/petitioners/{centre.petitioner_id}", headers=auth("handler", UNRELATED)
    )
    assert person.status_code == 200 and person.json()["masked"] is True

    reads = intake.get(
        "/v1/audit/personal-data-reads",
        params={"petitioner_id": centre.petitioner_id},
        headers=auth("auditor", user="carol"),
    ).json()
    who_saw = {(r["user"], r["operation"]) for r in reads["reads"]}
    assert {
        ("bo", "intake.get_case"),
        ("li", "intake.get_case"),
        ("zhou", "intake.get_case"),
    } <= who_saw
    assert not any(r["user"] in ("qi", "carol", "root") for r in reads["reads"])
