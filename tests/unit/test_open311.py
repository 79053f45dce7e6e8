"""Open311 GeoReport v2 on intake, in JSON and XML, over an in-memory store."""

import xml.etree.ElementTree as ET
from datetime import datetime
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from services.intake.api import open311
from services.intake.application import IntakeApplication
from services.intake.commands import Classify, IssueApiKey, RegisterCase, RevokeApiKey
from services.intake.domain import Whereabouts
from shared.domain import Actor, Trace
from shared.service import Runtime, create_api
from shared.settings import Settings
from shared.vocabulary import Channel, LegalClass
from tests.territory import seeded

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
