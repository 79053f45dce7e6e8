"""Reading the numbered migration files: the order they run in is never ambiguous."""

from __future__ import annotations

import pytest

from services.followup.bootstrap import MIGRATIONS as FOLLOWUP
from services.intake.bootstrap import MIGRATIONS as INTAKE
from services.routing.bootstrap import MIGRATIONS as ROUTING
from shared.migrations import MigrationError, package_migrations, read_migrations


def test_files_run_in_number_order_and_other_files_are_not_migrations(tmp_path):
    (tmp_path / "0010_later.sql").write_text("SELECT 10;")
    (tmp_path / "0002_sooner.sql").write_text("SELECT 2;")
    (tmp_path / "README.txt").write_text("how to add one")

    found = read_migrations("test", tmp_path)

    assert [(m.version, m.name, m.sql) for m in found] == [
        (2, "sooner", "SELECT 2;"),
        (10, "later", "SELECT 10;"),
    ]
    assert found[0].checksum != found[1].checksum


@pytest.mark.parametrize("name", ["1_short.sql", "0003-dash.sql", "0003_Upper.sql", "x.sql"])
def test_a_sql_file_not_named_by_number_is_refused_naming_it(tmp_path, name):
    (tmp_path / name).write_text("SELECT 1;")

    with pytest.raises(MigrationError, match=name.replace(".", r"\.")):
        read_migrations("test", tmp_path)


def test_two_files_with_one_number_are_refused(tmp_path):
    (tmp_path / "0001_one.sql").write_text("SELECT 1;")
    (tmp_path / "0001_other.sql").write_text("SELECT 1;")

    with pytest.raises(MigrationError, match="two files are number 0001"):
        read_migrations("test", tmp_path)


def test_every_service_ships_its_migrations_and_the_relay_table_first():
    for packages in (INTAKE, ROUTING, FOLLOWUP):
        shipped = [str(m) for p in packages for m in package_migrations(p)]
        assert shipped[0] == "shared.migrations 0001_relay_position"
    assert [m.name for m in package_migrations("services.intake.migrations")] == [
        "case_index",
        "case_index_places",
        "case_index_barred",
        "personal_data_reads",
        "person_keys",
        "case_index_open",
        "case_index_personal_data",
        "case_index_version",
        "case_index_gin_direct",
        "person_keys_destroyed",
    ]
    assert [m.name for m in package_migrations("services.followup.migrations")][-7:] == [
        "code_attempts",
        "signed_leaves",
        "ledger_board",
        "ledger_gin_direct",
        "statistics_facts",
        "ledger_status",
        "ledger_slim",
    ]


def test_the_tests_clean_slate_refuses_a_database_that_is_not_a_test_one():
    """`fresh` drops the services' schemas: given the settings `make up` runs with (a slip
    in a one-off script did that to a stack's store), it refuses before connecting."""
    from shared.settings import Settings
    from tests.conftest import fresh

    with pytest.raises(RuntimeError, match="not a test database"):
        fresh(Settings(pg_dbname="onestop", pg_port=1))
