"""Two copies of a service on one database, as `make twins` runs them: what one copy writes,
the other acts on at once — nothing a copy keeps for itself makes it answer otherwise."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.followup import bootstrap as followup
from services.followup.application import FollowUpApplication
from services.followup.attempts import PostgresAttempts
from services.followup.bootstrap import MIGRATIONS
from services.followup.commands import PublishHolidays
from services.followup.ledger import PostgresLedger
from services.intake.bootstrap import build_application
from services.routing import bootstrap as routing
from services.routing.application import RoutingApplication
from shared.calendar import CHINA, Period
from shared.domain import Actor, Trace
from shared.http import TooManyRequests
from shared.migrations import migrate
from shared.settings import Settings
from shared.store import eventsourcing_env
from tests.conftest import fresh

pytestmark = pytest.mark.integration


@pytest.fixture
def followups(infra: Settings):
    settings = fresh(infra)
    migrate(settings, "followup", *MIGRATIONS)
    copies = [
        FollowUpApplication(
            eventsourcing_env(settings, "followup"),
            ledger=PostgresLedger(settings),
            code_attempts=PostgresAttempts(settings),
        )
        for _ in range(2)
    ]
    yield copies
    for copy in copies:
        copy.close()


def test_holidays_published_on_one_copy_are_the_other_copys_rules_at_once(followups):
    a, b = followups
    new_year = datetime(2026, 12, 31, 1, tzinfo=UTC)

    def next_working_day(copy: FollowUpApplication) -> date:
        end = copy.rules().calendar.end(new_year, Period(1, "working-days"))
        return end.astimezone(CHINA.zone).date()

    assert next_working_day(b) == date(2027, 1, 1)  # unpublished: a Friday like any other
    a.publish_holidays(
        PublishHolidays(
            year=2027, holidays=(date(2027, 1, 1),), actor=Actor("root", "admin"), trace=Trace("t")
        )
    )
    # b made its rules before; it gives deadlines by the published year from now on, not
    # once some time-to-live has passed
    assert next_working_day(b) == date(2027, 1, 4)


def test_wrong_case_codes_are_counted_by_both_copies_together(followups):
    a, b = followups
    for i in range(10):  # five wrong codes through each copy, from one address
        copy = (a, b)[i % 2]
        copy.code_attempts.check("203.0.113.7")
        copy.code_attempts.failed("203.0.113.7")
    for copy in (a, b):
        with pytest.raises(TooManyRequests) as refused:
            copy.code_attempts.check("203.0.113.7")
        assert 0 < refused.value.retry_after <= 601
        copy.code_attempts.check("198.51.100.1")  # another address is not held up


def test_copies_of_every_service_starting_at_once_on_a_fresh_database_all_start(infra):
    """Each copy migrates its schema and has eventsourcing make its tables; at once on a
    fresh database, PostgreSQL refused the loser of that race and the copy exited."""
    settings = fresh(infra)

    def intake() -> Any:
        return build_application(settings)

    def route() -> Any:
        migrate(settings, "routing", *routing.MIGRATIONS)
        return RoutingApplication(eventsourcing_env(settings, "routing"))

    def follow() -> Any:
        migrate(settings, "followup", *followup.MIGRATIONS)
        return FollowUpApplication(eventsourcing_env(settings, "followup"))

    starts = [intake, route, follow] * 2
    started: list[Any] = []
    failed: list[BaseException] = []
    at_once = threading.Barrier(len(starts))

    def start(build: Any) -> None:
        at_once.wait()
        try:
            started.append(build())
        except BaseException as error:
            failed.append(error)

    threads = [threading.Thread(target=start, args=(b,)) for b in starts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    for app in started:
        app.close()
    assert failed == [] and len(started) == len(starts)
