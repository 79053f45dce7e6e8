"""Wires routing from settings: its application, relay, consumer of intake's events and API."""

from __future__ import annotations

from fastapi import FastAPI

from services.routing import api, wire
from services.routing.application import RoutingApplication
from services.routing.inbox import PostgresInbox
from services.routing.metrics import RoutingMetrics
from shared.clock import service_clock
from shared.kafka import Consumer, Relay, ensure_topics
from shared.kafka_access import followed_topics, own_topics
from shared.migrations import SHARED, migrate
from shared.service import Runtime, create_api
from shared.settings import Settings
from shared.store import eventsourcing_env

#: The routes this service serves (the policy matrix test walks the same list).
ROUTERS = [api.router]

MIGRATIONS = (SHARED, "services.routing.migrations")
"""What routing's schema is made of: its events are the library's tables, its relay's
position is shared code's, its inboxes its own."""


def build_runtime(settings: Settings) -> Runtime:
    migrate(settings, "routing", *MIGRATIONS)
    followed = followed_topics(settings, "routing")
    ensure_topics(settings, own_topics(settings, "routing"), "routing")
    app = RoutingApplication(
        eventsourcing_env(settings, "routing"),
        clock=service_clock(settings.clock_file),
        inbox=PostgresInbox(settings),
    )
    relay = Relay(app, settings, "routing", wire.to_cloudevent, wire.publishes)
    consumer = Consumer(settings, "routing", followed, app, after_batch=relay.wake)
    return Runtime(
        "routing",
        settings,
        app,
        relay=relay,
        consumer=consumer,
        collectors=[RoutingMetrics(app, settings.gauges_seconds)],
        loops={"inbox": app.inbox.projector.run},
        on_start=[app.inbox.catch_up],
        ready_checks=[app.inbox.projector.unready],
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.load()
    return create_api(
        lambda: build_runtime(settings),
        settings,
        title="OneStop routing",
        description="Assigns every case to the departments that own it, by a published catalogue.",
        routers=ROUTERS,
    )
