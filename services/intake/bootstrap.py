"""Wires intake from settings: its application, case index, relay, consumer and APIs."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from eventsourcing.utils import Environment
from fastapi import FastAPI

from services.intake import api, wire
from services.intake.application import IntakeApplication
from services.intake.erasure import PostgresPersonKeys
from services.intake.index import PostgresIndexStore
from services.intake.reads import PostgresReadLog
from shared.batching import GroupCommitter
from shared.cipher import FastAESCipher
from shared.clock import service_clock
from shared.kafka import Consumer, Relay, ensure_topics
from shared.kafka_access import followed_topics, own_topics
from shared.keys import Keys
from shared.migrations import SHARED, migrate
from shared.service import ReadyCheck, Runtime, create_api
from shared.settings import Settings
from shared.store import eventsourcing_env

#: The routes this service serves (the policy matrix test walks the same list).
ROUTERS = [api.router, api.open311.router]

MIGRATIONS = (SHARED, "services.intake.migrations")
"""What intake's schema is made of, in the order it is migrated."""


def build_application(settings: Settings) -> IntakeApplication:
    """Intake's application on PostgreSQL, its schema migrated first: events encrypted,
    each petitioner's personal data sealed under their own key, petitioners found by keyed
    hash."""
    migrate(settings, "intake", *MIGRATIONS)
    keys = Keys.of(settings)
    wrapping = FastAESCipher(Environment(env={"CIPHER_KEY": keys.data_keyring}))
    return IntakeApplication(
        eventsourcing_env(settings, "intake", encrypt=True),
        keys=keys,
        index_store=PostgresIndexStore(settings),
        read_log=PostgresReadLog(settings),
        clock=service_clock(settings.clock_file),
        zone=ZoneInfo(settings.timezone),
        person_keys=PostgresPersonKeys(settings, wrapping),
        retention=timedelta(days=settings.retention_days) if settings.retention_days else None,
    )


def ready_checks(app: IntakeApplication) -> list[ReadyCheck]:
    """What intake needs to serve correctly besides its database and its consumer: a case
    index that projects (listings, duplicate search and Open311 read it)."""
    return [app.index.unready]


def build_runtime(settings: Settings) -> Runtime:
    followed = followed_topics(settings, "intake")
    ensure_topics(settings, own_topics(settings, "intake"), "intake")
    app = build_application(settings)
    relay = Relay(app, settings, "intake", wire.to_cloudevent, wire.publishes)

    def saved() -> None:
        relay.wake()
        app.index.wake()

    committer = GroupCommitter(app.save_group, after_save=saved)
    app.use_group_commit(committer)
    consumer = Consumer(settings, "intake", followed, app, gather_ms=Consumer.GATHER_MS)
    return Runtime(
        "intake",
        settings,
        app,
        relay=relay,
        consumer=consumer,
        on_start=[committer.start],
        on_stop=[committer.close],
        loops={
            "index": app.index.run,
            "retention": lambda stop: app.retention_sweep(stop, settings.retention_sweep_seconds),
        },
        ready_checks=ready_checks(app),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.load()
    return create_api(
        lambda: build_runtime(settings),
        settings,
        title="OneStop intake",
        description="Registers every petition at one door, from every channel, and publishes "
        "what it registered. Also speaks Open311 GeoReport v2 under /open311/v2.",
        routers=ROUTERS,
    )
