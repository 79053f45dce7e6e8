"""The console in real Chromium, on the three services and the console as real processes:
what each person at the centre does in a browser, and what the petitioner sees on a phone.

One stack and one browser for the module (starting them is most of the time); each test
signs in as the person it is about. Every wait is on a condition the person would see."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from shared.auth import issue_token
from shared.clock import set_offset
from shared.settings import SERVICES, Settings
from tests.conftest import fresh
from tests.e2e.browser import chromium, find, shows, sign_in, until_shown, until_text, wait
from tests.e2e.conftest import Stack, wait_for
from tests.territory import SEED

pytestmark = pytest.mark.e2e

ID_NUMBER = "120117198503150016"
LEAD = "ninghe-hrss"


@pytest.fixture(scope="module")
def stack(infra: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = Stack(fresh(infra), tmp_path_factory.mktemp("console"))
    try:
        for service in (*SERVICES, "console"):
            started.start(service)
        started.cli("territory", "import", str(SEED))
        yield started
    finally:
        started.stop_all()


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(autouse=True)
def _keep_the_page_of_a_failure(
    request: pytest.FixtureRequest, browser: WebDriver, tmp_path: Path
) -> Iterator[None]:
    yield
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        browser.save_screenshot(str(tmp_path / "failure.png"))
        (tmp_path / "failure.html").write_text(browser.page_source)
        print(f"the page at the failure: {tmp_path}/failure.png and .html ({browser.current_url})")


def token(stack: Stack, role: str, department: str | None = None, user: str = "alice") -> str:
    return issue_token(stack.settings, user, role, department)


def api(stack: Stack, service: str, method: str, path: str, who: str, **kw: Any) -> httpx.Response:
    return httpx.request(
        method,
        f"{stack.url(service)}{path}",
        headers={"Authorization": f"Bearer {who}"},
        timeout=15,
        **kw,
    )


def register(stack: Stack, subject: str, person: dict[str, str] | None = None) -> dict[str, Any]:
    body = {
        "channel": "visit",
        "petitioner": person or {"name": "赵六", "phone": "13912340001"},
        "duplicate_decision": {"action": "new", "reason": "another matter"},
        "subject": subject,
        "description": "工地停工后工资未结清",
        "category": "labour-wages",
        "location": {"place": "jinxiu"},
    }
    answer = api(stack, "intake", "POST", "/v1/cases", token(stack, "clerk"), json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def assigned(stack: Stack, case_id: str) -> dict[str, Any]:
    """Waits until routing has assigned the case and follow-up has its clocks."""
    who = token(stack, "supervisor")

    def ready() -> dict[str, Any] | None:
        case = api(stack, "followup", "GET", f"/v1/cases/{case_id}", who)
        if case.status_code == 200 and case.json()["lead"] and case.json()["deadlines"]:
            return dict(case.json())
        return None

    found: dict[str, Any] = wait_for(ready, f"case {case_id} assigned with its clocks", 60)
    return found


def keys(browser: WebDriver, *typed: str) -> None:
    """Types as a person does, into whatever has the focus."""
    ActionChains(browser).send_keys(*typed).perform()


def test_the_clerk_calls_a_ticket_registers_with_keys_only_and_links_a_duplicate(stack, browser):
    console = stack.url("console")
    sign_in(browser, console, token(stack, "clerk", "window-2"), "/window?window=W02")
    find(browser, '[data-test="take-ticket"]').click()  # the kiosk issues B… for the visitor
    until_shown(browser, "已取号")

    keys(browser, Keys.F2)  # the shortcut for "call next"
    serving = wait(
        browser,
        lambda d: d.find_element(By.CSS_SELECTOR, '[data-test="serving"]').text,
        "a ticket called",
    )
    assert serving.startswith("A") or serving.startswith("B")
    find(browser, '[data-test="register-visitor"]').click()
    wait(
        browser,
        lambda d: d.switch_to.active_element.get_attribute("name") == "petitioner.name",
        "the name field focused",
    )

    places = api(stack, "intake", "GET", "/v1/places", token(stack, "clerk")).json()
    jinxiu = [p["code"] for p in sorted(places, key=lambda p: p["label"])].index("jinxiu") + 1
    # name, a wrong ID-card number, phone, address; subject, description; category; place
    keys(browser, "王建国", Keys.TAB, "120117198503150017", Keys.TAB, "13800138000", Keys.TAB)
    keys(browser, "芦台街道锦绣社区3号楼", Keys.TAB, "装修公司拖欠工资三个月", Keys.TAB)
    keys(browser, "8至10月工资共1.8万元未发放", Keys.TAB, Keys.ARROW_DOWN, Keys.TAB)
    keys(browser, *[Keys.ARROW_DOWN] * jinxiu, Keys.TAB, Keys.TAB, Keys.TAB, Keys.ENTER)

    # intake's 422 names the field; the page shows it beside that very input
    error = wait(
        browser,
        lambda d: d.find_element(By.CSS_SELECTOR, '[data-error-for="petitioner.id_number"]').text,
        "the ID-number error shown in place",
    )
    assert error
    assert browser.current_url.endswith("/register") or "/register?" in browser.current_url
    box = browser.find_element(By.ID, "f-petitioner.id_number")
    assert box.get_attribute("aria-invalid") == "true"
    box.send_keys(Keys.BACK_SPACE, "6", Keys.ENTER)  # corrected; Enter registers

    code = wait(
        browser,
        lambda d: d.find_element(By.CSS_SELECTOR, '[data-test="case-code"]').text,
        "the slip",
    )
    assert len(code) == 14 and code.count("-") == 2
    assert find(browser, '[data-test="qr"] svg')
    first_case = browser.current_url.split("/cases/")[1].split("/")[0]

    # the same petitioner again: the dialog offers the earlier case; the clerk links to it
    browser.get(f"{console}/register")
    find(browser, "#f-petitioner\\.name")
    keys(browser, "王建国", Keys.TAB, ID_NUMBER, Keys.TAB, "13800138000", Keys.TAB, Keys.TAB)
    keys(browser, "工资仍未发放", Keys.TAB)
    keys(browser, "再次来访反映", Keys.TAB, Keys.ARROW_DOWN, Keys.TAB, *[Keys.ARROW_DOWN] * jinxiu)
    keys(browser, Keys.ENTER)
    dialog = wait(
        browser,
        lambda d: (
            d.find_element(By.ID, "duplicates").is_displayed()
            and d.find_element(By.ID, "duplicates")
        ),
        "the duplicate dialog",
    )
    assert first_case[:8] in dialog.text and "同一信访人" in dialog.text
    dialog.find_element(By.CSS_SELECTOR, f'[data-link="{first_case}"]').click()
    outcome = find(browser, '[data-test="outcome"]').text
    assert "关联" in outcome and first_case in browser.current_url
    case = api(stack, "intake", "GET", f"/v1/cases/{first_case}", token(stack, "clerk")).json()
    assert case["repeat_count"] == 1


def test_a_handler_accepts_one_case_and_objects_to_another_in_the_inbox(stack, browser):
    one, two = register(stack, "拖欠工资（签收）"), register(stack, "拖欠工资（异议）")
    assigned(stack, one["case_id"]), assigned(stack, two["case_id"])
    sign_in(browser, stack.url("console"), token(stack, "handler", LEAD, user="li"), "/inbox")
    until_shown(browser, "拖欠工资（异议）", reload=True)
    row = find(browser, f'tr[data-case="{one["case_id"]}"]')
    assert "R-01" in row.text and "剩余" in row.text  # the rule that sent it; time to object
    row.find_element(By.CSS_SELECTOR, '[data-test="accept"]').click()
    until_text(browser, '[data-test="done"]', "已签收")

    row = find(browser, f'tr[data-case="{two["case_id"]}"]')
    row.find_element(By.CSS_SELECTOR, '[data-test="object-open"]').click()
    reason = row.find_element(By.CSS_SELECTOR, '[data-test="object-reason"]')
    reason.send_keys("该企业为区属国有农场，应由区国资委处理")
    row.find_element(By.CSS_SELECTOR, 'button[data-test="object"]').click()
    until_text(browser, '[data-test="done"]', "已提出异议")

    handler = token(stack, "handler", LEAD, user="li")
    states = {
        case["case_id"]: api(
            stack, "routing", "GET", f"/v1/cases/{case['case_id']}/assignment", handler
        ).json()["departments"][0]["state"]
        for case in (one, two)
    }
    assert states == {one["case_id"]: "accepted", two["case_id"]: "objected"}


def test_the_ledger_shows_a_case_overdue_once_the_drill_clock_moved(stack, browser):
    case = register(stack, "工资拖欠（超期）")
    assigned(stack, case["case_id"])
    sign_in(browser, stack.url("console"), token(stack, "supervisor", user="zhou"), "/ledger")
    assert not shows(browser, "工资拖欠（超期）")
    set_offset(stack.clock_file, timedelta(days=2))  # the 1-day handling plan is now late
    until_shown(browser, "工资拖欠（超期）", reload=True)
    row = find(browser, f'tr[data-case="{case["case_id"]}"]')
    assert "已超期" in row.text and "办理方案" in row.text
    assert "row-overdue" in (row.get_attribute("class") or "")


def test_the_auditor_reads_a_verified_timeline_and_the_case_as_it_stood(stack, browser):
    case = register(stack, "时间线", {"name": "钱七", "phone": "13912340002"})
    assigned(stack, case["case_id"])
    auditor = token(stack, "auditor", user="carol")
    sign_in(browser, stack.url("console"), auditor, f"/cases/{case['case_id']}/timeline")
    integrity = find(browser, '[data-test="integrity"]')
    assert "哈希链校验通过" in integrity.text
    events = browser.find_elements(By.CSS_SELECTOR, '[data-test="timeline"] > li')
    assert len(events) >= 3 and "登记" in events[0].text and "alice" in events[0].text
    assert "起因" in events[1].text

    slider = find(browser, '[data-test="slider"]')
    # back to the first event, by keyboard: the slider's change sends the form itself (the
    # button is for a browser without scripts); clicking it too raced with that navigation
    slider.send_keys(Keys.HOME)
    wait(
        browser, lambda d: d.find_elements(By.CSS_SELECTOR, '[data-test="as-of"]'), "the as-of view"
    )
    assert len(browser.find_elements(By.CSS_SELECTOR, '[data-test="timeline"] > li')) == 1
    assert find(browser, '[data-test="status-then"]').text == "已登记"

    # the auditor is not entitled to personal data: the case page shows it masked
    browser.get(f"{stack.url('console')}/cases/{case['case_id']}")
    name = find(browser, '[data-test="petitioner-name"]').text
    assert name.startswith("钱*") and "钱七" not in name and "已脱敏" in name
    assert "139****0002" in find(browser, '[data-test="petitioner-phone"]').text
    assert not shows(browser, "13912340002")
    # the clerk who needs to know sees it whole
    sign_in(
        browser,
        stack.url("console"),
        token(stack, "clerk", "window-2"),
        f"/cases/{case['case_id']}",
    )
    assert "钱七" in find(browser, '[data-test="petitioner-name"]').text


def test_the_petitioner_looks_up_the_answer_on_a_phone_and_rates_it(stack, browser):
    case = register(stack, "工资何时发放", {"name": "孙八", "phone": "13912340003"})
    assigned(stack, case["case_id"])
    handler = token(stack, "handler", LEAD, user="li")
    for path, body in (
        ("/assignment/accept", None),
        (
            "/outcome",
            {"form": "opinion", "opinion": "support", "summary": "企业已于11月28日补发工资"},
        ),
    ):
        service = "routing" if path.startswith("/assignment") else "followup"
        done = api(
            stack, service, "POST", f"/v1/cases/{case['case_id']}{path}", handler, json=body or {}
        )
        assert done.status_code == 200, done.text
    browser.delete_all_cookies()
    browser.set_window_size(390, 844)  # a phone
    try:
        browser.get(f"{stack.url('console')}/p")
        find(browser, "#f-code").send_keys("AAAA-BBBB-CCCC", Keys.ENTER)
        assert "查询码有误" in find(browser, '[data-test="problem"]').text

        browser.get(f"{stack.url('console')}/p?code={case['case_code']}")  # the QR code's link
        until_shown(browser, "企业已于11月28日补发工资")
        assert find(browser, '[data-test="public-status"]').text == "已办结"
        find(browser, '[data-test="rate-satisfied"]').click()
        find(browser, 'button[data-test="rate"]').click()
        assert "感谢您的评价" in find(browser, '[data-test="rated"]').text
        width = browser.execute_script("return document.documentElement.scrollWidth")
        assert width <= 390  # nothing wider than the phone
    finally:
        browser.set_window_size(1400, 1000)
    rated = api(stack, "followup", "GET", f"/v1/cases/{case['case_id']}", handler).json()
    assert rated["ratings"][-1]["satisfaction"] == "satisfied"


def test_a_form_posted_from_elsewhere_is_refused(stack):
    signed = {"onestop_session": token(stack, "clerk")}
    answer = httpx.post(
        f"{stack.url('console')}/window/call",
        data={"window": "W02"},
        cookies=signed,
        timeout=10,
    )
    assert answer.status_code == 403 and "csrf" in answer.text
