"""The intake and follow-up APIs over in-memory stores: auth, validation, problem+json."""

import pytest
from fastapi.testclient import TestClient

from services.intake import api as intake_api
from services.intake.api.cases import RegisterCase
from services.intake.application import IntakeApplication
from shared.auth import issue_token
from shared.service import Runtime, create_api
from shared.settings import Settings
from tests.territory import seeded

SETTINGS = Settings(jwt_secret="s" * 40, max_body_bytes=4096)
EXAMPLE = RegisterCase.model_config["json_schema_extra"]["examples"][0]


@pytest.fixture
def client():
    app = create_api(
        lambda: Runtime("intake", SETTINGS, seeded(IntakeApplication())),
        SETTINGS,
        title="t",
        description="d",
        routers=[intake_api.router],
    )
    with TestClient(app) as c:
        yield c


def auth(role="clerk"):
    return {"Authorization": f"Bearer {issue_token(SETTINGS, 'alice', role, 'window-3')}"}


def test_registering_the_documented_example_answers_201_with_the_case_id(client):
    answer = client.post("/v1/cases", json=EXAMPLE, headers=auth())
    assert answer.status_code == 201
    assert answer.json()["outcome"] == "registered"
    assert answer.headers["location"] == f"/v1/cases/{answer.json()['case_id']}"
    case = client.get(f"/v1/cases/{answer.json()['case_id']}", headers=auth()).json()
    assert case["first_receiver"] == "alice"
    assert case["status"] == "registered"
    assert case["legal_class"] == "claim"
    [person] = case["petitioners"]
    assert person["phone"] == "13800138000"
    assert person["id_number"] == "120117198503150016"
    assert person["masked"] is False


def test_an_auditor_sees_personal_data_masked(client):
    case_id = client.post("/v1/cases", json=EXAMPLE, headers=auth()).json()["case_id"]
    [seen] = client.get(f"/v1/cases/{case_id}", headers=auth("auditor")).json()["petitioners"]
    assert (seen["name"], seen["phone"], seen["masked"]) == ("王**", "138****8000", True)
    assert seen["id_number"] == "120***********0016"
    person = client.get(f"/v1/petitioners/{seen['petitioner_id']}", headers=auth("auditor"))
    assert person.json()["name"] == "王**"
    assert person.json()["case_ids"] == [case_id]


def test_a_likely_duplicate_gets_409_with_candidates_then_links_with_200(client):
    first = client.post("/v1/cases", json=EXAMPLE, headers=auth()).json()["case_id"]
    again = client.post("/v1/cases", json={**EXAMPLE, "channel": "phone"}, headers=auth())
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["type"].endswith("/possible-duplicates")
    assert [c["case_id"] for c in again.json()["candidates"]] == [first]
    decision = {"action": "link", "case_id": first}
    linked = client.post(
        "/v1/cases", json={**EXAMPLE, "duplicate_decision": decision}, headers=auth()
    )
    assert linked.status_code == 200
    assert (linked.json()["outcome"], linked.json()["case_id"]) == ("linked", first)
    assert linked.json()["repeat_count"] == 1
    listed = client.get("/v1/cases", headers=auth()).json()
    assert listed["total"] == 1


def test_a_retried_post_with_the_same_idempotency_key_returns_the_same_case(client):
    headers = {**auth(), "Idempotency-Key": "8c1e"}
    first = client.post("/v1/cases", json=EXAMPLE, headers=headers)
    again = client.post("/v1/cases", json=EXAMPLE, headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["case_id"] == first.json()["case_id"]
    assert again.headers["idempotent-replayed"] == "true"
    changed = client.post("/v1/cases", json={**EXAMPLE, "subject": "别的事"}, headers=headers)
    assert changed.status_code == 422
    assert changed.json()["errors"][0]["field"] == "Idempotency-Key"


def test_another_system_files_on_the_system_channel_and_reads_only_its_own_cases(client):
    system = auth("integration")
    body = {
        **EXAMPLE,
        "channel": "system",
        "petitioner": None,
        "external": {"system": "ignored", "reference": "GD-1"},
    }
    first = client.post("/v1/cases", json=body, headers=system)
    assert first.status_code == 201
    case = client.get(f"/v1/cases/{first.json()['case_id']}", headers=system).json()
    assert case["external"] == {"system": "alice", "reference": "GD-1"}  # the token's system
    assert client.post("/v1/cases", json=EXAMPLE, headers=system).status_code == 422
    mine = client.post("/v1/cases", json={**EXAMPLE, "category": "health"}, headers=auth())
    seen = client.get(f"/v1/cases/{mine.json()['case_id']}", headers=system)
    assert seen.status_code == 404  # not filed by it: as if it did not exist


def test_a_group_with_six_representatives_is_refused_naming_the_field(client):
    person = EXAMPLE["petitioner"]
    group = {"participant_count": 30, "representatives": [person] * 6}
    body = {**EXAMPLE, "petitioner": None, "group": group}
    answer = client.post("/v1/cases", json=body, headers=auth())
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "group.representatives"
    assert client.get("/v1/cases", headers=auth()).json()["total"] == 0


def test_classify_then_divert_over_http(client):
    case_id = client.post("/v1/cases", json=EXAMPLE, headers=auth()).json()["case_id"]
    classified = client.post(
        f"/v1/cases/{case_id}/classification",
        json={"legal_class": "claim", "litigation_related": True},
        headers=auth(),
    )
    assert classified.status_code == 200
    refused = client.post(
        f"/v1/cases/{case_id}/acceptance", json={"decision": "accept"}, headers=auth()
    )
    assert refused.status_code == 422
    diverted = client.post(
        f"/v1/cases/{case_id}/acceptance",
        json={"decision": "divert", "reason": "已起诉", "diverted_to": "court"},
        headers=auth(),
    )
    assert diverted.json()["status"] == "diverted"
    assert diverted.json()["acceptance"]["diverted_to"] == "court"


def test_the_queue_over_http_at_the_territorys_windows(client):
    board = client.get("/v1/queue", headers=auth()).json()
    assert board["windows"]["W02"] == {
        "departments": ["ninghe-hrss", "qiaocheng-hrss"],
        "lines": ["B", "A"],
    }
    gone = client.put("/v1/queue/windows/W09", json={"lines": ["A"]}, headers=auth("admin"))
    assert gone.status_code in (404, 405)  # windows are defined in the territory's registry
    ticket = client.post("/v1/queue/tickets", json={"line": "A"}, headers=auth()).json()
    assert ticket["number"] == "A001"
    called = client.post("/v1/queue/windows/W01/call", headers=auth())
    assert called.json()["number"] == "A001"
    assert client.post("/v1/queue/windows/W01/call", headers=auth()).status_code == 204
    unknown = client.post("/v1/queue/tickets", json={"line": "Z"}, headers=auth())
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "line"
    figures = client.get("/v1/queue/figures", headers=auth()).json()
    assert figures["lines"]["A"]["served"] == 1


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic YTpi"}]
)
def test_a_missing_or_bad_token_gets_401_problem_json(client, headers):
    answer = client.post("/v1/cases", json=EXAMPLE, headers=headers)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/unauthenticated")


def test_a_role_that_may_not_register_gets_403(client):
    assert client.post("/v1/cases", json=EXAMPLE, headers=auth("auditor")).status_code == 403


@pytest.mark.parametrize(
    "change, field",
    [
        ({"channel": "pigeon"}, "channel"),
        ({"petitioner": {"name": "", "phone": "13800138000"}}, "petitioner.name"),
        (
            {"petitioner": {"name": "王", "id_number": "123", "phone": "13800138000"}},
            "petitioner.id_number",
        ),
        ({"legal_class": "rumour"}, "legal_class"),
        (
            {"location": {"place": "lutai", "lat": 91, "long": 1}},
            "location.lat",
        ),
        ({"duplicate_decision": {"action": "link"}}, "duplicate_decision"),
        ({"petitioner": {"name": "王", "phone": "555-0100"}}, "petitioner.phone"),
        ({"category": "weather"}, "category"),
        ({"location": {"place": "nowhere"}}, "location.place"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_every_bad_field_is_named_in_a_422_and_nothing_is_registered(client, change, field):
    app = client.app.state.runtime.application
    before = app.recorder.max_notification_id()
    answer = client.post("/v1/cases", json={**EXAMPLE, **change}, headers=auth())
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in answer.json()["errors"]]
    assert app.recorder.max_notification_id() == before


def test_one_answer_names_every_bad_field_rule_checks_included(client):
    bad = {
        **EXAMPLE,
        "petitioner": {**EXAMPLE["petitioner"], "id_number": "120117198503150017"},
        "category": "weather",
        "location": {"place": "atlantis"},
        "subject": " ",
    }
    answer = client.post("/v1/cases", json=bad, headers=auth())
    assert answer.status_code == 422
    fields = [e["field"] for e in answer.json()["errors"]]
    assert fields == ["petitioner.id_number", "category", "location.place", "subject"]
    assert "check digit" in answer.json()["errors"][0]["message"]


def test_an_oversized_body_is_refused_with_413(client):
    big = {**EXAMPLE, "description": "x" * 5000}
    answer = client.post("/v1/cases", json=big, headers=auth())
    assert answer.status_code == 413
    assert answer.json()["type"].endswith("/too-large")


def test_malformed_json_is_a_422_problem(client):
    answer = client.post(
        "/v1/cases", content=b"{oops", headers={**auth(), "Content-Type": "application/json"}
    )
    assert answer.status_code == 422


def test_every_request_body_in_the_openapi_document_has_an_example(client):
    spec = client.get("/openapi.json").json()
    bodies = [
        op["requestBody"]
        for path in spec["paths"].values()
        for op in path.values()
        if "requestBody" in op
    ]
    assert bodies
    for body in bodies:
        ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        assert spec["components"]["schemas"][ref].get("examples"), ref
