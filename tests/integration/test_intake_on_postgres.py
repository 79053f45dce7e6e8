"""Intake's registry, duplicate search, repeats and Open311 listings on the real PostgreSQL.

The test bodies are the unit tests' own, run again here on the encrypted event store and the
SQL case index, so both stores are held to the same behaviour.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.intake.api import open311
from services.intake.application import IntakeApplication
from services.intake.bootstrap import build_application
from shared.service import Runtime, create_api
from shared.settings import Settings
from tests.conftest import fresh
from tests.territory import seeded
from tests.unit.test_intake_application import *  # noqa: F403 — the same bodies, on PostgreSQL
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
