"""End to end: the three services as real processes over HTTP, Kafka and PostgreSQL."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from shared.auth import issue_token
from shared.calendar import CHINA, LOCAL, Period
from shared.clock import set_offset
from shared.settings import Settings
from shared.store import connect
from tests.e2e.conftest import as_user, headers, wait_for

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
FIVE_WORKING_DAYS = Period(5, "working-days")


def register(settings: Settings, i: int, category: str = "labour-wages") -> str:
    body = {
        "channel": ["visit", "letter", "phone", "online"][i % 4],
        "petitioner": {"name": "赵六", "phone": f"1391234{i:04d}"},
        "duplicate_decision": {"action": "new", "reason": "a different site each time"},
        "subject": f"工资拖欠 #{i}",
        "description": "工地停工后工资未结清",
        "category": category,
        "location": {"place": "qiaobei"},
    }
    answer = httpx.post(
        f"{settings.url_of('intake')}/v1/cases", json=body, headers=headers(settings), timeout=10
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["case_id"])


def history(settings: Settings, case_id: str, **params: str) -> dict:
    answer = httpx.get(
        f"{settings.url_of('followup')}/v1/cases/{case_id}/history",
        params=params,
        headers=headers(settings, "auditor"),
        timeout=10,
    )
    return answer.json() if answer.status_code == 200 else {}


def wait_for_history(settings: Settings, case_id: str, events: int, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = history(settings, case_id)
        if len(found.get("events", [])) >= events:
            return found
        time.sleep(0.2)
    pytest.fail(
        f"case {case_id} did not reach {events} history events: {history(settings, case_id)}"
    )


def test_a_registered_case_is_assigned_and_scheduled_and_its_history_tells_the_story(stack):
    settings = stack.settings
    case_id = register(settings, 1)
    found = wait_for_history(settings, case_id, 4)

    assert found["integrity"]["verified"] is True
    assert found["case"]["status"] == "assigned"
    assert found["case"]["lead"]["code"] == "ninghe-hrss"
    assert {d["kind"] for d in found["case"]["deadlines"]} == {
        "acceptance-notice",
        "handling-plan",
        "first-report",
        "resolution",
    }
    events = found["events"]
    kinds = [(e["service"], e["type"].split(".")[3]) for e in events]
    assert kinds[0] == ("intake", "registered")
    assert sorted(kinds[1:]) == [
        ("followup", "scheduled"),
        ("followup", "scheduled"),
        ("routing", "assigned"),
    ]
    assert events[0]["actor"] == {"user": "alice", "role": "clerk", "department": "window-1"}
    assigned = events[kinds.index(("routing", "assigned"))]
    assert assigned["causation_id"] == events[0]["event_id"]
    position = {e["event_id"]: i for i, e in enumerate(events)}
    assert all(position[e["causation_id"]] < i for i, e in enumerate(events[1:], 1))
    assert len({e["correlation_id"] for e in events}) == 1

    # as it stood just after registration: registered, not yet assigned
    then = history(settings, case_id, as_of=events[0]["time"])
    assert [e["event_id"] for e in then["events"]] == [events[0]["event_id"]]
    assert then["case"]["status"] == "registered"

    cli = stack.cli("history", case_id)
    assert "hash chain verified" in cli.stdout
    assert "宁河区人力资源和社会保障局" in cli.stdout and "caused by #1" in cli.stdout


def test_a_case_no_rule_covers_is_queued_for_manual_dispatch(stack):
    case_id = register(stack.settings, 2, category="other")
    found = wait_for_history(stack.settings, case_id, 3)
    assert found["case"]["status"] == "awaiting-manual-dispatch"
    assert "no dispatch rule" in found["case"]["manual_dispatch_reason"]


def test_killing_routing_mid_flow_loses_nothing_and_does_nothing_twice(stack):
    settings = stack.settings
    first = [register(settings, i) for i in range(10)]
    stack.kill("routing")
    second = [register(settings, i) for i in range(10, 20)]  # piles up while routing is down
    stack.start("routing")
    stack.kill("followup")
    third = [register(settings, i) for i in range(20, 25)]
    stack.start("followup")

    for case_id in first + second + third:
        found = wait_for_history(settings, case_id, 4)
        kinds = [e["type"] for e in found["events"]]
        assert kinds.count("onestop.routing.case.assigned.v1") == 1, kinds
        assert found["integrity"]["verified"]
    with connect(settings) as conn:
        [(assignments,)] = conn.execute(
            "SELECT count(DISTINCT originator_id) - count(*) FROM routing.routing_events "
            "WHERE topic LIKE '%:Assignment.%'"
        ).fetchall()
        [(cases,)] = conn.execute(
            "SELECT count(DISTINCT originator_id) FROM routing.routing_events "
            "WHERE topic LIKE '%:Assignment.%'"
        ).fetchall()
    assert (cases, assignments) == (25, 0)  # one event per case, none doubled


def test_intake_from_door_to_decision_open311_and_a_refused_final_repeat(stack):
    settings = stack.settings
    intake = settings.url_of("intake")
    clerk = headers(settings)
    body = {
        "channel": "visit",
        "petitioner": {
            "name": "孙丽",
            "id_number": "120117199007080025",
            "phone": "13900002222",
            "address": "宁河区芦台街道裕和社区",
        },
        "subject": "装修公司拖欠工资",
        "description": "在装修公司务工四个月，工资1.2万元未发。",
        "category": "labour-wages",
        "location": {"place": "yuhe"},
    }
    first = httpx.post(f"{intake}/v1/cases", json=body, headers=clerk, timeout=10)
    assert first.status_code == 201, first.text
    case_id = first.json()["case_id"]

    # routing's assignment comes back to intake as the progress the petitioner is told
    seen = wait_for(
        lambda: (
            (c := httpx.get(f"{intake}/v1/cases/{case_id}", headers=clerk, timeout=10).json())[
                "status"
            ]
            == "assigned"
            and c
        ),
        "intake hearing of the assignment",
    )
    assert seen["progress"]["summary"].startswith("宁河区人力资源和社会保障局")

    # classification and acceptance; follow-up sees the 15-day notice obligation met
    httpx.post(
        f"{intake}/v1/cases/{case_id}/classification",
        json={"legal_class": "claim"},
        headers=clerk,
        timeout=10,
    ).raise_for_status()
    accepted = httpx.post(
        f"{intake}/v1/cases/{case_id}/acceptance",
        json={"decision": "accept"},
        headers=clerk,
        timeout=10,
    )
    assert accepted.json()["acceptance"]["notice_required"] is True
    found = wait_for_history(settings, case_id, 6)
    [notice] = [d for d in found["case"]["deadlines"] if d["kind"] == "acceptance-notice"]
    assert notice["state"] == "met"

    # a city app files through Open311 with a key from the CLI and reads it back as XML
    created = stack.cli("api-key", "create", "--name", "city-app")
    key = created.stdout.strip()
    form = {
        "api_key": key,
        "service_code": "environment",
        "attribute[jurisdiction]": "ninghe/fengtai/dongxin",
        "description": "河道有异味",
    }
    filed = httpx.post(f"{intake}/open311/v2/requests.json", data=form, timeout=10)
    assert filed.status_code == 201, filed.text
    request_id = filed.json()[0]["service_request_id"]
    xml = httpx.get(f"{intake}/open311/v2/requests/{request_id}.xml", timeout=10)
    assert b"<service_code>environment</service_code>" in xml.content
    stack.cli("api-key", "revoke", "city-app")
    again = httpx.post(f"{intake}/open311/v2/requests.json", data=form, timeout=10)
    assert again.status_code == 403

    # answered, reviewed and re-reviewed through follow-up: final; the repeat is refused
    case_url = f"{settings.url_of('followup')}/v1/cases/{case_id}"
    lead = httpx.get(case_url, headers=clerk, timeout=10).json()["lead"]["code"]
    steps = [
        (
            "outcome",
            ("handler", lead),
            {"form": "opinion", "opinion": "not-support", "summary": "经核实，用工关系不成立"},
        ),
        (
            "reviews",
            ("clerk", None),
            {"level": "review", "organ": "宁河区人民政府", "reason": "有微信聊天记录为证"},
        ),
        ("reviews/decision", ("supervisor", None), {"decision": "upheld", "summary": "维持"}),
        (
            "reviews",
            ("clerk", None),
            {"level": "re-review", "organ": "天津市人民政府", "reason": "仍不服"},
        ),
        ("reviews/decision", ("leader", None), {"decision": "upheld", "summary": "复核终结"}),
    ]
    for path, (role, department), payload in steps:
        who = {"Authorization": f"Bearer {issue_token(settings, 'bo', role, department)}"}
        done = httpx.post(f"{case_url}/{path}", json=payload, headers=who, timeout=10)
        assert done.status_code == 200, done.text
    assert done.json()["status"] == "final"
    called = httpx.post(
        f"{case_url}/visits",
        json={
            "kind": "return-call",
            "visited_by": "区信访局 李科长",
            "summary": "仍有情绪，已做疏导",
        },
        headers=as_user(settings, "supervisor"),
        timeout=10,
    )
    assert called.status_code == 200, called.text  # the petitioner is followed after the end
    assert (called.json()["status"], len(called.json()["visits"])) == ("final", 1)
    again = httpx.post(
        f"{case_url}/reviews",
        json={"level": "review", "organ": "宁河区人民政府", "reason": "同样的事实"},
        headers=clerk,
        timeout=10,
    )
    assert again.status_code == 422 and "第三十六条" in again.text
    wait_for(
        lambda: (
            httpx.get(f"{intake}/v1/cases/{case_id}", headers=clerk, timeout=10).json()["status"]
            == "final"
        ),
        "intake hearing the matter is final",
    )
    repeat = httpx.post(f"{intake}/v1/cases", json={**body, "channel": "phone"}, headers=clerk)
    assert repeat.status_code == 409  # put to the clerk, who links it…
    link = {"action": "link", "case_id": case_id}
    refused = httpx.post(
        f"{intake}/v1/cases", json={**body, "duplicate_decision": link}, headers=clerk
    )
    assert refused.json()["outcome"] == "refused"
    assert "第三十六条" in refused.json()["message"]
    person = httpx.get(
        f"{intake}/v1/petitioners", params={"id_number": "120117199007080025"}, headers=clerk
    ).json()
    assert (person["case_ids"], person["repeat_count"]) == ([case_id], 1)


def test_an_objected_case_is_rerouted_then_climbs_to_a_joint_meeting_and_a_leader(stack):
    """Issue 4's story, across the real processes: every hand-off lands in the history, in
    the order it happened, each caused by the one before."""
    settings = stack.settings
    routing = settings.url_of("routing")

    def as_(role: str, department: str | None = None, user: str = "alice") -> dict[str, str]:
        token = issue_token(settings, user, role, department)
        return {"Authorization": f"Bearer {token}"}

    body = {
        "channel": "visit",
        "petitioner": {"name": "钱七", "phone": "13800005555"},
        "subject": "物业公司停水不修",
        "description": "小区停水三天，物业公司不予维修。",
        "category": "property-management",
        "location": {"place": "yuhe"},
    }
    made = httpx.post(
        f"{settings.url_of('intake')}/v1/cases", json=body, headers=headers(settings), timeout=10
    )
    assert made.status_code == 201, made.text
    case_id = made.json()["case_id"]
    assignment = f"{routing}/v1/cases/{case_id}/assignment"

    def act(path: str, who: dict[str, str], payload: dict | None = None) -> dict:
        answer = httpx.post(f"{assignment}/{path}", json=payload, headers=who, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    first = wait_for(
        lambda: (
            (r := httpx.get(assignment, headers=as_("supervisor"), timeout=10)).status_code == 200
            and r.json()
        ),
        "routing assigning the case",
    )
    assert (first["lead"]["code"], first["rule_id"]) == ("lutai-office", "R-05")

    street = as_("handler", "lutai-office", "zhou")
    objected = act("objection", street, {"reason": "停水是供水管网问题，应由区住建委牵头"})
    assert objected["status"] == "objected"
    moved = act(
        "objection-review",
        as_("supervisor", user="sun"),
        {"department": "lutai-office", "outcome": "reroute", "reason": "同意"},
    )
    assert (moved["lead"]["code"], moved["rule_id"]) == ("ninghe-housing", "R-04")
    assert [(t["from"]["code"], t["trigger"]) for t in moved["transfers"]] == [
        ("lutai-office", "objection")
    ]
    assert act("escalation", street, {"reason": "住建委与街道对维修责任仍有争议"})["level"] == (
        "joint-meeting"
    )
    met = act(
        "joint-meetings",
        as_("supervisor", user="sun"),
        {
            "chair": "副区长 张伟",
            "departments": ["ninghe-housing", "lutai-office"],
            "minutes": "双方到现场查看了供水管网。",
            "decisions": ["住建委牵头维修，街道协助通知居民"],
            "lead": "ninghe-housing",
            "co_handlers": ["lutai-office"],
        },
    )
    assert met["lead"]["code"] == "ninghe-housing"
    led = act("leader", as_("leader", user="lin"), {"note": "周一约见信访人"})
    assert (led["level"], led["leader"]["user"]) == ("leader", "lin")

    housing = as_("handler", "ninghe-housing", "wu")
    bound = httpx.post(
        f"{assignment}/objection", json={"reason": "仍不属于本部门"}, headers=housing, timeout=10
    )
    assert bound.status_code == 422 and "binding" in bound.text
    assert act("accept", housing)["status"] == "accepted"

    def routing_story() -> list[dict]:
        events = history(settings, case_id).get("events", [])
        ours = [e for e in events if e["service"] == "routing"]
        return ours if len(ours) >= 8 else []

    story = wait_for(routing_story, "the hand-offs reaching the case history")
    told = [(e["type"].split(".")[3], e["data"]) for e in story]
    lead = [(kind, d["lead"]["code"], d["trigger"]) for kind, d in told if kind == "assigned"]
    assert lead == [
        ("assigned", "lutai-office", "catalogue"),
        ("assigned", "ninghe-housing", "objection"),
        ("assigned", "ninghe-housing", "joint-meeting"),
    ]
    steps = [
        (kind, d.get("answer") or d.get("level") or d.get("chair") or d["lead"]["code"])
        for kind, d in told
    ]
    assert steps == [
        ("assigned", "lutai-office"),
        ("answered", "objected"),
        ("assigned", "ninghe-housing"),
        ("escalated", "joint-meeting"),
        ("joint-meeting-held", "副区长 张伟"),
        ("assigned", "ninghe-housing"),
        ("escalated", "leader"),
        ("answered", "accepted"),
    ]
    assert "passed over R-05" in told[2][1]["reason"]
    who = ["zhou", "sun", "zhou", "sun", "sun", "lin", "wu"]
    assert [e["actor"]["user"] for e in story[1:]] == who
    found = history(settings, case_id)
    assert found["integrity"]["verified"] is True
    times = [e["time"] for e in found["events"]]
    assert times == sorted(times)
    printed = stack.cli("history", case_id).stdout
    assert "hash chain verified" in printed
    lines = [
        "芦台街道办事处 (lead) objected",
        "passed over R-05",
        "escalated to joint-meeting (request)",
        "joint meeting chaired by 副区长 张伟",
        "taken by lin",
        "accepted by wu",
    ]
    assert [printed.index(line) for line in lines] == sorted(printed.index(x) for x in lines)


def test_a_missed_7_day_deadline_escalates_then_unsatisfied_reopens_then_closes_out(stack):
    """Issue 5's story across the real processes, with follow-up's clock moved on: the 7-day
    resolution is missed and escalated, the outcome is found unsatisfying at the return visit,
    reopened, resolved again, rated by the petitioner with the case code, and closed out."""
    settings = stack.settings
    followup = settings.url_of("followup")
    body = {
        "channel": "visit",
        "petitioner": {"name": "周八", "phone": "13700007777"},
        "subject": "建筑工地拖欠工资",
        "description": "工地停工，三个月工资未结。",
        "category": "labour-wages",
        "location": {"place": "qiaobei"},
    }
    made = httpx.post(
        f"{settings.url_of('intake')}/v1/cases", json=body, headers=headers(settings), timeout=10
    )
    assert made.status_code == 201, made.text
    case_id, code = made.json()["case_id"], made.json()["case_code"]
    case_url = f"{followup}/v1/cases/{case_id}"
    auditor = as_user(settings, "auditor")
    lead = as_user(settings, "handler", "ninghe-hrss", "li")

    def case() -> dict:
        return httpx.get(case_url, headers=auditor, timeout=10).json()

    def act(path: str, who: dict[str, str], payload: dict | None = None) -> dict:
        answer = httpx.post(f"{case_url}/{path}", json=payload, headers=who, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    wait_for(lambda: case().get("lead"), "follow-up hearing of the assignment")
    act("plan", lead, {"summary": "约谈施工单位，核对工资表"})
    act("progress", lead, {"summary": "已约谈，单位承诺本周内支付"})

    set_offset(stack.clock_file, timedelta(days=8))  # a week and a day later
    routing_view = f"{settings.url_of('routing')}/v1/cases/{case_id}/assignment"
    wait_for(
        lambda: (
            httpx.get(routing_view, headers=auditor, timeout=10).json()["level"] == "joint-meeting"
        ),
        "routing escalating the overdue case",
    )
    [resolution] = [d for d in case()["deadlines"] if d["kind"] == "resolution"]
    assert resolution["state"] == "overdue"
    assert any(n["automatic"] for n in case()["supervision_notices"])

    act("outcome", lead, {"form": "opinion", "opinion": "support", "summary": "已支付一半工资"})
    looked = httpx.post(f"{followup}/v1/public/lookup", json={"code": code}, timeout=10)
    assert looked.status_code == 200, looked.text
    seen = looked.json()
    assert (seen["status"], seen["can_rate"], seen["department"]) == (
        "resolved",
        True,
        "宁河区人力资源和社会保障局",
    )
    assert "li" not in {str(v) for step in seen["steps"] for v in step.values()}
    wrong = httpx.post(f"{followup}/v1/public/lookup", json={"code": "AAAA-BBBB-CCCC"})
    assert wrong.status_code == 404

    visit = act(
        "return-visit",
        as_user(settings, "clerk"),
        {"satisfaction": "unsatisfied", "notes": "只付了一半"},
    )
    assert (visit["status"], visit["round"]) == ("reopened", 2)
    act("progress", lead, {"summary": "督促支付余款"})
    act("outcome", lead, {"form": "opinion", "opinion": "support", "summary": "余款已付清"})
    rated = httpx.post(
        f"{followup}/v1/public/rating",
        json={"code": code, "satisfaction": "satisfied", "comment": "谢谢"},
        timeout=10,
    )
    assert rated.status_code == 200, rated.text
    closed = act("close-out", as_user(settings, "supervisor", user="zhou"))
    assert closed["status"] == "closed-out"
    at_the_window = f"{settings.url_of('intake')}/v1/cases/{case_id}"
    told = wait_for(
        lambda: (
            (c := httpx.get(at_the_window, headers=headers(settings), timeout=10).json())["status"]
            == "closed"
            and c
        ),
        "intake hearing the case was closed out",
    )
    assert told["progress"]["summary"] == "closed out (return visit: satisfied)"
    set_offset(stack.clock_file, timedelta(days=100))  # months later, the petitioner is visited
    act(
        "visits", as_user(settings, "clerk"), {"visited_by": "芦台街道 王主任", "summary": "已复工"}
    )

    def told() -> list[dict]:
        events = history(settings, case_id).get("events", [])
        done = any(e["type"].endswith("case.visit-recorded.v1") for e in events)
        return events if done else []

    events = wait_for(told, "the whole story reaching the history")

    def step(e: dict) -> str | None:
        kind, data = e["type"].split(".")[3], e["data"]
        if kind == "overdue":
            return f"overdue:{data['deadline']}" if data["escalate"] else None
        if kind == "escalated":
            return f"escalated:{data['trigger']}"
        if kind == "satisfaction-recorded":
            return f"rated:{data['satisfaction']}:{data['source']}"
        if kind in ("outcome-recorded", "reopened", "closed-out"):
            return f"{kind}:{data.get('round', '')}"
        return None

    assert [s for s in map(step, events) if s] == [
        "overdue:resolution",
        "escalated:overdue",
        "outcome-recorded:1",
        "rated:unsatisfied:return-visit",
        "reopened:2",
        "outcome-recorded:2",
        "rated:satisfied:petitioner",
        "closed-out:",
    ]
    printed = stack.cli("history", case_id).stdout
    for sentence in (
        "OVERDUE: resolution",
        "escalated to joint-meeting (overdue)",
        "return-visit: unsatisfied (round 1) — 只付了一半",
        "reopened for round 2",
        "petitioner: satisfied (round 2)",
        "closed out — return visit: satisfied",
        "visit by 芦台街道 王主任 on ",
    ):
        assert sentence in printed, sentence


def test_routing_counts_the_days_to_object_with_the_holidays_published_on_follow_up(stack):
    """An admin publishes the next two weeks as holidays on follow-up; once routing has
    heard it on follow-up's topic, a department receiving a case has 5 working days after
    them to object."""
    settings = stack.settings
    off = {datetime.now(LOCAL).date() + timedelta(days=i) for i in range(1, 15)}
    published = CHINA
    for year in sorted({d.year for d in off}):
        holidays = sorted({d for d in CHINA.holidays | off if d.year == year})
        make_up = sorted(d for d in CHINA.make_up_days if d.year == year and d not in off)
        answer = httpx.put(
            f"{settings.url_of('followup')}/v1/calendar/{year}",
            json={
                "holidays": [str(d) for d in holidays],
                "make_up_days": [str(d) for d in make_up],
            },
            headers=as_user(settings, "admin"),
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
        published = published.with_year(frozenset(holidays), frozenset(make_up), year)
    cases = iter(range(300, 400))

    def assignment(case_id: str) -> dict:
        answer = httpx.get(
            f"{settings.url_of('routing')}/v1/cases/{case_id}/assignment",
            headers=as_user(settings, "supervisor"),
            timeout=10,
        )
        return answer.json() if answer.status_code == 200 else {}

    def window_counted_with_the_holidays() -> bool:
        case_id = register(settings, next(cases))
        found = wait_for(lambda: assignment(case_id), "routing assigning the case")
        [lead] = [d for d in found["departments"] if d["code"] == found["lead"]["code"]]
        since = datetime.fromisoformat(lead["since"])
        due = datetime.fromisoformat(lead["objection_due"])
        before, after = (c.end(since, FIVE_WORKING_DAYS) for c in (CHINA, published))
        assert due in (before, after)  # as built in until routing heard it, then as published
        return due == after

    wait_for(window_counted_with_the_holidays, "routing counting with the published holidays")
