"""Read models in PostgreSQL: a restarted service picks its projection up where it left it,
two processes keep one projection together without ever writing an older state over a
newer, and `onestop projections rebuild` makes the same tables again from the log."""

from __future__ import annotations

import threading
from uuid import UUID

import pytest

from services.cli import main
from services.routing.application import RoutingApplication
from services.routing.bootstrap import MIGRATIONS
from services.routing.domain import PartyState
from services.routing.inbox import PostgresInbox, project_assignment
from shared.migrations import migrate
from shared.projection import Projected
from shared.settings import Settings
from shared.store import connect, eventsourcing_env
from tests.conftest import fresh
from tests.territory import seeded
from tests.unit.test_routing import acceptance, handler, register

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(infra: Settings) -> Settings:
    settings = fresh(infra)
    migrate(settings, "routing", *MIGRATIONS)
    return settings


def routing(settings: Settings) -> RoutingApplication:
    """A routing process on the shared store (each call: another process)."""
    return seeded(
        RoutingApplication(eventsourcing_env(settings, "routing"), inbox=PostgresInbox(settings))
    )


def tables(settings: Settings) -> tuple[list[tuple], list[tuple]]:
    with connect(settings) as conn:
        cases = conn.execute("SELECT * FROM routing.inbox_cases ORDER BY id").fetchall()
        parties = conn.execute(
            "SELECT * FROM routing.inbox_parties ORDER BY id, department"
        ).fetchall()
    return cases, parties


def test_a_restarted_service_resumes_its_projection_instead_of_replaying_the_log(settings):
    first = routing(settings)
    cases = [register(first) for _ in range(20)]
    assert first.department_inbox("ninghe-hrss")[1] == 20
    reached = first.recorder.max_notification_id()

    again = routing(settings)
    projected: list[UUID] = []
    project = again.inbox.projector.project
    again.inbox.projector.project = lambda a: projected.append(a.id) or project(a)
    assert again.inbox.tables.position() == reached
    assert again.department_inbox("ninghe-hrss")[1] == 20
    assert projected == []  # nothing replayed: the tables were where the first left them

    first.accept(acceptance(cases[0], handler("ninghe-hrss")))
    accepted = again.department_inbox("ninghe-hrss", state=PartyState.ACCEPTED)[0]
    assert [e.case_id for e in accepted] == [cases[0]] and projected == [UUID(cases[0])]


def test_two_processes_keep_one_projection_and_never_write_an_older_state_over_a_newer(
    settings,
):
    one, two = routing(settings), routing(settings)
    cases = [register(one) for _ in range(30)]
    stop = threading.Event()

    def keep(app: RoutingApplication) -> None:
        while not stop.is_set():
            app.inbox.catch_up()

    threads = [threading.Thread(target=keep, args=(app,)) for app in (one, two)]
    for thread in threads:
        thread.start()
    for i, case_id in enumerate(cases):
        (one if i % 2 else two).accept(acceptance(case_id, handler("ninghe-hrss", f"h{i}")))
    stop.set()
    for thread in threads:
        thread.join()
    one.inbox.catch_up()
    two.inbox.catch_up()

    accepted, total = one.department_inbox("ninghe-hrss", state=PartyState.ACCEPTED, limit=100)
    assert total == 30 and {e.handler for e in accepted} == {f"h{i}" for i in range(30)}

    # a late writer holding an old state of a case cannot put it back
    newest = one.get_assignment(UUID(cases[0]))
    stale = project_assignment(newest)._replace(version=1)
    stale_rows = [{**c, "state": "awaiting-acceptance"} for c in stale.children]
    one.inbox.tables.apply([Projected(stale.id, 1, stale.row, stale_rows)], 0)
    [entry] = [e for e in accepted if e.case_id == cases[0]]
    assert entry in one.department_inbox("ninghe-hrss", state=PartyState.ACCEPTED, limit=100)[0]


def test_rebuild_makes_the_same_tables_again_from_the_log(settings, monkeypatch):
    app = routing(settings)
    cases = [register(app) for _ in range(12)]
    app.accept(acceptance(cases[3], handler("ninghe-hrss")))
    app.inbox.catch_up()
    before = tables(settings)
    with connect(settings) as conn:  # a projection damaged by hand
        conn.execute("DELETE FROM routing.inbox_parties WHERE id = %s", (UUID(cases[5]),))
        conn.execute("UPDATE routing.inbox_cases SET level = 'leader'")
    assert tables(settings) != before

    monkeypatch.setenv("ONESTOP_PG_DBNAME", settings.pg_dbname)
    assert main(["projections", "rebuild", "routing"]) == 0
    assert tables(settings) == before
