"""The statistics as PostgreSQL counts them (`PostgresLedger.tally`, one aggregate query per
request) are the statistics as the reference counts them case by case (`ledger.tally`), for
every grouping, every locality's definitions and periods that cut through the cases' lives:
a leader's 化解率 must not depend on which of the two did the counting."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from itertools import product
from uuid import UUID

import orjson
import pytest

from services.followup.bootstrap import MIGRATIONS
from services.followup.domain.vocabulary import DeadlineKind, Satisfaction, Status
from services.followup.ledger import (
    Facts,
    PostgresLedger,
    StatisticsQuery,
    active_until,
    answer,
    tally,
)
from shared.migrations import migrate
from shared.settings import Settings
from shared.store import connect
from shared.territory import Statistics
from shared.vocabulary import Cessation, Channel, ClosureBase, Resolution
from tests.conftest import fresh
from tests.territory import territory

pytestmark = pytest.mark.integration

T0 = datetime(2026, 10, 1, tzinfo=UTC)
BEIJING = timezone(timedelta(hours=8))


def moment(rng: random.Random) -> datetime:
    """Somewhere in a hundred days from T0, written in UTC or in Beijing time (the month
    a repeat counts in is the one its stored moment says)."""
    at = T0 + timedelta(minutes=rng.randrange(100 * 24 * 60))
    return at.astimezone(BEIJING) if rng.random() < 0.3 else at


def random_facts(rng: random.Random, n: int) -> list[Facts]:
    places = territory().places
    paths = [(p.parent, code) if p.parent else (code,) for code, p in places.items()]
    paths.append(("nowhere",))
    found = []
    for i in range(n):
        registered = moment(rng) if rng.random() < 0.97 else None
        outcome = moment(rng) if rng.random() < 0.6 else None
        due = moment(rng) if rng.random() < 0.8 else None
        rated = outcome is not None and rng.random() < 0.7
        repeats = tuple(sorted(moment(rng) for _ in range(rng.choice((0, 0, 0, 1, 2)))))
        found.append(
            Facts(
                case_id=UUID(int=i + 1),
                registered_at=registered,
                channel=rng.choice(list(Channel)),
                lead=rng.choice(["ninghe-hrss", "ninghe-housing", "ninghe-urban", None]),
                path=rng.choice(paths),
                status=rng.choice(list(Status)),
                declined=rng.random() < 0.15,
                notice_due=due,
                notice_met=rng.choice((due, moment(rng))) if due and rng.random() < 0.7 else None,
                first_outcome_at=outcome,
                outcome_on_time=outcome is not None and rng.random() < 0.6,
                closed_out=outcome is not None and rng.random() < 0.4,
                satisfaction=rng.choice(list(Satisfaction)) if rated else None,
                rated=rated,
                ceased=rng.random() < 0.2,
                repeats=repeats,
                repeat_after_outcome=outcome is not None and any(r > outcome for r in repeats),
                first_round_settled_at_window=rated and rng.random() < 0.3,
                breaches=tuple(
                    (rng.choice(list(DeadlineKind)), moment(rng))
                    for _ in range(rng.choice((0, 0, 1, 2)))
                ),
            )
        )
    return found


@pytest.fixture
def ledger(infra: Settings) -> Iterator[PostgresLedger]:
    settings = fresh(infra)
    migrate(settings, "followup", *MIGRATIONS)
    ledger = PostgresLedger(settings)
    yield ledger
    ledger.close()


def store(ledger: PostgresLedger, facts: list[Facts]) -> None:
    with connect(ledger.settings) as conn, conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO followup.ledger_cases (id, version, status, barred, registered_at, "
            "active_until, breach_kinds, facts, path) "
            "VALUES (%s, 1, %s, '{}', %s, %s, %s, %s::jsonb, %s)",
            [
                (
                    f.case_id,
                    f.status,
                    f.registered_at,
                    active_until(f),
                    [k for k, _ in f.breaches],
                    orjson.dumps(f).decode(),
                    list(f.path),
                )
                for f in facts
            ],
        )


def test_postgresql_counts_what_the_reference_counts(ledger):
    rng = random.Random(20261201)
    facts = random_facts(rng, 600)
    store(ledger, facts)
    centre = territory()
    groupings = ["all", "department", *(t.code for t in centre.tiers)]
    periods = [
        (T0, T0 + timedelta(days=100)),
        (T0 + timedelta(days=20), T0 + timedelta(days=50)),
        (datetime(2026, 11, 1, tzinfo=BEIJING), datetime(2026, 12, 1, tzinfo=BEIJING)),
    ]
    definitions = [
        Statistics(*d) for d in product(list(ClosureBase), list(Resolution), list(Cessation))
    ]
    compared = 0
    for (start, end), by, defined in product(periods, groupings, definitions):
        query = StatisticsQuery(start, end, by, T0 + timedelta(days=60), centre, defined)
        expected = answer(tally(facts, query), by, centre)
        assert answer(ledger.tally(query), by, centre) == expected, (start, end, by, defined)
        compared += len(expected)
    # the comparison had something to compare: groups with cases, rates, repeats, breaches
    whole = StatisticsQuery(T0, T0 + timedelta(days=100), "street", T0, centre, Statistics())
    streets = answer(ledger.tally(whole), "street", centre)
    assert compared > 300
    assert sum(g["cases"] for g in streets) == sum(1 for f in facts if f.registered_at)
    assert {g["group"] for g in streets} >= {"芦台街道 (lutai)", "(none)"}
    assert all(g["repeat_petitions_by_month"] and g["overdue"]["total"] for g in streets[:3])
    assert any(g["resolution"]["rate"] for g in streets)
