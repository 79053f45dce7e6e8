"""What an operator watches: each service's /metrics in Prometheus' format (checked by
promtool, Debian's, which `make test` installs), its figures moving with what happens, the
alert rules doing what the README says (promtool's own rule tests), and readiness saying
why a service cannot serve."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.followup.application import FollowUpApplication
from services.followup.metrics import FollowUpMetrics
from services.intake import api as intake_api
from services.intake.application import IntakeApplication
from services.intake.bootstrap import ready_checks
from services.intake.index import MemoryIndexStore
from services.routing.application import RoutingApplication
from services.routing.metrics import RoutingMetrics
from shared.auth import issue_token
from shared.messages import CaseFinal
from shared.metrics import Recent
from shared.service import Runtime, create_api
from shared.settings import Settings
from tests.territory import seeded
from tests.unit.messaging import send
from tests.unit.test_api import EXAMPLE
from tests.unit.test_routing import register

SETTINGS = Settings(jwt_secret="s" * 40)
PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: `make test` installs Debian's prometheus package"
    return subprocess.run([tool, *args], input=stdin, capture_output=True, text=True, timeout=60)


def scraped(runtime: Runtime, routers: list, calls: list[tuple[str, str, dict | None]]) -> str:
    api = create_api(lambda: runtime, SETTINGS, title="t", description="d", routers=routers)
    token = issue_token(SETTINGS, "alice", "clerk")
    with TestClient(api) as client:
        for method, path, body in calls:
            client.request(method, path, json=body, headers={"Authorization": f"Bearer {token}"})
        answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return answer.text


def test_intake_counts_and_times_its_requests_by_route_template_in_prometheus_format():
    text = scraped(
        Runtime("intake", SETTINGS, seeded(IntakeApplication())),
        [intake_api.router],
        [
            ("POST", "/v1/cases", EXAMPLE),
            ("GET", "/v1/cases/00000000-0000-0000-0000-000000000000", None),
            ("GET", "/v1/cases/11111111-1111-1111-1111-111111111111", None),
        ],
    )
    assert 'onestop_http_requests_total{method="POST",route="/v1/cases",status="201"} 1.0' in text
    # one series for every case id: the route's template, not the path
    assert (
        'onestop_http_requests_total{method="GET",route="/v1/cases/{case_id}",status="404"} 2.0'
        in text
    )
    assert 'onestop_http_request_duration_seconds_bucket{le="0.5",method="POST"' in text
    checked = promtool("check", "metrics", stdin=text)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_routing_and_follow_up_publish_the_gauges_a_supervision_office_alerts_on():
    routing = seeded(RoutingApplication())
    for _ in range(3):
        register(routing)
    register(routing, "fishing-rights")  # no rule: waits for a person
    text = scraped(
        Runtime("routing", SETTINGS, routing, collectors=[RoutingMetrics(routing)]), [], []
    )
    assert 'onestop_cases_by_level{level="window"} 4.0' in text
    assert (
        'onestop_department_assignments{department="ninghe-hrss",state="awaiting-acceptance"} 3.0'
        in text
    )
    assert "onestop_manual_dispatch_queue 1.0" in text
    assert promtool("check", "metrics", stdin=text).returncode == 0

    followup = seeded(FollowUpApplication())
    text = scraped(
        Runtime("followup", SETTINGS, followup, collectors=[FollowUpMetrics(followup)]), [], []
    )
    assert "onestop_deadline_most_overdue_seconds 0.0" in text
    assert promtool("check", "metrics", stdin=text).returncode == 0


def test_the_alert_rules_check_and_pass_their_own_tests():
    checked = promtool("check", "rules", str(PROMETHEUS / "rules" / "onestop.yml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", str(PROMETHEUS / "tests" / "onestop.test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


@pytest.mark.parametrize("service", ["intake", "routing", "followup"])
def test_every_service_serves_metrics(service):
    module = __import__(f"services.{service}.bootstrap", fromlist=["create_app"])
    assert "/metrics" in module.create_app(SETTINGS).openapi()["paths"]


class Unwritable(Exception):
    pass


class BreakableIndex(MemoryIndexStore):
    """The case index's store, until it is told it cannot write."""

    broken = False

    def upsert(self, rows: list[dict[str, Any]], position: int) -> None:
        if self.broken:
            raise Unwritable("could not extend file: No space left on device\nHINT: …")
        super().upsert(rows, position)


def test_a_case_index_that_cannot_project_makes_intake_unready_with_the_reason():
    store = BreakableIndex()
    app = seeded(IntakeApplication(index_store=store))
    runtime = Runtime("intake", SETTINGS, app, ready_checks=ready_checks(app))
    api = create_api(
        lambda: runtime, SETTINGS, title="t", description="d", routers=[intake_api.router]
    )
    token = {"Authorization": f"Bearer {issue_token(SETTINGS, 'alice', 'clerk')}"}
    with TestClient(api) as client:
        case_id = client.post("/v1/cases", json=EXAMPLE, headers=token).json()["case_id"]
        assert client.get("/health/ready").status_code == 200
        assert 'onestop_ready{reason="ok"} 1.0' in client.get("/metrics").text

        store.broken = True
        outcome = CaseFinal(case_id=case_id, summary="三级终结", final_at=datetime.now(UTC))
        send(app, outcome, "followup")  # a row to write: the background loop's next round
        with pytest.raises(Unwritable):
            app.index.catch_up()
        reason = "case index failing: Unwritable: could not extend file: No space left on device"
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and ready.headers["Retry-After"]
        assert ready.json()["status"] == f"not ready: {reason}"
        assert f'onestop_ready{{reason="{reason}"}} 0.0' in client.get("/metrics").text

        store.broken = False
        app.index.catch_up()
        assert client.get("/health/ready").status_code == 200
        [listed] = client.get("/v1/cases", headers=token).json()["cases"]
        assert listed["status"] == "final"


def test_a_readiness_check_that_breaks_is_a_reason_and_hides_no_other():
    def broken() -> str | None:
        raise KeyError("x")

    runtime = Runtime(
        "intake", SETTINGS, IntakeApplication(), ready_checks=[broken, lambda: "queue stuck"]
    )
    assert runtime.unready() == ["readiness check failed: KeyError", "queue stuck"]


def test_a_slow_domain_gauge_is_read_so_rarely_that_it_takes_one_percent_of_the_time():
    """A store so large that one count takes 2 s: read every 200 s, not every 30 s."""
    now = [0.0]
    readings = []

    def slow_count() -> int:
        readings.append(now[0])
        now[0] += 2.0
        return len(readings)

    gauge = Recent(slow_count, 30.0, clock=lambda: now[0])
    assert gauge() == 1
    now[0] += 150.0
    assert gauge() == 1  # 152 s after the first reading began
    now[0] += 48.0
    assert gauge() == 2 and readings == [0.0, 200.0]


def test_a_domain_gauge_is_read_at_most_every_so_often_not_at_every_scrape():
    """Each reading counts a whole read model; Prometheus scrapes every 5 s."""
    readings = []
    now = [100.0]

    def count() -> int:
        readings.append(now[0])
        return len(readings)

    gauge = Recent(count, 30.0, clock=lambda: now[0])
    assert [gauge(), gauge()] == [1, 1]  # the second scrape is served the first reading
    now[0] += 29.9
    assert gauge() == 1
    now[0] += 0.1
    assert gauge() == 2 and readings == [100.0, 130.0]

    def down() -> int:
        raise OSError("the database is down")

    failing = Recent(down, 30.0, clock=lambda: now[0])
    for _ in range(2):  # a failed reading is not remembered: the next scrape tries again
        with pytest.raises(OSError):
            failing()
