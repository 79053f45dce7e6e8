"""Hostile text is normal input: NUL, control characters, bytes that are not UTF-8 and deep
nesting are refused with a 422 naming the field, by every service, before any route; free
text leaving intake carries nobody's phone, ID number, e-mail or name."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient

from services.intake import api as intake_api
from services.intake import wire as intake_wire
from services.intake.application import IntakeApplication
from shared.auth import issue_token
from shared.guard import safe_text
from shared.scrub import scrub
from shared.service import Runtime, create_api
from shared.settings import Settings
from tests.territory import seeded
from tests.unit.test_api import EXAMPLE
from tests.unit.test_flow import published

SETTINGS = Settings(jwt_secret="s" * 40)


@pytest.fixture
def client():
    app = seeded(IntakeApplication())
    api = create_api(
        lambda: Runtime("intake", SETTINGS, app),
        SETTINGS,
        title="t",
        description="d",
        routers=[intake_api.router],
    )
    with TestClient(api) as c:
        c.headers["Authorization"] = f"Bearer {issue_token(SETTINGS, 'alice', 'clerk')}"
        yield c, app


@pytest.mark.parametrize(
    "change, field",
    [
        ({"subject": "拖欠\u0000工资"}, "subject"),
        ({"description": "line\x0bbreak"}, "description"),
        ({"petitioner": {**EXAMPLE["petitioner"], "name": "王\x1b[31m"}}, "petitioner.name"),
        ({"location": {"place": "jinxiu\x7f"}}, "location.place"),
        ({"subject": "ok\u2028"}, "subject"),
    ],
)
def test_a_control_character_in_any_field_is_a_422_naming_it_and_nothing_is_written(
    client, change, field
):
    c, app = client
    before = app.recorder.max_notification_id()
    answer = c.post("/v1/cases", json={**EXAMPLE, **change})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in answer.json()["errors"]] == [field]
    assert app.recorder.max_notification_id() == before


def test_tabs_and_line_breaks_are_text():
    c_text = {**EXAMPLE, "description": "第一段\n第二段\r\n\t缩进"}
    assert safe_text(c_text["description"]) == c_text["description"]


def test_bytes_that_are_not_utf8_and_deep_nesting_are_422_not_500(client):
    c, _ = client
    raw = c.post(
        "/v1/cases",
        content=b'{"subject": "\xff\xfe"}',
        headers={"Content-Type": "application/json"},
    )
    assert raw.status_code == 422 and raw.json()["errors"][0]["field"] == "body"
    deep: dict = {}
    node = deep
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    nested = c.post("/v1/cases", json={**EXAMPLE, "external": deep})
    assert nested.status_code == 422
    assert "nested deeper" in nested.json()["errors"][0]["message"]


def test_a_control_character_or_bad_bytes_in_the_query_or_path_is_a_422(client):
    c, _ = client
    assert c.get("/v1/cases", params={"place": "lu\x00tai"}).json()["errors"][0]["field"] == "place"
    assert c.get("/v1/cases?place=%ff%fe").status_code == 422
    assert c.get("/v1/petitioners/%00").status_code == 422


def test_free_text_is_scrubbed_of_phones_id_numbers_emails_and_the_petitioners_names():
    text = (
        "王建国（身份证120117198503150016）请回电 138 0013 8000、+86-139-1234-5678 或座机"
        " (022)6955-1234，邮箱 wjg@example.com；合同 2026110112345，8月至10月共1.8万元，"
        "2026-11-21 约谈"
    )
    assert scrub(text, ["王建国"]) == (
        "〔姓名〕（身份证〔身份证号〕）请回电 〔电话〕、〔电话〕 或座机 〔电话〕，邮箱 〔邮箱〕；"
        "合同 〔号码〕，8月至10月共1.8万元，2026-11-21 约谈"
    )


def test_free_text_intake_puts_on_kafka_carries_no_personal_data(client):
    c, app = client
    body = {
        **EXAMPLE,
        "subject": "王建国反映工资被拖欠",
        "description": "请回电 138-0013-8000 或 wjg@example.com，身份证 120117198503150016",
    }
    assert c.post("/v1/cases", json=body).status_code == 201
    [registered] = [e for e in published(app, intake_wire) if e.type.endswith("registered.v2")]
    text = orjson.dumps(registered.data).decode()
    for personal in ("王建国", "13800138000", "138-0013-8000", "wjg@example.com", "1201171985"):
        assert personal not in text
    assert registered.data["subject"] == "〔姓名〕反映工资被拖欠"
    assert registered.data["description"] == "请回电 〔电话〕 或 〔邮箱〕，身份证 〔身份证号〕"


def test_the_escape_of_a_lone_surrogate_is_refused_by_the_guard_naming_the_field(client):
    c, app = client
    before = app.recorder.max_notification_id()
    body = orjson.dumps({**EXAMPLE, "subject": "MARK"}).replace(b"MARK", b"x\\ud800y")
    answer = c.post("/v1/cases", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"field": "subject", "message": "contains U+D800, which has no place in text; remove it"}
    ]
    assert app.recorder.max_notification_id() == before


def test_a_field_name_in_the_query_is_named_with_its_control_characters_escaped(client):
    c, _ = client
    answer = c.get("/v1/cases", params={"pla\x1bce": "lutai"})
    assert answer.json()["errors"][0]["field"] == "pla\\u001bce"


def test_a_service_kept_in_memory_is_ready_it_has_no_database_to_miss(client):
    c, _ = client
    ready = c.get("/health/ready")
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")
