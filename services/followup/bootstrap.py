"""Wires follow-up from settings: its application, relay, consumer of all three topics, the
clock that fires reminders and breaches, and the API."""

from __future__ import annotations

import logging
import threading

from fastapi import FastAPI

from services.followup import api, wire
from services.followup.application import FollowUpApplication
from services.followup.attachments import blob_store
from services.followup.attempts import PostgresAttempts
from services.followup.checkpoints import (
    Checkpoints,
    KafkaPublisher,
    PostgresHeads,
    advisory_lock,
)
from services.followup.ledger import PostgresLedger
from services.followup.metrics import FollowUpMetrics
from services.followup.policy import load_policy
from shared.clock import service_clock
from shared.kafka import Consumer, Relay, ensure_topics
from shared.kafka_access import followed_topics, own_topics
from shared.keys import evidence_signer
from shared.migrations import SHARED, migrate
from shared.service import Runtime, create_api
from shared.settings import Settings
from shared.store import eventsourcing_env

#: The routes this service serves (the policy matrix test walks the same list).
ROUTERS = [api.router, api.public]

log = logging.getLogger("onestop.followup")


MIGRATIONS = (SHARED, "services.followup.migrations")
"""What follow-up's schema is made of: its events are the library's tables, its relay's
position is shared code's, its work ledger its own."""


def build_runtime(settings: Settings) -> Runtime:
    migrate(settings, "followup", *MIGRATIONS)
    followed = followed_topics(settings, "followup")
    ensure_topics(settings, own_topics(settings, "followup"), "followup")
    app = FollowUpApplication(
        eventsourcing_env(settings, "followup"),
        clock=service_clock(settings.clock_file),
        policy=load_policy(settings.followup_policy),
        ledger=PostgresLedger(settings),
        code_attempts=PostgresAttempts(settings),
    )
    publisher = KafkaPublisher(settings)
    heads = PostgresHeads(settings)
    checkpoints = Checkpoints(
        app,
        settings.folder(settings.checkpoint_dir, "checkpoints"),
        evidence_signer(settings),
        publisher=publisher,
        lock=advisory_lock(settings),
        clock=app.clock,
        leaves_kept=settings.checkpoint_leaves_kept,
        heads=heads,
    )
    app.use_evidence(blob_store(settings), settings.attachment_max_bytes, checkpoints)
    relay = Relay(app, settings, "followup", wire.to_cloudevent, wire.publishes)
    consumer = Consumer(
        settings, "followup", followed, app, after_batch=relay.wake, gather_ms=Consumer.GATHER_MS
    )

    def clock(stop: threading.Event) -> None:
        """Fires what fell due, at once after a start (what came due while the service was
        down fires late rather than never) and then every `scheduler_seconds`."""
        while True:
            try:
                if app.fire_due():
                    relay.wake()
            except Exception:
                log.exception("the follow-up clock failed; trying again")
            if stop.wait(settings.scheduler_seconds):
                return

    return Runtime(
        "followup",
        settings,
        app,
        relay=relay,
        consumer=consumer,
        loops={
            "clock": clock,
            "ledger": app.ledger.projector.run,
            # kept close behind the log like the ledger, so a blip of PostgreSQL makes the
            # service not ready for a second, not until the next checkpoint
            "chain-heads": checkpoints.projector.run,
            "checkpoints": lambda stop: checkpoints.run(stop, settings.checkpoint_seconds),
        },
        collectors=[FollowUpMetrics(app, settings.gauges_seconds)],
        # the ledger catches up on what was logged while the service was down before the
        # service says it is up (seconds: it is kept in PostgreSQL, not rebuilt)
        on_start=[app.ledger.catch_up],
        on_stop=[publisher.close, heads.close],
        ready_checks=[app.ledger.projector.unready, checkpoints.projector.unready],
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.load()
    return create_api(
        lambda: build_runtime(settings),
        settings,
        title="OneStop follow-up",
        description="Puts every case on the clock, follows its handling to an outcome, the "
        "return visit, review and close-out, and keeps its full, verifiable history.",
        routers=ROUTERS,
    )
