"""The console in the role × route matrix: every page and form of the console, for every
role, against the three services running in-process — refused exactly where the one policy
says, never a 5xx — and personal data in its pages exactly as the APIs show it (masked for
those not entitled). Also: every word the pages use has its Chinese, forms need their CSRF
token, and hostile text in a form is a 4xx naming the field."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

from services.console.app import create_app
from services.console.signin import CSRF_COOKIE, SESSION_COOKIE
from services.console.strings import ZH_CN, Strings
from shared.auth import CALLER_ROLES, issue_token
from shared.policy import CONSOLE_USES, PERMISSIONS, public
from tests.unit.test_policy_matrix import LEAD, SETTINGS, Centre, centre  # noqa: F401

TEMPLATES = Path(__file__).resolve().parents[2] / "services" / "console" / "templates"
BROWSER_SECRET = "b" * 43


@pytest.fixture
def console(centre: Centre) -> Iterator[TestClient]:  # noqa: F811
    transports = {
        name: httpx.ASGITransport(app=client.app) for name, client in centre.clients.items()
    }
    with TestClient(create_app(SETTINGS, transports=transports)) as client:
        yield client


def signed_in(client: TestClient, role: str, department: str | None = None, user: str = "u"):
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, issue_token(SETTINGS, user, role, department))
    client.cookies.set(CSRF_COOKIE, BROWSER_SECRET)
    return client


def csrf(client: TestClient) -> str:
    """The token a page of ours puts in its forms for this browser."""
    page = client.get("/signin")
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found, page.text
    return found[1]


def routes(client: TestClient) -> list[tuple[str, str, str]]:
    return [
        (method, route.path, route.name)
        for route in client.app.routes
        if isinstance(route, Route)
        for method in sorted(route.methods or ())
        if method != "HEAD"
    ]


def test_every_page_of_the_console_is_in_the_one_policy(console):
    missing = [
        (m, path, name)
        for m, path, name in routes(console)
        if f"console.{name}" not in PERMISSIONS and not public("console", name)
    ]
    assert missing == [], "name these pages in shared/policy.py CONSOLE_USES"
    assert {f"console.{name}" for name in CONSOLE_USES} <= set(PERMISSIONS)


def test_a_page_is_for_no_role_the_services_would_refuse_what_it_calls():
    for page, uses in CONSOLE_USES.items():
        for operation in uses:
            assert PERMISSIONS[f"console.{page}"] <= PERMISSIONS[operation], (page, operation)


def test_each_role_gets_exactly_what_the_policy_says_on_every_page(console, centre):  # noqa: F811
    for method, path, name in routes(console):
        if public("console", name):
            continue
        url = re.sub(
            r"\{(\w+)\}",
            lambda m: {"case_id": centre.case_id, "petitioner_id": centre.petitioner_id}.get(
                m[1], "A001"
            ),
            path,
        )
        for role in (r for r in CALLER_ROLES if r != "integration"):
            client = signed_in(console, role, LEAD if role == "handler" else None)
            data = {"csrf": csrf(client)} if method == "POST" else None
            answer = client.request(method, url, data=data, follow_redirects=False)
            refused = answer.status_code == 403 and "may not do this" in answer.text
            allowed = role in PERMISSIONS[f"console.{name}"]
            assert refused == (not allowed), (method, path, role, answer.status_code)
            assert answer.status_code < 500, (method, path, role, answer.text[-800:])


def test_nobody_signed_in_is_sent_to_sign_in_and_back(console):
    console.cookies.clear()
    answer = console.get("/ledger?state=overdue", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=%2Fledger%3Fstate%3Doverdue"


def test_signing_in_keeps_the_token_in_an_http_only_strict_cookie(console):
    console.cookies.clear()
    token = csrf(console)
    answer = console.post(
        "/signin",
        data={"csrf": token, "token": issue_token(SETTINGS, "bo", "clerk"), "next": "//evil"},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    refused = console.post("/signin", data={"csrf": token, "token": "nonsense"})
    assert refused.status_code == 422 and 'data-error-for="token"' in refused.text


def test_a_form_without_this_browsers_csrf_token_is_refused(console):
    signed_in(console, "handler", LEAD)
    answer = console.post("/window/call", data={"window": "W02", "csrf": "0" * 64})
    assert answer.status_code == 403 and "csrf" in answer.text


def test_hostile_text_in_a_form_is_refused_naming_the_field(console):
    client = signed_in(console, "clerk")
    answer = client.post("/register", data={"csrf": csrf(client), "subject": "工资\x00拖欠"})
    assert answer.status_code == 422 and "subject" in answer.text


def test_personal_data_in_the_page_is_as_the_api_shows_it_to_the_role(console, centre):  # noqa: F811
    page = f"/cases/{centre.case_id}"
    for role, department, masked in (
        ("clerk", None, False),
        ("handler", LEAD, False),
        ("auditor", None, True),
        ("handler", "ninghe-edu", True),
    ):
        shown = signed_in(console, role, department).get(page)
        assert shown.status_code == 200, shown.text
        assert ("王建国" in shown.text) is not masked, role
        assert ("13800138000" in shown.text) is not masked, role
        assert ('data-test="masked"' in shown.text) is masked, role
    auditor = signed_in(console, "auditor").get(page)
    assert "王**" in auditor.text and "138****8000" in auditor.text


def test_every_word_the_pages_use_has_its_chinese():
    used: set[str] = set()
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        for found in re.findall(r"""(?<![\w.])t\(\s*(?:"([^"]+)"|'([^']+)')""", text):
            used.add(found[0] or found[1])
    missing = sorted(u for u in used if u not in ZH_CN and not u.endswith(":"))
    assert missing == []
    zh = Strings("zh-CN")
    assert zh.t("status:assigned") == "已交办" and zh.t("status:brand-new") == "brand-new"
    assert Strings("en").t("Call next") == "Call next"


def test_what_the_console_reads_from_the_services(centre):  # noqa: F811
    """The APIs added for the console: the cases a leader holds, the ledger by place, and
    the case code for those who see the petitioner."""
    routing, followup, intake = (centre.clients[s] for s in ("routing", "followup", "intake"))
    path = f"/v1/cases/{centre.case_id}/assignment"
    supervisor = {"Authorization": f"Bearer {issue_token(SETTINGS, 'zhou', 'supervisor')}"}
    for reason in ("多部门会商", "会商未果"):
        assert routing.post(
            f"{path}/escalation", json={"reason": reason}, headers=supervisor
        ).is_success
    lin = {"Authorization": f"Bearer {issue_token(SETTINGS, 'lin', 'leader')}"}
    assert routing.post(f"{path}/leader", json={"note": "包案"}, headers=lin).is_success
    held = routing.get("/v1/leaders/lin/cases", headers=lin).json()
    assert [c["case_id"] for c in held["cases"]] == [centre.case_id]
    other = {"Authorization": f"Bearer {issue_token(SETTINGS, 'wu', 'leader')}"}
    assert routing.get("/v1/leaders/lin/cases", headers=other).status_code == 403
    inbox = routing.get(f"/v1/departments/{LEAD}/inbox", headers=supervisor).json()
    assert inbox["cases"][0]["rule_id"] == "R-01"

    def listed(place: str) -> set[str]:
        ledger = followup.get(
            "/v1/deadlines", params={"state": "running", "place": place}, headers=supervisor
        )
        return {i["case_id"] for i in ledger.json()["items"]}

    assert centre.case_id in listed("jinxiu") and centre.case_id in listed("ninghe")
    assert centre.case_id not in listed("qiaocheng")
    case = f"/v1/cases/{centre.case_id}"
    assert intake.get(case, headers=supervisor).json()["case_code"]
    auditor = {"Authorization": f"Bearer {issue_token(SETTINGS, 'carol', 'auditor')}"}
    assert intake.get(case, headers=auditor).json()["case_code"] is None


def test_a_count_past_the_cap_reads_as_at_least_that_many():
    """A listing with more matches than it counts (`total_exact` false) shows "10000+" in
    its heading and pager, never a total that looks exact."""
    from services.console.app import templates

    env = templates(Strings("zh-CN")).env
    env.globals["t"] = Strings("zh-CN").t
    page = env.from_string(
        '{% from "_macros.html" import pager %}'
        '<span class="count">{{ total }}{% if more %}+{% endif %}</span>'
        '{{ pager(total, 0, 25, "/ledger?", more) }}'
    )
    capped = page.render(total=10000, more=True)
    assert '<span class="count">10000+</span>' in capped and "共 10000+ 条" in capped
    exact = page.render(total=30, more=False)
    assert '<span class="count">30</span>' in exact and "共 30 条" in exact
