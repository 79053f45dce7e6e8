"""Intake's registry, duplicate search, repeats and Open311 listings on the real PostgreSQL.

The test bodies are the unit tests' own, run again here on the encrypted event store and the
SQL case index, so both stores are held to the same behaviour.
"""

from __future__ import annotations

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
from tests.unit.test_intake_application import register
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
