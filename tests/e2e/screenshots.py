"""`make screenshots`: the console's main views as PNG files under docs/screenshots/, taken by
real Chromium (with Noto CJK, so the Chinese renders) on a stack of its own — the same
fresh database, topics and ports the tests use — filled with a few realistic cases.

    .venv/bin/python -m tests.e2e.screenshots
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from shared.auth import issue_token
from shared.clock import set_offset
from shared.settings import SERVICES, Settings
from tests.conftest import fresh, test_settings
from tests.e2e.browser import chromium, find, sign_in, until_shown
from tests.e2e.conftest import Stack, wait_for
from tests.territory import SEED

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
LEAD = "ninghe-hrss"

PEOPLE = [
    (
        "王建国",
        "120117198503150016",
        "13800138000",
        "装修公司拖欠工资三个月",
        "labour-wages",
        "jinxiu",
    ),
    ("李秀英", None, "13920001111", "小区电梯停运两个月无人维修", "property-management", "jinxiu"),
    ("张伟", None, "13820002222", "夜间施工噪音扰民", "urban-management", "jinxiu"),
    ("刘芳", None, "13720003333", "养老保险待遇核定有误", "social-security", "jinxiu"),
    ("陈磊", None, "13620004444", "工地欠薪，包工头失联", "labour-wages", "jinxiu"),
]


class Demo:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def token(self, role: str, department: str | None = None, user: str = "alice") -> str:
        return issue_token(self.stack.settings, user, role, department)

    def call(self, service: str, method: str, path: str, who: str, body: Any = None) -> Any:
        answer = httpx.request(
            method,
            f"{self.stack.url(service)}{path}",
            json=body,
            headers={"Authorization": f"Bearer {who}"},
            timeout=15,
        )
        assert answer.status_code < 300, (path, answer.text)
        return answer.json() if answer.content else None

    def register(self, name: str, id_number: str | None, phone: str, subject: str, category: str,
                 place: str) -> dict[str, Any]:  # fmt: skip
        person = {"name": name, "phone": phone, "address": "宁河区芦台街道锦绣社区"}
        if id_number:
            person["id_number"] = id_number
        body = {
            "channel": "visit",
            "petitioner": person,
            "subject": subject,
            "description": f"{subject}，多次反映未果，请求协调解决。",
            "category": category,
            "location": {"place": place},
            "duplicate_decision": {"action": "new", "reason": "不同事项"},
        }
        found: dict[str, Any] = self.call("intake", "POST", "/v1/cases", self.token("clerk"), body)
        return found

    def assigned(self, case_id: str) -> dict[str, Any]:
        who = self.token("supervisor")

        def ready() -> Any:
            case = httpx.get(
                f"{self.stack.url('followup')}/v1/cases/{case_id}",
                headers={"Authorization": f"Bearer {who}"},
                timeout=10,
            )
            return case.json() if case.status_code == 200 and case.json()["deadlines"] else None

        found: dict[str, Any] = wait_for(ready, f"case {case_id} scheduled", 60)
        return found


def shoot(driver: WebDriver, name: str, width: int = 1400) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(max(int(height) + 20, 600), 2600))
    driver.execute_script("window.scrollTo(0, 0)")
    find(driver, "main")
    driver.save_screenshot(str(OUT / f"{name}.png"))
    print(f"docs/screenshots/{name}.png")


def main() -> None:
    settings: Settings = test_settings()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as logs:
        stack = Stack(fresh(settings), Path(logs))
        driver = chromium()
        try:
            for service in (*SERVICES, "console"):
                stack.start(service)
            stack.cli("territory", "import", str(SEED))
            views(Demo(stack), driver)
        finally:
            driver.quit()
            stack.stop_all()


def views(demo: Demo, driver: WebDriver) -> None:
    console = demo.stack.url("console")
    cases = [demo.register(*p) for p in PEOPLE]
    for case in cases:
        demo.assigned(case["case_id"])
    first, second = cases[0]["case_id"], cases[4]["case_id"]
    handler = demo.token("handler", LEAD, user="li")
    demo.call("routing", "POST", f"/v1/cases/{first}/assignment/accept", handler)
    for path, body in (
        ("/plan", {"summary": "周二约谈用工企业，核对工资台账"}),
        ("/progress", {"summary": "企业同意于周五前支付一半欠薪"}),
        (
            "/outcome",
            {"form": "opinion", "opinion": "support", "summary": "企业已于11月28日补发工资1.8万元"},
        ),
    ):
        demo.call("followup", "POST", f"/v1/cases/{first}{path}", handler, body)
    supervisor = demo.token("supervisor", user="zhou")
    demo.call(
        "routing",
        "POST",
        f"/v1/cases/{second}/assignment/escalation",
        supervisor,
        {"reason": "涉及多个部门，需联席会商"},
    )
    demo.call(
        "routing",
        "POST",
        f"/v1/cases/{second}/assignment/escalation",
        supervisor,
        {"reason": "联席会议后仍未化解"},
    )
    demo.call(
        "routing",
        "POST",
        f"/v1/cases/{second}/assignment/leader",
        demo.token("leader", user="lin"),
        {"note": "本周一约见信访人"},
    )

    # the window: a visitor is being served
    sign_in(driver, console, demo.token("clerk", "window-2"), "/window?window=W02")
    for _ in range(3):
        find(driver, '[data-test="take-ticket"]').click()
        until_shown(driver, "已取号")
    find(driver, '[data-test="call-next"]').click()
    find(driver, '[data-test="serving"]')
    shoot(driver, "window")

    driver.get(f"{console}/register")
    fill = {"petitioner.name": "王建国", "petitioner.id_number": "120117198503150016",
            "petitioner.phone": "13800138000", "subject": "工资仍未全部发放",
            "description": "企业只补发了一半，余款至今未付。"}  # fmt: skip
    for name, value in fill.items():
        driver.find_element(By.ID, f"f-{name}").send_keys(value)
    driver.execute_script(
        "document.getElementById('f-category').value='labour-wages';"
        "document.getElementById('f-location.place').value='jinxiu';"
    )
    find(driver, '[data-test="register"]').click()
    find(driver, "#duplicates[open]")
    shoot(driver, "register-duplicates")

    driver.get(f"{console}/cases/{first}/slip")
    find(driver, '[data-test="case-code"]')
    shoot(driver, "slip", 1100)

    sign_in(driver, console, handler, "/inbox")
    until_shown(driver, "工地欠薪", reload=True)
    shoot(driver, "inbox")
    driver.get(f"{console}/cases/{first}")
    find(driver, '[data-test="deadlines"]')
    shoot(driver, "case")

    set_offset(demo.stack.clock_file, timedelta(days=2, hours=3))
    sign_in(driver, console, supervisor, "/ledger")
    until_shown(driver, "小区电梯停运两个月无人维修", reload=True)
    shoot(driver, "ledger")

    sign_in(driver, console, demo.token("leader", user="lin"), "/mine")
    until_shown(driver, "工地欠薪", reload=True)
    shoot(driver, "leader")

    sign_in(driver, console, demo.token("auditor", user="carol"), f"/cases/{first}/timeline")
    find(driver, '[data-test="integrity"]')
    shoot(driver, "timeline")
    driver.get(f"{console}/statistics")
    find(driver, '[data-test="statistics"]')
    shoot(driver, "statistics")

    driver.delete_all_cookies()
    driver.set_window_size(390, 844)
    driver.get(f"{console}/p?code={cases[0]['case_code']}")
    find(driver, '[data-test="public-case"]')
    shoot(driver, "petitioner", 390)


if __name__ == "__main__":
    main()
