"""The intake and follow-up APIs over in-memory stores: auth, validation, problem+json."""

import pytest
from fastapi.testclient import TestClient

from services.intake import api as intake_api
from services.intake.application import IntakeApplication
from shared.auth import issue_token
from shared.service import Runtime, create_api
from shared.settings import Settings

SETTINGS = Settings(jwt_secret="s" * 40, max_body_bytes=4096)
EXAMPLE = intake_api.RegisterCase.model_config["json_schema_extra"]["examples"][0]


@pytest.fixture
def client():
    app = create_api(
        lambda: Runtime("intake", SETTINGS, IntakeApplication()),
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
    case = client.get(f"/v1/cases/{answer.json()['case_id']}", headers=auth()).json()
    assert case["first_receiver"] == "alice"
    assert case["petitioner"] == {"name": "王建国", "phone": "13800138000", "masked": False}


def test_an_auditor_sees_personal_data_masked(client):
    case_id = client.post("/v1/cases", json=EXAMPLE, headers=auth()).json()["case_id"]
    seen = client.get(f"/v1/cases/{case_id}", headers=auth("auditor")).json()["petitioner"]
    assert seen == {"name": "王**", "phone": "138****8000", "masked": True}


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
        ({"petitioner": {"name": "王", "phone": "555-0100"}}, "petitioner.phone"),
        ({"category": "weather"}, "category"),
        ({"location": {"district": "ninghe", "street": "nowhere"}}, "location.street"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_every_bad_field_is_named_in_a_422_and_nothing_is_registered(client, change, field):
    answer = client.post("/v1/cases", json={**EXAMPLE, **change}, headers=auth())
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in answer.json()["errors"]]
    app = client.app.state.runtime.application
    assert app.recorder.max_notification_id() in (None, 0)


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
