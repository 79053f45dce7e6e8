"""The statistics as PostgreSQL counts them (`PostgresLedger.tally`, one aggregate query per
request) are the statistics as the reference counts them case by case (`ledger.tally`), for
every grouping, every locality's definitions and periods that cut through the cases' lives:
a leader's 化解率 must not depend on which of the two did the counting."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from itertools import product
from uuid import UUID

import orjson
import pytest

from services.followup.bootstrap import MIGRATIONS
from services.followup.domain.vocabulary import DeadlineKind, Satisfaction, Status
from services.followup.ledger import (
    LEDGER_COLUMNS,
    Facts,
    MemoryLedger,
    PostgresLedger,
    StatisticsQuery,
    active_until,
    answer,
    tally,
)
from shared.migrations import apply as apply_migrations
from shared.migrations import migrate, package_migrations
from shared.projection import Projected
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


def projected(f: Facts, version: int = 1, deadlines: int = 0) -> Projected:
    """A case's ledger rows as the projection writes them (these facts, and as many
    running deadlines as asked, due around T0)."""
    row = dict.fromkeys(LEDGER_COLUMNS)
    row |= {
        "status": f.status.value,
        "barred": [],
        "facts": f,
        "path": list(f.path),
    }
    kinds = list(DeadlineKind)
    children = [
        {
            "deadline": f"d{n}",
            "kind": kinds[(f.case_id.int + n) % len(kinds)].value,
            "due_at": T0 + timedelta(hours=(f.case_id.int * 7 + n * 13) % 200 - 100),
            "department": f.lead,
            "responsible": f.lead,
            "paused": (f.case_id.int + n) % 9 == 0,
            "breached_at": None,
            "subject": None,
            "barred": [],
            "path": list(f.path),
        }
        for n in range(deadlines)
    ]
    return Projected(f.case_id, version, row, children)


def store(ledger: PostgresLedger, facts: list[Facts]) -> None:
    ledger.apply([projected(f) for f in facts], 1)


def store_in_ledger_cases(settings: Settings, facts: list[Facts]) -> None:
    """The facts as the ledger held them before the statistics had tables of their own:
    only in each case's row."""
    with connect(settings) as conn, conn.cursor() as cursor:
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


PERIODS = [
    (T0, T0 + timedelta(days=100)),
    (T0 + timedelta(days=20), T0 + timedelta(days=50)),
    (datetime(2026, 11, 1, tzinfo=BEIJING), datetime(2026, 12, 1, tzinfo=BEIJING)),
]


def compare(ledger: PostgresLedger, facts: list[Facts]) -> int:
    """Asserts that PostgreSQL counts what the reference counts for every period, grouping
    and definitions; returns how many groups were compared."""
    centre = territory()
    groupings = ["all", "department", *(t.code for t in centre.tiers)]
    definitions = [
        Statistics(*d) for d in product(list(ClosureBase), list(Resolution), list(Cessation))
    ]
    compared = 0
    for (start, end), by, defined in product(PERIODS, groupings, definitions):
        query = StatisticsQuery(start, end, by, T0 + timedelta(days=60), centre, defined)
        expected = answer(tally(facts, query), by, centre)
        assert answer(ledger.tally(query), by, centre) == expected, (start, end, by, defined)
        compared += len(expected)
    return compared


def test_postgresql_counts_what_the_reference_counts(ledger):
    rng = random.Random(20261201)
    facts = random_facts(rng, 600)
    store(ledger, facts)
    compared = compare(ledger, facts)
    # the comparison had something to compare: groups with cases, rates, repeats, breaches
    centre = territory()
    whole = StatisticsQuery(T0, T0 + timedelta(days=100), "street", T0, centre, Statistics())
    streets = answer(ledger.tally(whole), "street", centre)
    assert compared > 300
    assert sum(g["cases"] for g in streets) == sum(1 for f in facts if f.registered_at)
    assert {g["group"] for g in streets} >= {"芦台街道 (lutai)", "(none)"}
    assert all(g["repeat_petitions_by_month"] and g["overdue"]["total"] for g in streets[:3])
    assert any(g["resolution"]["rate"] for g in streets)


def test_a_case_counts_as_it_stands_now_and_a_rebuild_counts_the_same(ledger):
    """A case written again (a later version) counts once, with its new facts — moved to
    another department, its notice met, a repeat and a breach added; an older version
    arriving late changes nothing; clearing the ledger clears the statistics."""
    rng = random.Random(7)
    facts = [f for f in random_facts(rng, 200) if f.registered_at]
    store(ledger, facts)
    later = facts[0].registered_at + timedelta(days=3)
    moved = [
        replace(
            f,
            lead="ninghe-urban" if f.lead != "ninghe-urban" else "ninghe-hrss",
            notice_met=f.notice_due,
            repeats=(*f.repeats, later),
            breaches=(*f.breaches, (DeadlineKind.RESOLUTION, later)),
        )
        for f in facts[:50]
    ]
    ledger.apply([projected(f, version=2) for f in moved], 2)
    ledger.apply([projected(f, version=1) for f in facts[:50]], 3)  # stale: ignored
    now = [*moved, *facts[50:]]
    assert compare(ledger, now) > 100
    with connect(ledger.settings) as conn:
        rows = conn.execute("SELECT count(*) FROM followup.ledger_facts").fetchone()
    assert rows == (len(facts),)

    ledger.clear()
    whole = StatisticsQuery(T0, T0 + timedelta(days=100), "all", T0, territory(), Statistics())
    assert ledger.tally(whole) == {}


def test_postgresql_gauges_count_what_the_memory_ledger_counts(ledger):
    """The operators' gauges (/metrics): cases by status, deadlines by state and
    department, missed deadlines by kind (from the statistics' moments since the ledger's
    rows dropped the facts), the most overdue."""
    facts = random_facts(random.Random(5), 400)
    rows = [projected(f, deadlines=f.case_id.int % 4) for f in facts]
    ledger.apply(rows, 1)
    memory = MemoryLedger()
    memory.apply(rows, 1)

    counted = ledger.gauges(T0)
    assert counted == memory.gauges(T0)
    assert sum(counted.cases_by_status.values()) == 400
    assert {state for state, _ in counted.deadlines} == {"running", "due-soon", "overdue", "paused"}
    breaches = sum(len(f.breaches) for f in facts if f.registered_at)
    assert sum(counted.breaches_by_kind.values()) == breaches > 100
    assert counted.most_overdue_seconds > 90 * 3600


def test_a_ledger_from_before_the_statistics_tables_is_counted_after_the_migration(infra):
    settings = fresh(infra)
    every = [m for package in MIGRATIONS for m in package_migrations(package)]
    first = next(i for i, m in enumerate(every) if m.name == "statistics_facts")
    apply_migrations(settings, "followup", every[:first])
    facts = random_facts(random.Random(11), 300)
    store_in_ledger_cases(settings, facts)

    assert "statistics_facts" in [m.name for m in apply_migrations(settings, "followup", every)]
    ledger = PostgresLedger(settings)
    try:
        assert compare(ledger, facts) > 100
    finally:
        ledger.close()
