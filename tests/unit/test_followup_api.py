"""Follow-up's HTTP API on an in-memory store: what callers see, and what they may not."""

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from services.cli import render_timeline
from services.followup import api
from services.followup import wire as followup_wire
from services.followup.application import FollowUpApplication
from shared.auth import issue_token
from shared.casecode import case_code, code_hash
from shared.messages import CaseAssigned, CaseRegistered, CaseRestricted, Department
from shared.service import Runtime, create_api
from shared.settings import Settings
from tests.territory import seeded
from tests.unit.messaging import send
from tests.unit.test_flow import deliver, published

SETTINGS = Settings(jwt_secret="s" * 40)
KEY = b"k" * 32


@pytest.fixture
def service():
    application = seeded(FollowUpApplication())
    app = create_api(
        lambda: Runtime("followup", SETTINGS, application),
        SETTINGS,
        title="t",
        description="d",
        routers=[api.router, api.public],
    )
    with TestClient(app) as client:
        yield client, application


def auth(role: str, department: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SETTINGS, 'u', role, department)}"}


def a_case(application, lead="ninghe-discipline") -> str:
    case_id = str(uuid4())
    now = datetime.now(UTC)
    send(
        application,
        CaseRegistered(
            case_id=case_id,
            channel="letter",
            subject="举报某局负责人",
            description="d",
            category="labour-wages",
            location={"place": "lutai", "path": ["ninghe", "lutai"]},
            registered_at=now,
            first_receiver="alice",
            legal_class="accusation",
            lookup_code_hash=code_hash(case_code(KEY, UUID(case_id))),
        ),
    )
    send(
        application,
        CaseAssigned(
            case_id=case_id,
            lead=Department(code=lead, name="纪委监委"),
            rule_id="R-90",
            rule_version="v1",
            reason="r",
            assigned_at=now,
        ),
        "routing",
    )
    return case_id


def test_the_accused_unit_finds_no_such_case_now_or_in_any_past_state(service):
    client, application = service
    case_id = a_case(application)
    before = datetime.now(UTC)
    send(
        application,
        CaseRestricted(
            case_id=case_id, barred_departments=["ninghe-hrss"], restricted_at=datetime.now(UTC)
        ),
        "routing",
    )
    accused = auth("handler", "ninghe-hrss")
    nowhere = str(uuid4())
    for path in (
        "/v1/cases/{}",
        "/v1/cases/{}/history",
        "/v1/cases/{}/history?as_of=" + before.isoformat().replace("+00:00", "Z"),
        "/v1/cases/{}?as_of=" + before.isoformat().replace("+00:00", "Z"),
    ):
        seen = client.get(path.format(case_id), headers=accused)
        missing = client.get(path.format(nowhere), headers=auth("supervisor"))
        assert (seen.status_code, missing.status_code) == (404, 404)
        assert seen.json()["detail"] == missing.json()["detail"].replace(nowhere, case_id)
    refused = client.post(f"/v1/cases/{case_id}/plan", json={"summary": "x"}, headers=accused)
    assert refused.status_code == 404  # not "the lead is …": a refusal tells nothing
    assert client.get(f"/v1/cases/{case_id}", headers=auth("auditor")).json()["subject"]


def test_validation_names_the_field_and_rules_name_theirs(service):
    client, application = service
    case_id = a_case(application)
    lead = auth("handler", "ninghe-discipline")
    bad = client.post(f"/v1/cases/{case_id}/outcome", json={"form": "verdict"}, headers=lead)
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {"form", "summary"}
    no_opinion = client.post(
        f"/v1/cases/{case_id}/outcome", json={"form": "opinion", "summary": "已答复"}, headers=lead
    )
    assert no_opinion.status_code == 422
    assert no_opinion.json()["errors"][0]["field"] == "opinion"
    assert client.post(f"/v1/cases/{case_id}/close-out", headers=lead).status_code == 403


def test_the_public_lookup_needs_no_token_and_slows_down_guessing(service):
    client, application = service
    case_id = a_case(application)
    code = case_code(KEY, UUID(case_id))
    found = client.post("/v1/public/lookup", json={"code": code})
    assert found.status_code == 200
    assert found.json()["status"] == "assigned" and found.json()["can_rate"] is False
    assert "first_receiver" not in found.text and "alice" not in found.text
    for _ in range(10):
        assert client.post("/v1/public/lookup", json={"code": "AAAA-BBBB-CCCC"}).status_code == 404
    blocked = client.post("/v1/public/lookup", json={"code": code})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0


def test_statistics_and_policy_are_readable_by_supervision_not_by_clerks(service):
    client, application = service
    a_case(application)
    params = {"from": "2026-01-01", "to": "2027-01-01", "by": "street"}
    stats = client.get("/v1/statistics", params=params, headers=auth("supervisor"))
    assert stats.status_code == 200, stats.text
    [lutai] = stats.json()["groups"]
    assert (lutai["group"], lutai["cases"]) == ("芦台街道 (lutai)", 1)
    assert client.get("/v1/statistics", params=params, headers=auth("clerk")).status_code == 403
    wrong = client.get("/v1/statistics", params={**params, "by": "planet"}, headers=auth("leader"))
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "by"
    policy = client.get("/v1/policy", headers=auth("clerk")).json()
    assert policy["name"] == "13710"
    year = client.get("/v1/calendar/2026", headers=auth("clerk")).json()
    assert "2026-10-01" in year["holidays"] and "2026-10-10" in year["make_up_days"]


def test_the_deadline_ledger_lists_what_is_overdue_and_a_handler_sees_only_theirs(service):
    client, application = service
    now = datetime.now(UTC)
    ours, theirs = a_case(application), a_case(application, lead="ninghe-hrss")
    application.clock = lambda: now + timedelta(days=2)  # plans (1 day) are overdue
    supervisor = auth("supervisor")
    board = client.get("/v1/deadlines", headers=supervisor).json()
    assert {(i["case_id"], i["kind"]) for i in board["items"]} == {
        (ours, "handling-plan"),
        (theirs, "handling-plan"),
    }
    assert all(i["seconds_left"] < 0 for i in board["items"])
    soon = client.get(
        "/v1/deadlines", params={"state": "due-soon", "within_hours": 25}, headers=supervisor
    ).json()
    assert {i["kind"] for i in soon["items"]} == {"first-report"}
    handler = auth("handler", "ninghe-hrss")
    mine = client.get("/v1/deadlines", headers=handler).json()
    assert {i["case_id"] for i in mine["items"]} == {theirs}
    other = client.get("/v1/deadlines", params={"department": "x"}, headers=handler)
    assert other.status_code == 403


def test_staff_who_follow_the_petitioner_record_visits_and_the_history_tells_them(service):
    client, application = service
    case_id = a_case(application, lead="ninghe-hrss")
    url = f"/v1/cases/{case_id}/visits"
    body = {"visited_by": "芦台街道 王主任", "summary": "已复工，无新诉求"}
    for role in ("auditor", "admin"):
        assert client.post(url, json=body, headers=auth(role)).status_code == 403
    refusals = [
        (auth("handler", "lutai-office"), body, "department"),
        (auth("clerk"), {**body, "summary": "   "}, "summary"),
        (auth("clerk"), {**body, "summary": ""}, "summary"),
        (auth("clerk"), {**body, "kind": "letter"}, "kind"),
        (
            auth("supervisor"),
            {**body, "visited_at": (datetime.now(UTC) + timedelta(hours=2)).isoformat()},
            "visited_at",
        ),
    ]
    for who, payload, field in refusals:
        refused = client.post(url, json=payload, headers=who)
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == [field]
    assert application.get_case(UUID(case_id)).visits == []

    call = {**body, "kind": "return-call", "visited_by": "李科长"}
    done = client.post(url, json=call, headers=auth("handler", "ninghe-hrss"))
    assert done.status_code == 200, done.text
    assert [(v["kind"], v["visited_by"], v["recorded_by"]) for v in done.json()["visits"]] == [
        ("return-call", "李科长", "u")
    ]
    visited = client.post(url, json=body, headers=auth("leader")).json()["visits"][1]
    assert datetime.fromisoformat(visited["visited_at"]) <= datetime.now(UTC)  # omitted: now

    # follow-up hears its own topic, as every service's: the visits join the case's history
    deliver(application, "followup", published(application, followup_wire))
    history = client.get(f"/v1/cases/{case_id}/history", headers=auth("auditor")).json()
    assert [e["data"]["visited_by"] for e in history["events"] if "visited_by" in e["data"]] == [
        "李科长",
        "芦台街道 王主任",
    ]
    printed = render_timeline(history, ZoneInfo("Asia/Shanghai"))
    assert "call back by 李科长 on " in printed
    assert "visit by 芦台街道 王主任 on " in printed and ": 已复工，无新诉求" in printed
