"""A listing on the real PostgreSQL counts its matches exactly up to `COUNT_CAP` and says
"at least" beyond: a supervisor with more overdue deadlines than that still gets the soonest
page at once, and the total says 10,000+ rather than a number that cost a scan of them all."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from services.followup.bootstrap import MIGRATIONS
from services.followup.ledger import Board, PostgresLedger
from shared.listing import COUNT_CAP, page_total
from shared.migrations import migrate
from shared.settings import Settings
from shared.store import connect
from tests.conftest import fresh

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 8, tzinfo=UTC)


@pytest.fixture
def ledger(infra: Settings) -> Iterator[PostgresLedger]:
    settings = fresh(infra)
    migrate(settings, "followup", *MIGRATIONS)
    with connect(settings) as conn:
        # COUNT_CAP + 50 overdue deadlines of one department, the n-th due n minutes ago, and
        # three running ones of another
        params = {"many": COUNT_CAP + 50, "now": NOW}
        conn.execute(
            """
            INSERT INTO followup.ledger_cases (id, version, status, barred, subject)
            SELECT md5(n::text)::uuid, 1, 'handling', '{}', 'case ' || n
            FROM generate_series(1, %(many)s + 3) AS n
            """,
            params,
        )
        conn.execute(
            """
            INSERT INTO followup.ledger_deadlines (id, deadline, kind, due_at, department,
                                                   paused, subject)
            SELECT md5(n::text)::uuid, 'handling', 'handling',
                   CASE WHEN n <= %(many)s THEN %(now)s - n * interval '1 minute'
                        ELSE %(now)s + interval '3 days' END,
                   CASE WHEN n <= %(many)s THEN 'busy' ELSE 'quiet' END, false, 'case ' || n
            FROM generate_series(1, %(many)s + 3) AS n
            """,
            params,
        )
    ledger = PostgresLedger(settings)
    yield ledger
    ledger.close()  # its pool, else finalised later from one of its own threads


def test_more_matches_than_the_cap_are_counted_as_at_least_the_cap(ledger):
    rows, counted = ledger.board(Board(now=NOW, state="overdue", limit=5))
    assert counted == COUNT_CAP + 1  # counting stopped there, not at the 10,050th
    assert page_total(counted) == {"total": COUNT_CAP, "total_exact": False}
    # the page is still the most overdue first
    assert [r["subject"] for r in rows] == [f"case {COUNT_CAP + 50 - i}" for i in range(5)]
    assert rows[0]["due_at"] == NOW - timedelta(minutes=COUNT_CAP + 50)


def test_fewer_matches_than_the_cap_are_counted_exactly(ledger):
    rows, counted = ledger.board(Board(now=NOW, department="quiet", limit=2))
    assert page_total(counted) == {"total": 3, "total_exact": True}
    assert len(rows) == 2
