"""Intake's registry, duplicate search, repeats and Open311 listings on the real PostgreSQL.

The test bodies are the unit tests' own, run again here on the encrypted event store and the
SQL case index, so both stores are held to the same behaviour.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest
from fastapi.testclient import TestClient

from services.intake.api import open311
from services.intake.application import IntakeApplication
from services.intake.bootstrap import build_application, ready_checks
from shared.messages import CaseFinal
from shared.service import Runtime, create_api
from shared.settings import Settings
from shared.store import connect
from tests.conftest import fresh
from tests.territory import seeded
from tests.unit.messaging import send
from tests.unit.test_intake_application import *  # noqa: F403 — the same bodies, on PostgreSQL
from tests.unit.test_intake_application import new, register
from tests.unit.test_open311 import *  # noqa: F403

pytestmark = pytest.mark.integration


@pytest.fixture
def app(infra: Settings) -> Iterator[IntakeApplication]:
    application = seeded(build_application(fresh(infra)))
    yield application
    application.close()


@pytest.fixture
def client(infra: Settings) -> Iterator[TestClient]:
    settings = fresh(infra)
    api = create_api(
        lambda: Runtime("intake", settings, seeded(build_application(settings))),
        settings,
        title="t",
        description="d",
        routers=[open311.router],
    )
    with TestClient(api) as c:
        yield c


def test_a_case_index_whose_table_is_gone_makes_intake_unready_saying_so(
    infra: Settings,
) -> None:
    settings = fresh(infra)
    application = seeded(build_application(settings))
    try:
        runtime = Runtime("intake", settings, application, ready_checks=ready_checks(application))
        case = register(application).case
        assert runtime.unready() == []
        with connect(settings) as conn:
            conn.execute("DROP TABLE intake.case_index")
        final = CaseFinal(case_id=str(case.id), summary="三级终结", final_at=datetime.now(UTC))
        send(application, final, "followup")  # a row to write: the background loop's next round
        with pytest.raises(psycopg.errors.UndefinedTable):
            application.index.catch_up()
        assert runtime.unready() == [
            'case index failing: UndefinedTable: relation "intake.case_index" does not exist'
        ]
    finally:
        application.close()


def test_the_case_index_never_takes_an_older_version_of_a_case_nor_deadlocks_two_writers(
    app: IntakeApplication,
) -> None:
    """Two intake processes project the same log, each in its own time: the one behind
    must not write a case as it was over the row the other brought up to date, and the two
    writing the same cases at once must wait for each other, not deadlock (a registration
    answered 503 when they did)."""
    import threading
    from uuid import uuid4

    from services.intake.index import PostgresIndexStore, Query

    case = register(app).case
    app.index.catch_up()
    store = app.index.store
    [row] = store.search(Query(case_ids=[case.id]))[0]
    assert row["version"] == case.version
    stale = {**row, "version": case.version - 1, "status": "withdrawn"}
    store.upsert([stale], 0)
    assert store.search(Query(case_ids=[case.id]))[0][0]["status"] == row["status"]
    newer = {**row, "version": case.version + 1, "repeat_count": 7}
    store.upsert([newer], 0)
    assert store.search(Query(case_ids=[case.id]))[0][0]["repeat_count"] == 7

    rows = [{**row, "case_id": uuid4(), "version": 1} for _ in range(200)]
    failures: list[BaseException] = []

    def write(rows_in_this_order: list[dict], version_step: int) -> None:
        other = PostgresIndexStore(store.settings)
        try:
            for step in range(1, 16):
                other.upsert(
                    [{**r, "version": step * 2 + version_step} for r in rows_in_this_order], 0
                )
        except BaseException as error:
            failures.append(error)
        finally:
            other.close()

    writers = [
        threading.Thread(target=write, args=(rows, 0)),
        threading.Thread(target=write, args=(rows[::-1], 1)),
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    assert failures == []
    found = store.search(Query(case_ids=[r["case_id"] for r in rows], limit=500))[0]
    assert len(found) == 200 and {r["version"] for r in found} == {31}


def test_the_duplicate_search_runs_on_connections_without_parallel_workers(
    app: IntakeApplication,
) -> None:
    """Every registration searches for earlier cases like it: prepared, the search's generic
    plan started a parallel worker process each time (4.2 ms of PostgreSQL against 0.5 ms).
    The index's connections are made without parallel workers (the search itself, on these
    connections, is checked by the unit tests' bodies run here above)."""
    register(app)
    app.index.catch_up()
    with app.index.store._connection() as conn:
        assert conn.execute("SHOW max_parallel_workers_per_gather").fetchone() == ("0",)
    with connect(app.index.store.settings) as other:  # other connections keep the server's
        assert other.execute("SHOW max_parallel_workers_per_gather").fetchone() == ("1",)


def test_the_keys_of_a_group_of_people_are_read_and_made_together_and_agree_across_writers(
    infra: Settings,
) -> None:
    """A group's person keys in one transaction: a person's key already made is the one
    returned; new ones are made once — eight writers asking for the same twenty new people
    at the same moment (intake copies, or requests) all get the same key for each, and the
    store holds one live key per person."""
    import threading

    settings = fresh(infra)
    application = build_application(settings)
    keys = application.person_keys
    try:
        known = keys.current("p-known")
        first = keys.current_many(["p-known", "p-new-1", "p-new-2"])
        assert first["p-known"] == known
        assert keys.current_many(["p-new-2", "p-new-1"]) == {
            s: first[s] for s in ("p-new-2", "p-new-1")
        }

        people = [f"c-{i}" for i in range(20)]
        start, results = threading.Barrier(8), []

        def ask() -> None:
            start.wait()
            results.append(keys.current_many(people))

        writers = [threading.Thread(target=ask) for _ in range(8)]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(30)
        assert len(results) == 8 and all(r == results[0] for r in results)
        assert sorted(results[0]) == sorted(people)
        with connect(settings) as conn:
            live = conn.execute(
                "SELECT subject, count(*) FROM intake.person_keys WHERE wrapped IS NOT NULL "
                "GROUP BY subject"
            ).fetchall()
        assert dict(live) == {s: 1 for s in ["p-known", "p-new-1", "p-new-2", *people]}
    finally:
        application.close()


def test_a_person_erased_by_one_intake_process_is_erased_for_another_within_a_second(
    infra: Settings,
) -> None:
    """Two intake processes on one store; the second registered the petitioner, so it kept
    their key. After the first erases them, the second — once its sealer has looked at the
    store again — reads the stored registration with the details erased, and seals the
    details the same person gives when they come back under a new, live key. Before, it
    kept the destroyed key until it restarted and sealed their new case under it: that case
    read as erased at once everywhere else (through HTTP too: "〔已删除〕", erased)."""
    from uuid import UUID

    from services.intake.commands import ErasePetitioner
    from services.intake.domain import ErasureBasis, erased_person
    from shared.domain import Actor, Trace

    settings = fresh(infra)
    first = seeded(build_application(settings))
    second = build_application(settings)
    try:
        case = register(second).case
        [person] = case.petitioner_ids
        [stored] = [e for e in second.recorder.select_events(case.id) if e.originator_version == 1]
        assert second.mapper.to_domain_event(stored).petitioners[0].details.name == "王建国"

        first.erase_petitioner(
            ErasePetitioner(UUID(person), ErasureBasis.REQUEST, "申请 9"),
            Actor("zhou", "supervisor"),
            Trace("t"),
        )
        time.sleep(second.sealer.CHECK_SECONDS)
        assert second.mapper.to_domain_event(stored).petitioners[0].details == erased_person()

        back = register(second, fingerprint="f-2", duplicate_decision=new("又来了：新的事")).case
        [again] = [e for e in first.recorder.select_events(back.id) if e.originator_version == 1]
        assert first.mapper.to_domain_event(again).petitioners[0].details.name == "王建国"
    finally:
        second.close()
        first.close()
