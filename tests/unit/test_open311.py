"""Open311 GeoReport v2 on intake, in JSON and XML, over an in-memory store."""

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from urllib.parse import urlencode
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from services.intake.api import open311
from services.intake.application import IntakeApplication
from services.intake.commands import Classify, IssueApiKey, RegisterCase, RevokeApiKey
from services.intake.domain import ExternalReference, Whereabouts
from services.intake.index import OPEN311_SYSTEMS, row_of
from shared.domain import Actor, Trace
from shared.messages import OutcomeRecorded
from shared.service import Runtime, create_api
from shared.settings import Settings
from shared.vocabulary import Channel, LegalClass
from tests.territory import seeded
from tests.unit.messaging import send

SETTINGS = Settings(jwt_secret="s" * 40)
FORM = {
    "service_code": "urban-management",
    "attribute[jurisdiction]": "ninghe/qiaobei/changhong",
    "description": "夜间施工噪音扰民，联系电话13800138000",
    "first_name": "建国",
    "last_name": "王",
    "phone": "13800138000",
    "email": "wang@example.com",
    "lat": "39.33",
    "long": "117.82",
}


@pytest.fixture
def client():
    app = create_api(
        lambda: Runtime("intake", SETTINGS, seeded(IntakeApplication())),
        SETTINGS,
        title="t",
        description="d",
        routers=[open311.router],
    )
    with TestClient(app) as c:
        yield c


@pytest.fixture
def key(client):
    return client.app.state.runtime.application.issue_api_key(IssueApiKey("city-app"), "admin")


def post(client, form, fmt="json", **headers):
    return client.post(f"/open311/v2/requests.{fmt}", data=form, headers=headers)


def test_services_are_listed_in_json_and_xml(client):
    services = client.get("/open311/v2/services.json").json()
    codes = [s["service_code"] for s in services]
    assert "labour-wages" in codes
    assert {"service_name", "description", "metadata", "type", "keywords", "group"} <= set(
        services[0]
    )
    xml = client.get("/open311/v2/services.xml")
    assert xml.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(xml.content)
    assert root.tag == "services"
    assert [s.findtext("service_code") for s in root.findall("service")] == codes
    assert root.find("service/metadata").text == "true"


def test_a_service_definition_lists_its_attributes(client):
    definition = client.get("/open311/v2/services/labour-wages.json").json()
    [place, subject] = definition["attributes"]
    assert subject["code"] == "subject" and subject["required"] is False
    assert (place["code"], place["datatype"], place["required"]) == (
        "jurisdiction",
        "singlevaluelist",
        True,
    )
    assert {"key": "ninghe/lutai/jinxiu", "name": "宁河区芦台街道锦绣社区"} in place["values"]
    root = ET.fromstring(client.get("/open311/v2/services/labour-wages.xml").content)
    assert root.tag == "service_definition"
    assert root.find("attributes/attribute/code").text == "jurisdiction"
    assert root.find("attributes/attribute/values/value/key") is not None
    missing = client.get("/open311/v2/services/weather.json")
    assert missing.status_code == 404
    assert missing.json()[0]["code"] == 404


def test_posting_without_a_valid_key_is_refused_with_open311_errors(client, key):
    for form in (FORM, {**FORM, "api_key": "os_wrong"}):
        answer = post(client, form)
        assert answer.status_code == 403
        [error] = answer.json()
        assert error["code"] == 403 and "api_key" in error["description"]
    xml = post(client, FORM, "xml")
    root = ET.fromstring(xml.content)
    assert root.tag == "errors" and root.find("error/code").text == "403"
    client.app.state.runtime.application.revoke_api_key(RevokeApiKey("city-app"), "admin")
    assert post(client, {**FORM, "api_key": key}).status_code == 403


@pytest.mark.parametrize(
    "change, words",
    [
        ({"service_code": "weather"}, "service_code"),
        ({"attribute[jurisdiction]": "ninghe/nowhere"}, "attribute[jurisdiction]"),
        ({"description": ""}, "description"),
        ({"phone": "12345"}, "phone"),
        ({"lat": "north"}, "lat"),
        ({"media_url": "javascript:alert(1)"}, "media_url"),
        ({"media_url": "https://photos.example.cn/a b.jpg"}, "media_url"),
        ({"media_url": "https://x.cn/" + "a" * 2000}, "media_url"),
    ],
)
def test_a_bad_request_is_a_400_naming_the_field_and_files_nothing(client, key, change, words):
    answer = post(client, {**FORM, "api_key": key, **change})
    assert answer.status_code == 400
    assert words in answer.json()[0]["description"]
    assert client.get("/open311/v2/requests.json").json() == []


def test_a_filed_request_is_found_again_without_personal_data(client, key):
    filed = post(client, {**FORM, "api_key": key})
    assert filed.status_code == 201
    [answer] = filed.json()
    request_id = answer["service_request_id"]
    assert "15 days" in answer["service_notice"]
    [seen] = client.get(f"/open311/v2/requests/{request_id}.json").json()
    assert seen["status"] == "open"
    assert seen["service_code"] == "urban-management"
    assert seen["address"] == "宁河区桥北街道长虹社区"
    assert (seen["lat"], seen["long"]) == (39.33, 117.82)
    assert datetime.fromisoformat(seen["requested_datetime"]).utcoffset() is not None
    text = client.get("/open311/v2/requests.json").text
    for personal in ("13800138000", "王", "建国", "wang@example.com"):
        assert personal not in text
    assert seen["description"].endswith("联系电话〔电话〕")


def test_a_request_keeps_the_media_url_it_was_filed_with(client, key):
    photo = "https://photos.example.cn/ninghe/2026/river.jpg"
    filed = post(client, {**FORM, "api_key": key, "media_url": photo}).json()[0]
    request_id = filed["service_request_id"]
    [seen] = client.get(f"/open311/v2/requests/{request_id}.json").json()
    assert seen["media_url"] == photo
    xml = client.get(f"/open311/v2/requests/{request_id}.xml").text
    assert f"<media_url>{photo}</media_url>" in xml


def test_requests_are_filtered_by_service_status_and_period_in_both_formats(client, key):
    post(client, {**FORM, "api_key": key})
    post(
        client,
        {
            **FORM,
            "api_key": key,
            "service_code": "environment",
            "attribute[jurisdiction]": "ninghe/fengtai",
        },
    )
    everything = client.get("/open311/v2/requests.json").json()
    assert len(everything) == 2
    only = client.get("/open311/v2/requests.json?service_code=environment").json()
    assert [r["service_code"] for r in only] == ["environment"]
    assert client.get("/open311/v2/requests.json?status=closed").json() == []
    future = client.get("/open311/v2/requests.json?start_date=2099-01-01T00:00:00%2B08:00")
    assert future.json() == []
    naive = client.get("/open311/v2/requests.json?start_date=2026-01-01")
    assert naive.status_code == 400 and "offset" in naive.json()[0]["description"]
    root = ET.fromstring(client.get("/open311/v2/requests.xml?status=open").content)
    assert root.tag == "service_requests"
    assert len(root.findall("request")) == 2
    assert root.find("request/status").text == "open"


def test_a_retried_post_with_an_idempotency_key_files_once(client, key):
    first = post(client, {**FORM, "api_key": key}, **{"Idempotency-Key": "k-1"})
    again = post(client, {**FORM, "api_key": key}, **{"Idempotency-Key": "k-1"})
    assert first.json()[0]["service_request_id"] == again.json()[0]["service_request_id"]
    assert len(client.get("/open311/v2/requests.json").json()) == 1


def test_a_post_that_is_not_form_encoded_is_refused(client, key):
    answer = client.post("/open311/v2/requests.json", json={**FORM, "api_key": key})
    assert answer.status_code == 415


def test_matters_from_the_door_and_accusations_are_never_shown(client, key):
    app = client.app.state.runtime.application
    filed = post(client, {**FORM, "api_key": key}).json()[0]["service_request_id"]
    door = app.register(
        RegisterCase(
            channel=Channel.LETTER,
            subject="举报",
            description="举报某执法人员",
            category="public-security",
            location=Whereabouts("lutai"),
        ),
        Actor("alice", "clerk"),
        Trace("c"),
    ).case
    listed = [r["service_request_id"] for r in client.get("/open311/v2/requests.json").json()]
    assert listed == [filed]
    assert client.get(f"/open311/v2/requests/{door.id}.json").status_code == 404
    accusation = Classify(UUID(filed), LegalClass.ACCUSATION, accused="某单位")
    app.classify(accusation, Actor("alice", "clerk"), Trace("c"))
    assert client.get("/open311/v2/requests.json").json() == []
    assert client.get(f"/open311/v2/requests/{filed}.json").status_code == 404


@pytest.mark.parametrize("encoded", [b"%FF%FE", b"\xff\xfe"], ids=["escaped", "raw"])
def test_a_form_field_that_is_not_utf8_is_a_400_naming_it_not_a_500(client, key, encoded):
    form = urlencode({**FORM, "api_key": key, "description": "x"}).encode()
    answer = client.post(
        "/open311/v2/requests.xml",
        content=form.replace(b"description=x", b"description=x" + encoded),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 400
    root = ET.fromstring(answer.content)
    assert root.find("error/code").text == "400"
    assert root.find("error/description").text == "description: not UTF-8"
    assert client.get("/open311/v2/requests.json").json() == []


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_what_the_text_guard_refuses_on_open311_is_refused_in_open311s_format(client, fmt):
    answer = client.get(f"/open311/v2/requests.{fmt}", params={"service_code": "a\x00b"})
    assert answer.status_code == 400
    if fmt == "xml":
        root = ET.fromstring(answer.content)
        assert root.tag == "errors" and root.find("error/code").text == "400"
        assert root.find("error/description").text.startswith("service_code: ")
    else:
        [error] = answer.json()
        assert error["code"] == 400 and error["description"].startswith("service_code: ")


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    "change, field",
    [
        ({"description": "夜间施工\x0b噪音"}, "description"),
        ({"last_name": "王\x1b[31m"}, "last_name"),
    ],
)
def test_a_control_character_in_the_form_is_a_400_naming_the_field_and_files_nothing(
    client, key, fmt, change, field
):
    answer = post(client, {**FORM, "api_key": key, **change}, fmt)
    assert answer.status_code == 400
    expected = f"{field}: contains a control character; remove it"
    if fmt == "xml":
        root = ET.fromstring(answer.content)
        assert (root.find("error/code").text, root.find("error/description").text) == (
            "400",
            expected,
        )
    else:
        assert answer.json() == [{"code": 400, "description": expected}]
    assert client.get("/open311/v2/requests.json").json() == []


def test_control_characters_stored_before_the_guard_or_heard_from_follow_up_never_reach_a_listing(
    client,
):
    app = client.app.state.runtime.application
    registered = app.register(
        RegisterCase(
            channel=Channel.SYSTEM,
            subject="噪音",
            description="夜间\x00施工\x0b噪音\x1b[31m扰民\ufffe",
            category="urban-management",
            location=Whereabouts("changhong"),
            external=ExternalReference(OPEN311_SYSTEMS + "city-app"),
        ),
        Actor(OPEN311_SYSTEMS + "city-app", "integration"),
        Trace("c"),
    ).case
    outcome = OutcomeRecorded(
        case_id=str(registered.id),
        round=1,
        form="opinion",
        opinion="support",
        summary="已责令\x00停工\x7f",
        recorded_at=datetime.now(UTC),
    )
    send(app, outcome, "followup")
    for path in ("/open311/v2/requests.xml", f"/open311/v2/requests/{registered.id}.xml"):
        answer = client.get(path)
        assert answer.status_code == 200
        [request] = ET.fromstring(answer.content).findall("request")
        assert request.findtext("description") == "夜间施工噪音[31m扰民"
        assert request.findtext("status_notes") == "支持: 已责令停工"
    [seen] = client.get("/open311/v2/requests.json").json()
    assert seen["description"] == "夜间施工噪音[31m扰民"
    assert row_of(app.get_case(registered.id))["lead"] == "支持: 已责令停工"  # PostgreSQL takes it
