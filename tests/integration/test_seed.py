"""`make bench-large`'s seeder on the real PostgreSQL: prototype cases made by the three
applications, 200 clones of them written with COPY — and the services' own applications
read every clone back (intake's sealed events, the petitioner found again by their ID
number, routing's assignment, follow-up's case and its verified history), while a rebuild
of every read model from the logs gives exactly the rows the seeder wrote."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from psycopg.rows import dict_row

from bench.large import TERRITORY
from bench.prototypes import Prototypes
from bench.seed import POSITIONS, Capture, Seeder
from services.cli import main
from services.followup.application import FollowUpApplication
from services.followup.ledger import PostgresLedger
from services.intake.bootstrap import build_application
from services.routing.application import RoutingApplication
from services.routing.domain import Role
from services.routing.inbox import PostgresInbox
from shared.casecode import case_code
from shared.keys import Keys
from shared.settings import SERVICES, Settings
from shared.store import connect, eventsourcing_env
from tests.conftest import fresh

pytestmark = pytest.mark.integration

CLONES = 200
READ_MODELS = {
    "intake.case_index": "case_id",
    "routing.inbox_cases": "id",
    "routing.inbox_parties": "id, department",
    "followup.ledger_cases": "id",
    "followup.ledger_deadlines": "id, deadline",
    "followup.ledger_facts": "id",
    "followup.ledger_moments": "id, at, breach, written",
    "followup.chain_heads": "id",
}


@pytest.fixture(scope="module")
def seeded(infra: Settings) -> tuple[Settings, list[UUID], int]:
    """A store of prototypes and their clones; returns the clones' case ids and how many
    cases the prototypes made."""
    settings = fresh(infra)
    made = Prototypes(settings, count=12).make(TERRITORY)
    with connect(settings) as conn:
        before = {r[0] for r in conn.execute("SELECT case_id FROM intake.case_index")}
    result = Seeder(settings, Capture(settings).templates(made), batch=64).seed(
        CLONES, say=lambda _: None
    )
    assert result.cases == CLONES
    with connect(settings) as conn:
        after = {r[0] for r in conn.execute("SELECT case_id FROM intake.case_index")}
    return settings, sorted(after - before), len(made)


def read_models(settings: Settings) -> dict[str, list[dict[str, Any]]]:
    with connect(settings) as conn, conn.cursor(row_factory=dict_row) as cursor:
        return {
            table: cursor.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
            for table, order in READ_MODELS.items()
        }


def petitioners_of(conn: Any, cases: list[UUID]) -> list[UUID]:
    rows = conn.execute(
        "SELECT DISTINCT p FROM intake.case_index, unnest(petitioner_ids) p "
        "WHERE case_id = ANY(%s)",
        (cases,),
    ).fetchall()
    return [r[0] for r in rows]


def test_every_clone_is_a_case_of_its_own_in_all_three_services(seeded):
    settings, clones, prototypes = seeded
    assert len(clones) == CLONES
    with connect(settings) as conn:
        counts = {
            table: conn.execute(
                f"SELECT count(DISTINCT {key.split(',')[0]}) FROM {table}"
            ).fetchone()[0]
            for table, key in READ_MODELS.items()
            if table != "routing.inbox_parties"
        }
        petitioners = conn.execute(
            "SELECT count(DISTINCT p) FROM intake.case_index, unnest(petitioner_ids) p"
        ).fetchone()[0]
    assert counts["intake.case_index"] == counts["followup.ledger_cases"]
    assert counts["intake.case_index"] == prototypes + CLONES
    assert counts["routing.inbox_cases"] == prototypes + CLONES
    assert petitioners == prototypes + CLONES  # each clone has a petitioner of its own
    with connect(settings) as conn:
        keyed = conn.execute(
            "SELECT count(DISTINCT subject) FROM intake.person_keys WHERE subject = ANY(%s)",
            ([str(p) for p in petitioners_of(conn, clones)],),
        ).fetchone()[0]
    assert keyed == CLONES  # and a person key of their own: erasing one erases no one else

    keys = Keys.of(settings)
    intake = build_application(settings)
    routing = RoutingApplication(eventsourcing_env(settings, "routing"))
    followup = FollowUpApplication(eventsourcing_env(settings, "followup"))
    try:
        for case_id in clones:
            case = intake.get_case(case_id)  # decrypted with the run's keyring
            [person] = case.petitioners
            found = intake.find_petitioner_id(id_number=person.details.id_number, phone=None)
            assert str(found) == person.petitioner_id
            assert str(case_id) in intake.petitioner(found).case_ids
            assignment = routing.get_assignment(case_id)
            leads = [p.code for p in assignment.parties.values() if p.role is Role.LEAD]
            on_followup = followup.get_case(case_id)
            assert ([on_followup.lead.code] if on_followup.lead else []) == leads
            entries, verification = followup.history(case_id)
            assert verification.verified, (case_id, verification)
            assert all(str(case_id) in link.entry.event_id for link in entries)
            code = case_code(keys.case_code, case_id)
            assert followup.case_by_code(code).id == case_id
    finally:
        intake.close()
        routing.close()
        followup.close()


def test_the_seeded_read_models_are_what_a_rebuild_from_the_logs_makes(seeded, monkeypatch):
    settings, _, _ = seeded
    written = read_models(settings)
    assert all(written.values())
    monkeypatch.setenv("ONESTOP_PG_DBNAME", settings.pg_dbname)
    assert main(["projections", "rebuild", "all"]) == 0
    rebuilt = read_models(settings)
    for table, rows in written.items():
        differing = [(a, b) for a, b in zip(rows, rebuilt[table], strict=False) if a != b]
        assert (len(rows), differing[:1]) == (len(rebuilt[table]), []), table


def test_a_service_starting_on_the_seeded_store_has_nothing_to_project_publish_or_fire(seeded):
    settings, _, _ = seeded
    with connect(settings) as conn:
        for service in SERVICES:
            last = conn.execute(f"SELECT max(notification_id) FROM {service}.{service}_events")
            end = last.fetchone()[0]
            relayed = conn.execute(
                f"SELECT notification_id FROM {service}.relay_position WHERE topic = %s",
                (settings.topic(service),),
            ).fetchone()
            assert relayed == (end,)
            table, key, names = POSITIONS[service]
            for name in names:
                projected = conn.execute(
                    f"SELECT notification_id FROM {service}.{table} WHERE {key} = %s", (name,)
                ).fetchone()
                assert projected == (end,), (service, name)

    followup = FollowUpApplication(
        eventsourcing_env(settings, "followup"), ledger=PostgresLedger(settings)
    )
    routing = RoutingApplication(
        eventsourcing_env(settings, "routing"), inbox=PostgresInbox(settings)
    )
    try:
        projected: list[UUID] = []
        for app, projector in (
            (followup, followup.ledger.projector),
            (routing, routing.inbox.projector),
        ):
            project = projector.project
            projector.project = lambda a, project=project: projected.append(a.id) or project(a)
            assert projector.catch_up() == app.recorder.max_notification_id()
        assert projected == []
        # no clone, open or closed, has an alarm due: follow-up's clock has nothing to fire
        assert followup.ledger.due(datetime.now(UTC) + timedelta(hours=1)) == []
    finally:
        followup.close()
        routing.close()
