"""Wires follow-up from settings: its application, relay, consumer of all three topics and API."""

from __future__ import annotations

from fastapi import FastAPI

from services.followup import api, wire
from services.followup.application import FollowUpApplication
from shared.kafka import Consumer, Relay, ensure_topics
from shared.service import Runtime, create_api
from shared.settings import SERVICES, Settings
from shared.store import ensure_schema, eventsourcing_env


def build_runtime(settings: Settings) -> Runtime:
    ensure_schema(settings, "followup")
    followed = [settings.topic(s) for s in SERVICES]
    ensure_topics(settings, [*followed, settings.dead_letter_topic("followup")])
    app = FollowUpApplication(eventsourcing_env(settings, "followup"))
    relay = Relay(app, settings, "followup", wire.to_cloudevent)
    consumer = Consumer(settings, "followup", followed, app, after_batch=relay.wake)
    return Runtime("followup", settings, app, relay=relay, consumer=consumer)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.load()
    return create_api(
        lambda: build_runtime(settings),
        settings,
        title="OneStop follow-up",
        description="Puts every case on the clock and keeps its full, verifiable history.",
        routers=[api.router],
    )
