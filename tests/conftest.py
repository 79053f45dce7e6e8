"""Fixtures for tests on the real PostgreSQL and Kafka that `make test` starts.

Tests use their own database (<dbname>_test), a fresh topic prefix per run and their own
HTTP ports, so they never touch what `make up` runs. If the servers are not reachable the
tests fail and say so: they are never silently skipped.
"""

from __future__ import annotations

import os
from uuid import uuid4

import psycopg
import pytest
from kafka import KafkaAdminClient

from shared.settings import Settings
from shared.store import connect

SCHEMAS = ("intake", "routing", "followup")


def fresh(settings: Settings) -> Settings:
    """The same servers, a clean slate: empty schemas and topics no one used before."""
    with connect(settings) as conn:
        for schema in SCHEMAS:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return settings.model_copy(update={"topic_prefix": f"test-{uuid4().hex[:10]}"})


@pytest.fixture(scope="session")
def infra() -> Settings:
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
        }
    )
    try:
        with connect(settings) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL is not reachable ({error}); run the tests with `make test`")
    try:
        KafkaAdminClient(
            bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000
        ).close()
    except Exception as error:
        pytest.fail(f"Kafka is not reachable ({error}); run the tests with `make test`")
    return settings
