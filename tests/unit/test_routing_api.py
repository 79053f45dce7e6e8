"""Routing's HTTP API on an in-memory store: what each caller sees and may do, what they may
not, how a bad request is answered, and that an accused unit never reads its accusation."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient

from services.routing import api
from services.routing.application import RoutingApplication
from shared.auth import CALLER_ROLES, issue_token
from shared.messages import CaseClassified
from shared.service import Runtime, create_api
from shared.settings import Settings
from tests.territory import seeded
from tests.unit.messaging import send
from tests.unit.test_routing import register

SETTINGS = Settings(jwt_secret="s" * 40)

READING = ("clerk", "handler", "supervisor", "leader", "auditor", "admin")
REGISTRY_READING = (*READING, "integration")
LAYOUT = {
    "grids": [{"code": "large", "name": "大网格"}, {"code": "small", "name": "小网格"}],
    "tiers": [
        {"code": "district", "name": "区", "grid": "large"},
        {"code": "street", "name": "街道"},
        {"code": "community", "name": "社区", "grid": "small"},
    ],
}
SUPERVISING = ("supervisor", "leader", "admin")
HANDLER = ("handler",)
ADMIN = ("admin",)
MEETING = {
    "chair": "副区长 张伟",
    "departments": ["ninghe-hrss", "ninghe-civil"],
    "minutes": "heard both departments",
    "decisions": ["HRSS leads"],
    "lead": "ninghe-hrss",
}
CATALOGUE = {
    "note": "wages in Lutai go to the street office",
    "rules": [
        {
            "rule_id": "R-40",
            "category": "labour-wages",
            "scope": "lutai",
            "lead": "lutai-office",
        }
    ],
}
CASE = "/v1/cases/{case}/assignment"
ENDPOINTS = [
    ("GET", CASE, None, READING),
    ("POST", CASE + "/accept", None, HANDLER),
    ("POST", CASE + "/objection", {"reason": "not ours"}, HANDLER),
    (
        "POST",
        CASE + "/objection-review",
        {"department": "ninghe-hrss", "outcome": "overrule", "reason": "wages are HRSS's"},
        SUPERVISING,
    ),
    ("POST", CASE + "/dispatch", {"lead": "ninghe-civil", "reason": "by hand"}, SUPERVISING),
    ("POST", CASE + "/escalation", {"reason": "disputed"}, ("handler", *SUPERVISING)),
    ("POST", CASE + "/joint-meetings", MEETING, SUPERVISING),
    ("POST", CASE + "/leader", {"note": "I will see the petitioner"}, ("leader",)),
    ("POST", CASE + "/recusal", {"reason": "the employer is my cousin"}, HANDLER),
    ("POST", CASE + "/take-over", None, HANDLER),
    ("POST", CASE + "/parts", {"summary": "subsidy restored"}, HANDLER),
    ("GET", "/v1/departments/ninghe-hrss/inbox", None, ("handler", *SUPERVISING, "auditor")),
    ("GET", "/v1/dispatch-queue", None, (*SUPERVISING, "auditor")),
    ("GET", "/v1/territory", None, REGISTRY_READING),
    ("PUT", "/v1/territory?dry_run=true", {"centre": "某中心"}, ADMIN),
    ("GET", "/v1/tiers", None, REGISTRY_READING),
    ("PUT", "/v1/tiers", LAYOUT, ADMIN),
    ("GET", "/v1/statistics-definitions", None, REGISTRY_READING),
    ("PUT", "/v1/statistics-definitions", {"resolution": "closed-out"}, ADMIN),
    ("GET", "/v1/places", None, REGISTRY_READING),
    ("GET", "/v1/places/lutai", None, REGISTRY_READING),
    (
        "PUT",
        "/v1/places/dongfeng",
        {"name": "东风社区", "tier": "community", "parent": "fengtai"},
        ADMIN,
    ),
    ("DELETE", "/v1/places/dongxin", None, ADMIN),
    ("GET", "/v1/departments", None, REGISTRY_READING),
    ("GET", "/v1/departments/ninghe-hrss", None, REGISTRY_READING),
    ("PUT", "/v1/departments/d1", {"name": "某局", "place": "ninghe"}, ADMIN),
    ("DELETE", "/v1/departments/qiaobei-office", None, ADMIN),
    ("GET", "/v1/lines", None, REGISTRY_READING),
    ("GET", "/v1/lines/A", None, REGISTRY_READING),
    ("PUT", "/v1/lines/F", {"name": "信访代理"}, ADMIN),
    ("DELETE", "/v1/lines/B", None, ADMIN),
    ("GET", "/v1/windows", None, REGISTRY_READING),
    ("GET", "/v1/windows/W02", None, REGISTRY_READING),
    ("PUT", "/v1/windows/W09", {"departments": ["ninghe-edu"], "lines": ["A"]}, ADMIN),
    ("DELETE", "/v1/windows/W06", None, ADMIN),
    ("GET", "/v1/categories", None, REGISTRY_READING),
    ("GET", "/v1/categories/health", None, REGISTRY_READING),
    ("PUT", "/v1/categories/fishing", {"name": "渔业"}, ADMIN),
    ("DELETE", "/v1/categories/other", None, ADMIN),
    ("GET", "/v1/dispatch-rules", None, REGISTRY_READING),
    ("POST", "/v1/dispatch-rules", CATALOGUE, ADMIN),
]
"""Every endpoint, a body it would accept, and the roles that may call it."""


@pytest.fixture
def service():
    application = seeded(RoutingApplication())
    app = create_api(
        lambda: Runtime("routing", SETTINGS, application),
        SETTINGS,
        title="t",
        description="d",
        routers=[api.router],
    )
    with TestClient(app) as client:
        yield client, application


def auth(role: str, department: str | None = None, user: str = "li") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(SETTINGS, user, role, department)}"}


def call(client, method, path, body=None, **kwargs):
    return client.request(method, path, json=body, **kwargs)


def everything(client) -> list:
    """What an admin reads of the registry and catalogue: unchanged by a refused request."""
    admin = auth("admin")
    return [
        client.get(path, headers=admin).json() for path in ("/v1/territory", "/v1/dispatch-rules")
    ]


def test_a_routed_case_shows_its_lead_and_the_rule_that_chose_it_and_the_lead_accepts(service):
    client, application = service
    case_id = register(application, "social-security", ("ninghe", "qiaobei", "xinhua"))

    seen = client.get(f"/v1/cases/{case_id}/assignment", headers=auth("clerk")).json()
    assert (seen["status"], seen["lead"]["code"], seen["rule_id"], seen["rule_version"]) == (
        "awaiting-acceptance",
        "ninghe-hrss",
        "R-02",
        "v1",
    )
    assert "R-02 (v1)" in seen["reason"]
    assert [c["code"] for c in seen["co_handlers"]] == ["ninghe-civil"]
    assert seen["restricted"] is False

    accepted = client.post(
        f"/v1/cases/{case_id}/assignment/accept", headers=auth("handler", "ninghe-hrss", "wang")
    )
    assert accepted.status_code == 200
    lead = next(d for d in accepted.json()["departments"] if d["code"] == "ninghe-hrss")
    assert (lead["state"], lead["handler"]) == ("accepted", "wang")
    inbox = client.get(
        "/v1/departments/ninghe-hrss/inbox",
        params={"state": "accepted"},
        headers=auth("handler", "ninghe-hrss"),
    ).json()
    assert [(c["case_id"], c["role"], c["handler"]) for c in inbox["cases"]] == [
        (case_id, "lead", "wang")
    ]


def test_an_objection_upheld_by_the_supervision_office_moves_the_case_to_another_inbox(service):
    client, application = service
    case_id = register(application, "property-management", ("ninghe", "lutai", "yuhe"))
    street = auth("handler", "lutai-office")
    objected = client.post(
        f"/v1/cases/{case_id}/assignment/objection",
        json={"reason": "the estate is managed by the district"},
        headers=street,
    )
    assert objected.json()["status"] == "objected"

    rerouted = client.post(
        f"/v1/cases/{case_id}/assignment/objection-review",
        json={"department": "lutai-office", "outcome": "reroute", "reason": "agreed"},
        headers=auth("supervisor"),
    ).json()

    assert (rerouted["lead"]["code"], rerouted["rule_id"]) == ("ninghe-housing", "R-04")
    assert [t["from"]["code"] for t in rerouted["transfers"]] == ["lutai-office"]
    mine = client.get("/v1/departments/lutai-office/inbox", headers=street).json()
    assert mine["total"] == 0
    theirs = client.get(
        "/v1/departments/ninghe-housing/inbox", headers=auth("handler", "ninghe-housing")
    ).json()
    assert [(c["case_id"], c["state"]) for c in theirs["cases"]] == [
        (case_id, "awaiting-acceptance")
    ]

    # the unit that handed it on may take the dispute over who is responsible up the
    # ladder; a unit that never had it may not
    unrelated = client.post(
        f"/v1/cases/{case_id}/assignment/escalation",
        json={"reason": "not our business either"},
        headers=auth("handler", "ninghe-edu"),
    )
    assert unrelated.status_code == 403 and "no part" in unrelated.json()["detail"]
    disputed = client.post(
        f"/v1/cases/{case_id}/assignment/escalation",
        json={"reason": "who repairs the main is still disputed"},
        headers=street,
    )
    assert disputed.status_code == 200 and disputed.json()["level"] == "joint-meeting"


def test_the_ladder_a_handler_escalates_a_joint_meeting_decides_and_a_leader_takes_it(service):
    client, application = service
    case_id = register(application)
    path = f"/v1/cases/{case_id}/assignment"
    escalated = client.post(
        path + "/escalation",
        json={"reason": "the petitioner insists"},
        headers=auth("handler", "ninghe-hrss"),
    ).json()
    assert escalated["level"] == "joint-meeting"

    met = client.post(path + "/joint-meetings", json=MEETING, headers=auth("supervisor")).json()
    assert met["joint_meetings"][0]["decisions"] == ["HRSS leads"]
    hrss = next(d for d in met["departments"] if d["code"] == "ninghe-hrss")
    assert hrss["binding"] == "joint-meeting"
    bound = client.post(
        path + "/objection",
        json={"reason": "still not ours"},
        headers=auth("handler", "ninghe-hrss"),
    )
    assert bound.status_code == 422 and "binding" in bound.json()["detail"]

    taken = client.post(
        path + "/leader",
        json={"note": "I will see the petitioner"},
        headers=auth("leader", user="lin"),
    ).json()
    assert (taken["level"], taken["leader"]["user"]) == ("leader", "lin")


def test_a_handler_who_recuses_is_replaced_and_a_co_handler_reports_its_part(service):
    client, application = service
    case_id = register(application, "social-security", ("ninghe", "qiaobei", "xinhua"))
    path = f"/v1/cases/{case_id}/assignment"
    li, zhao = auth("handler", "ninghe-hrss", "li"), auth("handler", "ninghe-hrss", "zhao")
    client.post(path + "/accept", headers=li)

    recused = client.post(
        path + "/recusal", json={"reason": "the employer is my cousin"}, headers=li
    )
    hrss = next(d for d in recused.json()["departments"] if d["code"] == "ninghe-hrss")
    assert hrss["state"] == "awaiting-handler"
    again = client.post(path + "/take-over", headers=li)
    assert again.status_code == 422 and "conflict of interest" in again.json()["detail"]
    taken = client.post(path + "/take-over", headers=zhao).json()
    hrss = next(d for d in taken["departments"] if d["code"] == "ninghe-hrss")
    assert (hrss["state"], hrss["handler"]) == ("accepted", "zhao")

    civil = auth("handler", "ninghe-civil", "sun")
    client.post(path + "/accept", headers=civil)
    reported = client.post(path + "/parts", json={"summary": "subsidy restored"}, headers=civil)
    part = next(d for d in reported.json()["departments"] if d["code"] == "ninghe-civil")
    assert part["parts"][0]["summary"] == "subsidy restored"


def test_a_case_no_rule_covers_waits_in_the_dispatch_queue_until_dispatched_by_hand(service):
    client, application = service
    case_id = register(application, "fishing-rights")
    supervisor = auth("supervisor")
    queue = client.get("/v1/dispatch-queue", headers=auth("auditor")).json()
    assert (queue["total"], queue["cases"][0]["case_id"]) == (1, case_id)

    dispatched = client.post(
        f"/v1/cases/{case_id}/assignment/dispatch",
        json={"lead": "ninghe-eco", "co_handlers": ["ninghe-planning"], "reason": "fish ponds"},
        headers=supervisor,
    ).json()

    assert (dispatched["status"], dispatched["lead"]["code"], dispatched["rule_version"]) == (
        "awaiting-acceptance",
        "ninghe-eco",
        "by hand",
    )
    assert client.get("/v1/dispatch-queue", headers=supervisor).json()["total"] == 0


def test_a_new_catalogue_version_routes_from_then_on_and_the_old_one_stays_readable(service):
    client, application = service
    published = client.post("/v1/dispatch-rules", json=CATALOGUE, headers=auth("admin"))
    assert published.status_code == 201
    assert (published.json()["version"], published.json()["versions"]) == ("v2", 2)

    clerk = auth("clerk")
    current = client.get("/v1/dispatch-rules", headers=clerk).json()
    assert [r["rule_id"] for r in current["rules"]] == ["R-40"]
    assert current["rules"][0]["scope"] == "lutai"
    first = client.get("/v1/dispatch-rules", params={"version": "v1"}, headers=clerk).json()
    assert first["version"] == "v1" and "R-01" in {r["rule_id"] for r in first["rules"]}
    case_id = register(application, "labour-wages")
    seen = client.get(f"/v1/cases/{case_id}/assignment", headers=clerk).json()
    assert (seen["rule_id"], seen["rule_version"], seen["lead"]["code"]) == (
        "R-40",
        "v2",
        "lutai-office",
    )


def test_an_inbox_is_filtered_and_paged_newest_first(service):
    client, application = service
    ids = [register(application) for _ in range(4)]
    hrss = auth("handler", "ninghe-hrss")
    client.post(f"/v1/cases/{ids[0]}/assignment/accept", headers=hrss)
    params = {"state": "awaiting-acceptance", "role": "lead", "limit": 2, "offset": 1}

    page = client.get("/v1/departments/ninghe-hrss/inbox", params=params, headers=hrss).json()

    assert (page["department"], page["total"], page["limit"], page["offset"]) == (
        "ninghe-hrss",
        3,
        2,
        1,
    )
    assert [c["case_id"] for c in page["cases"]] == [ids[2], ids[1]]


def test_the_accused_unit_never_lists_an_accusation_and_finds_no_such_case(service):
    client, application = service
    case_id = register(application, "labour-wages")
    send(
        application,
        CaseClassified(
            case_id=case_id,
            legal_class="accusation",
            litigation_related=False,
            accused="宁河区人力资源和社会保障局 劳动监察大队",
            classified_at=datetime.now(UTC),
        ),
    )
    accused = auth("handler", "ninghe-hrss")

    for state in (None, "awaiting-acceptance", "released"):
        params = {"state": state} if state else {}
        listed = client.get("/v1/departments/ninghe-hrss/inbox", params=params, headers=accused)
        assert (listed.json()["total"], listed.json()["cases"]) == (0, [])
    nowhere = str(uuid4())
    missing = client.get(f"/v1/cases/{nowhere}/assignment", headers=auth("supervisor"))
    for method, path, body in (
        ("GET", "/v1/cases/{}/assignment", None),
        ("POST", "/v1/cases/{}/assignment/accept", None),
        ("POST", "/v1/cases/{}/assignment/escalation", {"reason": "我们要求上报"}),
        ("POST", "/v1/cases/{}/assignment/objection", {"reason": "不归我们管"}),
    ):
        seen = call(client, method, path.format(case_id), body, headers=accused)
        assert seen.status_code == 404, (path, seen.text)  # as if there were no such case
        assert seen.json()["detail"] == missing.json()["detail"].replace(nowhere, case_id)
        assert "劳动监察" not in seen.text and "discipline" not in seen.text
    unrelated = client.post(
        f"/v1/cases/{register(application)}/assignment/escalation",
        json={"reason": "与我们无关"},
        headers=auth("handler", "ninghe-edu"),
    )
    assert unrelated.status_code == 403  # a department with no part cannot escalate

    supervision = client.get(f"/v1/cases/{case_id}/assignment", headers=auth("supervisor")).json()
    assert (supervision["lead"]["code"], supervision["restricted"]) == ("ninghe-discipline", True)
    inspectors = client.get(
        "/v1/departments/ninghe-discipline/inbox", headers=auth("handler", "ninghe-discipline")
    ).json()
    assert [(c["case_id"], c["restricted"]) for c in inspectors["cases"]] == [(case_id, True)]


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ENDPOINTS)
def test_a_caller_without_a_valid_token_gets_401_on_every_endpoint(
    service, method, path, body, allowed
):
    client, application = service
    url = path.format(case=register(application))
    expired = issue_token(SETTINGS, "li", allowed[0], "ninghe-hrss", ttl=timedelta(seconds=-5))
    for headers in (
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": f"Bearer {expired}"},
    ):
        answer = call(client, method, url, body, headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "body", "allowed"), ENDPOINTS)
def test_each_role_that_may_not_call_an_endpoint_gets_403_and_nothing_changes(
    service, method, path, body, allowed
):
    """Each role that may call it is let through (the rules may still refuse the change)."""
    client, application = service
    case_id = register(application)
    url = path.format(case=case_id)
    before = (application.get_assignment(case_id).version, everything(client))
    refused = [role for role in CALLER_ROLES if role not in allowed]
    # the registry is read by every caller with a token (another system files cases at its
    # places and categories); everything else is closed to someone
    assert refused or allowed == REGISTRY_READING
    for role in refused:
        answer = call(client, method, url, body, headers=auth(role, "ninghe-hrss"))
        assert answer.status_code == 403, (role, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert f"role {role!r} may not do this" in answer.json()["detail"]
    if allowed == HANDLER:
        nameless = call(client, method, url, body, headers=auth("handler"))
        assert nameless.status_code == 403
        assert "names their department" in nameless.json()["detail"]
    assert (application.get_assignment(case_id).version, everything(client)) == before
    for role in allowed:
        answer = call(client, method, url, body, headers=auth(role, "ninghe-hrss"))
        assert answer.status_code not in (401, 403), (role, answer.text)


def test_a_handler_reads_only_their_own_departments_inbox(service):
    client, _ = service
    other = client.get("/v1/departments/ninghe-civil/inbox", headers=auth("handler", "ninghe-hrss"))
    assert other.status_code == 403
    assert other.json()["detail"] == "a handler reads their own department's inbox"
    audited = client.get("/v1/departments/ninghe-civil/inbox", headers=auth("auditor"))
    assert audited.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "fields"),
    [
        ("POST", CASE + "/objection", {"reason": "x"}, {"reason"}),
        ("POST", CASE + "/objection", {"reason": "not ours", "urgent": True}, {"urgent"}),
        (
            "POST",
            CASE + "/objection-review",
            {"department": "ninghe-hrss", "outcome": "shrug", "reason": "ok"},
            {"outcome"},
        ),
        ("POST", CASE + "/dispatch", {"co_handlers": [], "reason": "r"}, {"lead", "reason"}),
        ("POST", CASE + "/escalation", {}, {"reason"}),
        (
            "POST",
            CASE + "/joint-meetings",
            {"chair": "c", "departments": ["ninghe-hrss"], "minutes": "m", "decisions": []},
            {"departments", "decisions"},
        ),
        ("POST", CASE + "/leader", {"note": ""}, {"note"}),
        ("POST", CASE + "/recusal", {"reason": ""}, {"reason"}),
        ("POST", CASE + "/parts", {"summary": ""}, {"summary"}),
        ("PUT", "/v1/places/dongfeng", {"name": "东风", "tier": "planet"}, {"tier"}),
        (
            "PUT",
            "/v1/departments/d1",
            {"name": "某局", "place": "", "stationing": "sometimes"},
            {"place", "stationing"},
        ),
        (
            "PUT",
            "/v1/windows/W09",
            {"departments": ["ninghe-hrss", "ninghe-eco", "ninghe-edu"], "lines": []},
            {"departments", "lines"},
        ),
        (
            "PUT",
            "/v1/territory",
            {"places": [{"code": "x", "name": "某地", "tier": "community", "colour": "red"}]},
            {"places.0.colour"},
        ),
        (
            "POST",
            "/v1/dispatch-rules",
            {"note": "n", "rules": [{**CATALOGUE["rules"][0], "colour": "red"}]},
            {"rules.0.colour"},
        ),
        ("GET", "/v1/departments/ninghe-hrss/inbox?state=lost&limit=0", None, {"state", "limit"}),
        ("GET", "/v1/dispatch-rules?version=latest", None, {"version"}),
        ("GET", "/v1/cases/not-a-uuid/assignment", None, {"case_id"}),
    ],
)
def test_a_bad_request_is_a_422_naming_each_bad_field_and_changes_nothing(
    service, method, path, body, fields
):
    client, application = service
    case_id = register(application)
    before = (application.get_assignment(case_id).version, everything(client))

    # by a caller who may call it: a caller who may not is refused before the body is read
    allowed = next(
        (roles for m, p, _, roles in ENDPOINTS if m == method and p == path.split("?")[0]),
        ("admin",),
    )
    who = auth(allowed[0], "ninghe-hrss")
    answer = call(client, method, path.format(case=case_id), body, headers=who)

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert {e["field"] for e in answer.json()["errors"]} == fields
    assert (application.get_assignment(case_id).version, everything(client)) == before


def test_a_request_the_rules_refuse_is_a_422_naming_the_field_and_changes_nothing(service):
    client, application = service
    case_id = register(application)
    path = f"/v1/cases/{case_id}/assignment"
    supervisor = auth("supervisor")
    before = (application.get_assignment(case_id).version, everything(client))
    refusals = [
        (
            path + "/objection-review",
            {"department": "ninghe-hrss", "outcome": "overrule", "reason": "no objection yet"},
            supervisor,
            "department",
        ),
        (
            path + "/dispatch",
            {"lead": "ninghe-civil", "co_handlers": ["ninghe-civil"], "reason": "twice"},
            supervisor,
            "co_handlers",
        ),
        (path + "/dispatch", {"lead": "no-such-unit", "reason": "typo"}, supervisor, "lead"),
        (
            path + "/dispatch",
            {"lead": "ninghe-civil", "co_handlers": ["no-such-unit"], "reason": "typo"},
            supervisor,
            "co_handlers.0",
        ),
        (
            path + "/joint-meetings",
            {**MEETING, "departments": ["ninghe-hrss", "no-such-unit"]},
            supervisor,
            "departments.1",
        ),
        (path + "/joint-meetings", MEETING, supervisor, "level"),
        (
            "/v1/dispatch-rules",
            {"note": "typo", "rules": [{**CATALOGUE["rules"][0], "lead": "no-such-unit"}]},
            auth("admin"),
            "rules.0.lead",
        ),
    ]
    for url, body, headers, field in refusals:
        answer = client.post(url, json=body, headers=headers)
        assert answer.status_code == 422, (url, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in answer.json()["errors"]] == [field], answer.text
    assert (application.get_assignment(case_id).version, everything(client)) == before


def test_an_unknown_case_is_a_404_and_an_unknown_departments_inbox_names_the_department(service):
    client, _ = service
    missing = client.get(f"/v1/cases/{uuid4()}/assignment", headers=auth("clerk"))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    unknown = client.get("/v1/departments/nowhere/inbox", headers=auth("supervisor"))
    assert unknown.status_code == 422
    assert [e["field"] for e in unknown.json()["errors"]] == ["department"]
