"""A new centre adopts OneStop on its own territory, across the three real processes.

The stack starts as `make up` leaves it (the demo territory imported); a town centre on
Shanghai's grid model then imports its own file, and a case is registered, routed, handled
and closed at a place, category and window that exist only in that file — with statistics
by its tiers. An admin's later change reaches intake, routing, Open311 and the queue
without a restart.
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import as_user, headers, wait_for
from tests.territory import ROOT

pytestmark = pytest.mark.e2e
ZHUANQIAO = ROOT / "deploy" / "territories" / "zhuanqiao-grid.yaml"


def test_a_town_centre_imports_its_territory_and_works_a_case_to_close_out_on_it(stack):
    settings = stack.settings
    intake, routing = settings.url_of("intake"), settings.url_of("routing")
    followup = settings.url_of("followup")
    admin, clerk = as_user(settings, "admin"), headers(settings)

    checked = stack.cli("territory", "import", str(ZHUANQIAO), "--dry-run")
    assert "would change" in checked.stdout
    assert httpx.get(f"{routing}/v1/places/zq", headers=admin).status_code == 404
    imported = stack.cli("territory", "import", str(ZHUANQIAO))
    assert "dispatch catalogue v2 (published now)" in imported.stdout
    again = stack.cli("territory", "import", str(ZHUANQIAO))  # idempotent
    assert "changed 0 entries; dispatch catalogue v2" in again.stdout

    places = {p["code"]: p for p in httpx.get(f"{intake}/v1/places", headers=clerk).json()}
    assert places["zq-yindu-b12"]["path"] == ["zq", "zq-yindu", "zq-yindu-b12"]
    assert places["zq-yindu-b12"]["grid"] == "building-grid"
    assert "jinxiu" in places  # the demo territory is still there
    services = httpx.get(f"{intake}/open311/v2/services.json").json()
    assert "leaking-ceiling" in {s["service_code"] for s in services}
    windows = {w["code"]: w for w in httpx.get(f"{routing}/v1/windows", headers=clerk).json()}
    assert windows["ZQ02"]["departments"] == ["zq-mediators", "zq-justice"]

    body = {
        "channel": "visit",
        "petitioner": {"name": "陈阿姨", "phone": "13917001234"},
        "subject": "楼上卫生间漏水",
        "description": "12号楼602漏水到502，已持续两周",
        "category": "leaking-ceiling",
        "location": {"place": "zq-yindu-b12"},
    }
    made = httpx.post(f"{intake}/v1/cases", json=body, headers=clerk, timeout=10)
    assert made.status_code == 201, made.text
    case_id = made.json()["case_id"]
    shown = httpx.get(f"{intake}/v1/cases/{case_id}", headers=clerk).json()
    assert shown["location"]["label"] == "颛桥镇 银都苑居委会 银都苑12号楼组"

    assignment = f"{routing}/v1/cases/{case_id}/assignment"
    assigned = wait_for(
        lambda: (a := httpx.get(assignment, headers=admin).json()).get("lead") and a,
        "routing assigning the case",
    )
    assert (assigned["rule_id"], assigned["lead"]["code"]) == ("ZQ-01", "zq-yindu-b12-grid")
    assert assigned["handled_at"] == {
        "code": "zq-yindu-b12",
        "name": "银都苑12号楼组",
        "tier": "building-group",
        "grid": "building-grid",
    }

    grid_worker = as_user(settings, "handler", "zq-yindu-b12-grid", "xu")
    accepted = httpx.post(f"{assignment}/accept", headers=grid_worker)
    assert accepted.status_code == 200, accepted.text
    case_url = f"{followup}/v1/cases/{case_id}"

    def act(path: str, who: dict[str, str], payload: dict | None = None) -> dict:
        answer = httpx.post(f"{case_url}/{path}", json=payload, headers=who, timeout=10)
        assert answer.status_code == 200, (path, answer.text)
        return answer.json()

    wait_for(lambda: httpx.get(case_url, headers=admin).json().get("lead"), "follow-up hearing it")
    act("plan", grid_worker, {"summary": "上门查看，约两户协商维修"})
    committee = as_user(settings, "handler", "zq-yindu-committee", "ma")
    httpx.post(f"{assignment}/accept", headers=committee).raise_for_status()
    httpx.post(
        f"{assignment}/parts", json={"summary": "居委会主持协商"}, headers=committee
    ).raise_for_status()
    wait_for(
        lambda: "zq-yindu-committee" in httpx.get(case_url, headers=admin).json()["parts"],
        "follow-up hearing the co-handler's part",
    )
    act("outcome", grid_worker, {"form": "agreement", "summary": "602业主负责维修，两周内完工"})
    act("return-visit", clerk, {"satisfaction": "satisfied", "notes": "已修好"})
    assert act("close-out", as_user(settings, "supervisor", user="zhou"))["status"] == "closed-out"

    def by_neighbourhood() -> dict | None:
        answer = httpx.get(
            f"{followup}/v1/statistics",
            params={"from": "2026-01-01", "to": "2100-01-01", "by": "neighbourhood"},
            headers=as_user(settings, "supervisor"),
        )
        assert answer.status_code == 200, answer.text
        groups = {g["group"]: g for g in answer.json()["groups"]}
        return answer.json() if "银都苑居委会 (zq-yindu)" in groups else None

    found = wait_for(by_neighbourhood, "statistics by the town's own tier")
    [yindu] = [g for g in found["groups"] if g["group"] == "银都苑居委会 (zq-yindu)"]
    assert yindu["cases"] == 1
    assert yindu["resolution"] == {"numerator": 1, "denominator": 1, "rate": 1.0}
    assert found["definitions"] == {  # the town's own, from its file
        "closure_base": "registered",
        "resolution": "closed-out",
        "cessation": "either",
    }


def test_an_admin_change_reaches_every_service_without_a_restart(stack):
    settings = stack.settings
    intake, routing = settings.url_of("intake"), settings.url_of("routing")
    admin, clerk = as_user(settings, "admin"), headers(settings)

    orphan = httpx.put(
        f"{routing}/v1/places/x-orphan",
        json={"name": "孤儿社区", "tier": "community", "parent": "nowhere"},
        headers=admin,
    )
    assert orphan.status_code == 422
    assert [e["field"] for e in orphan.json()["errors"]] == ["parent"]

    added = httpx.put(
        f"{routing}/v1/places/xinyuan",
        json={"name": "新苑社区", "tier": "community", "parent": "qiaobei"},
        headers=admin,
    )
    assert added.status_code == 200, added.text
    pets = httpx.put(f"{routing}/v1/categories/pets", json={"name": "宠物扰民"}, headers=admin)
    assert pets.status_code == 200, pets.text
    retired = httpx.delete(f"{routing}/v1/places/dongxin", headers=admin)
    assert retired.status_code == 200 and retired.json()["active"] is False

    def intake_knows() -> bool:
        places = {p["code"] for p in httpx.get(f"{intake}/v1/places", headers=clerk).json()}
        codes = {c["code"] for c in httpx.get(f"{intake}/v1/categories", headers=clerk).json()}
        return "xinyuan" in places and "dongxin" not in places and "pets" in codes

    wait_for(intake_knows, "intake hearing the registry's changes", timeout=15)
    open311 = httpx.get(f"{intake}/open311/v2/services.json").json()
    assert "pets" in {s["service_code"] for s in open311}
    definition = httpx.get(f"{intake}/open311/v2/services/pets.json").json()
    keys = {v["key"] for v in definition["attributes"][0]["values"]}
    assert "ninghe/qiaobei/xinyuan" in keys and "ninghe/fengtai/dongxin" not in keys

    body = {
        "channel": "phone",
        "petitioner": {"name": "刘先生", "phone": "13600001111"},
        "subject": "邻居家狗夜间吠叫",
        "description": "连续一周",
        "category": "pets",
        "location": {"place": "xinyuan"},
    }
    made = httpx.post(f"{intake}/v1/cases", json=body, headers=clerk, timeout=10)
    assert made.status_code == 201, made.text
    refused = httpx.post(
        f"{intake}/v1/cases", json={**body, "location": {"place": "dongxin"}}, headers=clerk
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "location.place"
    assert "retired" in refused.json()["errors"][0]["message"]
