"""Schema migrations on the real PostgreSQL: a fresh schema gets them all, a restart applies
nothing, two processes starting at once take turns, an edited migration stops the start,
and a database from the release that created its tables inline upgrades in place."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from services.followup.bootstrap import MIGRATIONS as FOLLOWUP
from services.intake.bootstrap import MIGRATIONS as INTAKE
from services.intake.bootstrap import build_application
from shared.migrations import (
    Migration,
    MigrationError,
    apply,
    migrate,
    package_migrations,
    read_migrations,
    schema_lock,
)
from shared.settings import Settings
from shared.store import connect
from tests.conftest import fresh

pytestmark = pytest.mark.integration

INTAKE_MIGRATIONS = [m for p in INTAKE for m in package_migrations(p)]

PREVIOUS_RELEASE = """
    CREATE SCHEMA IF NOT EXISTS intake;
    CREATE TABLE IF NOT EXISTS intake.case_index (
        case_id uuid PRIMARY KEY, registered_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL, channel text NOT NULL, category text NOT NULL,
        district text NOT NULL, street text NOT NULL, community text, lat double precision,
        long double precision, petitioner_ids text[] NOT NULL, legal_class text,
        status text NOT NULL, lead text, repeat_count integer NOT NULL, external_system text);
    CREATE INDEX IF NOT EXISTS case_index_registered ON intake.case_index (registered_at);
    CREATE INDEX IF NOT EXISTS case_index_place
        ON intake.case_index (category, street, registered_at);
    CREATE INDEX IF NOT EXISTS case_index_petitioners
        ON intake.case_index USING gin (petitioner_ids);
    CREATE TABLE IF NOT EXISTS intake.index_position (
        name text PRIMARY KEY, notification_id bigint NOT NULL);
    CREATE TABLE IF NOT EXISTS intake.relay_position (topic text PRIMARY KEY,
        notification_id bigint NOT NULL, updated_at timestamptz NOT NULL);
"""
"""What the release before migrations created inline (intake's index and its relay)."""


def recorded(settings: Settings, schema: str) -> list[tuple]:
    with connect(settings) as conn:
        return conn.execute(
            f"SELECT owner, version, name, checksum, applied_at FROM {schema}.schema_migrations "
            "ORDER BY applied_at, owner, version"
        ).fetchall()


def tables(settings: Settings, schema: str) -> set[str]:
    with connect(settings) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
    return {name for (name,) in rows}


def write(folder: Path, files: dict[str, str]) -> list[Migration]:
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return read_migrations("test", folder)


def test_a_fresh_schema_gets_every_migration_once_and_a_restart_applies_nothing(infra):
    settings = fresh(infra)

    applied = migrate(settings, "intake", *INTAKE)

    assert [str(m) for m in applied] == [
        "shared.migrations 0001_relay_position",
        "shared.migrations 0002_projection_position",
        "services.intake.migrations 0001_case_index",
        "services.intake.migrations 0002_case_index_places",
        "services.intake.migrations 0003_case_index_barred",
        "services.intake.migrations 0004_personal_data_reads",
        "services.intake.migrations 0005_person_keys",
        "services.intake.migrations 0006_case_index_open",
        "services.intake.migrations 0007_case_index_personal_data",
        "services.intake.migrations 0008_case_index_version",
        "services.intake.migrations 0009_case_index_gin_direct",
        "services.intake.migrations 0010_person_keys_destroyed",
    ]
    assert {"case_index", "index_position", "relay_position", "person_keys"} <= tables(
        settings, "intake"
    )
    first = recorded(settings, "intake")
    assert [(owner, version, name, checksum) for owner, version, name, checksum, _ in first] == [
        (m.owner, m.version, m.name, m.checksum) for m in INTAKE_MIGRATIONS
    ]
    assert all(applied_at is not None for *_, applied_at in first)

    assert migrate(settings, "intake", *INTAKE) == []
    assert recorded(settings, "intake") == first  # not even the times changed


def test_no_array_index_keeps_a_pending_list_that_every_search_would_scan(infra):
    settings = fresh(infra)
    migrate(settings, "intake", *INTAKE)
    migrate(settings, "followup", *FOLLOWUP)

    with connect(settings) as conn:
        gin = conn.execute(
            "SELECT n.nspname || '.' || c.relname, coalesce(c.reloptions, '{}') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_am a ON a.oid = c.relam "
            "WHERE a.amname = 'gin' AND n.nspname IN ('intake', 'followup') ORDER BY 1"
        ).fetchall()

    assert [name for name, _ in gin] == [
        "followup.ledger_cases_path",
        "followup.ledger_deadlines_path",
        "intake.case_index_barred",
        "intake.case_index_path",
        "intake.case_index_petitioners",
        "intake.personal_data_reads_petitioners",
    ]
    assert all("fastupdate=off" in options for _, options in gin), gin


def test_two_processes_starting_at_once_take_turns_and_apply_each_migration_once(infra):
    settings = fresh(infra)
    results: list[list[Migration]] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            results.append(migrate(settings, "intake", *INTAKE))
        except BaseException as error:
            errors.append(error)

    def waiting(conn: psycopg.Connection) -> int:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()
        return int(row[0]) if row else 0

    starters = [threading.Thread(target=start) for _ in range(2)]
    # Both are held at the lock until both wait there, then set off at the same moment.
    with connect(settings) as conn, schema_lock(conn, "intake"):
        for starter in starters:
            starter.start()
        deadline = time.monotonic() + 30
        while waiting(conn) < 2:
            assert time.monotonic() < deadline, "the two starts never both waited for the lock"
            time.sleep(0.05)
    for starter in starters:
        starter.join(30)

    assert errors == []
    assert sorted(len(r) for r in results) == [0, len(INTAKE_MIGRATIONS)]
    assert len(recorded(settings, "intake")) == len(INTAKE_MIGRATIONS)


def test_an_applied_migration_that_was_edited_is_refused_before_anything_is_applied(
    infra, tmp_path
):
    settings = fresh(infra)
    apply(settings, "routing", write(tmp_path, {"0001_first.sql": "CREATE TABLE a (x int);"}))
    before = recorded(settings, "routing")

    edited = write(
        tmp_path,
        {
            "0001_first.sql": "CREATE TABLE a (x int, y int);",
            "0002_second.sql": "CREATE TABLE b (x int);",
        },
    )
    with pytest.raises(MigrationError) as refused:
        apply(settings, "routing", edited)

    assert "test 0001_first" in str(refused.value)
    assert "new numbered file" in str(refused.value)
    assert "b" not in tables(settings, "routing")
    assert recorded(settings, "routing") == before


def test_a_failing_migration_leaves_nothing_half_done_and_runs_again_once_fixed(infra, tmp_path):
    settings = fresh(infra)
    broken = write(
        tmp_path,
        {
            "0001_first.sql": "CREATE TABLE a (x int);",
            "0002_second.sql": "CREATE TABLE b (x int); SELECT 1 / 0;",
        },
    )
    with pytest.raises(psycopg.errors.DivisionByZero):
        apply(settings, "routing", broken)
    assert [(o, v) for o, v, *_ in recorded(settings, "routing")] == [("test", 1)]
    assert tables(settings, "routing") == {"schema_migrations", "a"}

    fixed = write(tmp_path, {"0002_second.sql": "CREATE TABLE b (x int);"})
    assert [m.name for m in apply(settings, "routing", fixed)] == ["second"]
    assert {"a", "b"} <= tables(settings, "routing")


def test_a_store_from_the_release_before_migrations_upgrades_and_keeps_its_data(infra):
    settings = fresh(infra)
    with connect(settings) as conn:
        conn.execute(PREVIOUS_RELEASE)
        conn.execute("INSERT INTO intake.index_position VALUES ('cases', 42)")
        conn.execute("INSERT INTO intake.relay_position VALUES ('onestop.intake.events', 7, now())")

    assert len(migrate(settings, "intake", *INTAKE)) == len(INTAKE_MIGRATIONS)

    with connect(settings) as conn:
        relayed = conn.execute("SELECT notification_id FROM intake.relay_position").fetchall()
    assert relayed == [(7,)]
    app = build_application(settings)
    try:
        # the index had three fixed tiers then: it is projected again from the start
        assert app.index.store.position() == 0
    finally:
        app.close()
