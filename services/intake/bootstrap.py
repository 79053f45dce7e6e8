"""Wires intake from settings: its application, group commit, relay and API."""

from __future__ import annotations

from fastapi import FastAPI

from services.intake import api, wire
from services.intake.application import IntakeApplication
from shared.batching import GroupCommitter
from shared.kafka import Relay, ensure_topics
from shared.service import Runtime, create_api
from shared.settings import Settings
from shared.store import ensure_schema, eventsourcing_env


def build_runtime(settings: Settings) -> Runtime:
    ensure_schema(settings, "intake")
    ensure_topics(settings, [settings.topic("intake")])
    app = IntakeApplication(eventsourcing_env(settings, "intake", encrypt=True))
    relay = Relay(app, settings, "intake", wire.to_cloudevent)
    committer = GroupCommitter(app.save, after_save=relay.wake)
    app.use_group_commit(committer)
    return Runtime(
        "intake", settings, app, relay=relay, on_start=[committer.start], on_stop=[committer.close]
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.load()
    return create_api(
        lambda: build_runtime(settings),
        settings,
        title="OneStop intake",
        description="Registers every petition at one door and publishes what it registered.",
        routers=[api.router],
    )
