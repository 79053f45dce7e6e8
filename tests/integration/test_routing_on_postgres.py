"""Routing's rules, inboxes and dispatch queue on the real PostgreSQL.

The test bodies are the unit tests' own, run again here on the event store in PostgreSQL and
the inbox projection in its tables, so both stores are held to the same behaviour.
"""

from __future__ import annotations

import pytest

from services.routing.application import RoutingApplication
from services.routing.bootstrap import MIGRATIONS
from services.routing.inbox import PostgresInbox
from shared.migrations import migrate
from shared.settings import Settings
from shared.store import eventsourcing_env
from tests.conftest import fresh
from tests.territory import seeded
from tests.unit.test_routing import *  # noqa: F403 — the same bodies, on PostgreSQL

pytestmark = pytest.mark.integration


@pytest.fixture
def app(infra: Settings) -> RoutingApplication:
    settings = fresh(infra)
    migrate(settings, "routing", *MIGRATIONS)
    return seeded(
        RoutingApplication(eventsourcing_env(settings, "routing"), inbox=PostgresInbox(settings))
    )
