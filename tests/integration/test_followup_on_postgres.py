"""Follow-up's clocks, outcomes, reviews, case-code lookup and statistics on the real
PostgreSQL.

The test bodies are the unit tests' own, run again here on the event store in PostgreSQL and
the work ledger in its tables, so both stores are held to the same behaviour.
"""

from __future__ import annotations

import pytest

from services.followup.application import FollowUpApplication
from services.followup.bootstrap import MIGRATIONS
from services.followup.ledger import PostgresLedger
from shared.migrations import migrate
from shared.settings import Settings
from shared.store import eventsourcing_env
from tests.conftest import fresh
from tests.territory import seeded
from tests.unit.test_followup import *  # noqa: F403 — the same bodies, on PostgreSQL

pytestmark = pytest.mark.integration


@pytest.fixture
def app(infra: Settings, clock) -> FollowUpApplication:
    settings = fresh(infra)
    migrate(settings, "followup", *MIGRATIONS)
    return seeded(
        FollowUpApplication(
            eventsourcing_env(settings, "followup"), clock=clock, ledger=PostgresLedger(settings)
        )
    )
