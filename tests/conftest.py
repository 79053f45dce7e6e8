"""Fixtures for tests on the real PostgreSQL and Kafka that `make test` starts.

Tests use their own database (<dbname>_test), a fresh topic prefix per run and their own
HTTP ports, so they never touch what `make up` runs. If the servers are not reachable the
tests fail and say so: they are never silently skipped.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from uuid import uuid4

import psycopg
import pytest
from kafka import KafkaAdminClient

from shared.kafka import client_options
from shared.kafka_access import deprovision, provision
from shared.settings import Settings
from shared.store import connect

SCHEMAS = ("intake", "routing", "followup")


def fresh(settings: Settings) -> Settings:
    """The same servers, a clean slate: empty schemas and topics no one used before — with
    the ACLs that let each service write its own (as `make up` provisions them). Only in a
    test database (`test_settings`): it drops the services' schemas."""
    if not settings.pg_dbname.endswith("_test"):
        raise RuntimeError(
            f"fresh() drops the services' schemas: {settings.pg_dbname!r} is not a test "
            "database (<name>_test, see test_settings)"
        )
    with connect(settings) as conn:
        for schema in SCHEMAS:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    clean = settings.model_copy(update={"topic_prefix": f"test-{uuid4().hex[:10]}"})
    provision(clean, users=False)
    _made.append(clean)
    return clean


_made: list[Settings] = []
"""Every topic prefix this session provisioned: removed at its end, so the broker does not
carry thousands of test partitions into its next start."""


@pytest.fixture(scope="session", autouse=True)
def _remove_test_topics() -> Iterator[None]:
    yield
    for settings in _made:
        try:
            deprovision(settings)
        except Exception as error:  # a broker already gone: nothing left to keep tidy
            print(f"could not remove the topics of {settings.topic_prefix}: {error}")


@pytest.fixture(scope="session")
def infra() -> Settings:
    return test_settings()


def test_settings() -> Settings:
    """The servers `make test` started, with this checkout's own database and ports; fails
    saying so when they are not reachable."""
    base = Settings.load()
    # Several checkouts may test against one PostgreSQL and Kafka at once: each picks its
    # own database (ONESTOP_PG_DBNAME) and, here, its own block of HTTP ports.
    ports = int(os.environ.get("ONESTOP_TEST_PORT_BASE", "18000"))
    settings = base.model_copy(
        update={
            "pg_dbname": f"{base.pg_dbname}_test",
            "intake_port": ports + 1,
            "routing_port": ports + 2,
            "followup_port": ports + 3,
            "console_port": ports + 4,
        }
    )
    try:
        with connect(settings) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable ({error}); run the tests with `make test`")
    try:
        KafkaAdminClient(**client_options(settings, "admin"), request_timeout_ms=5000).close()
    except Exception as error:
        pytest.fail(f"Kafka is not reachable ({error}); run the tests with `make test`")
    return settings
