"""The demo territory the services start with (`make up` imports the same file), for tests:
routing registers it through its own command; intake and follow-up hear it as they would
from Kafka — routing's registry events, mapped to the wire and handed to their consumer."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from itertools import count
from pathlib import Path
from typing import Any, TypeVar

import yaml
from eventsourcing.persistence import Tracking

from shared.domain import Actor
from shared.envelope import CloudEvent
from shared.territory import Department, Entity, Line, Place, Territory, TerritoryDocument, Window
from shared.territory_file import TerritoryFile

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "deploy" / "territories" / "ninghe-qiaocheng.yaml"
ADMIN = Actor("admin", "admin")
A = TypeVar("A")
_offsets = count(1_000_000)


def territory_file(path: Path = SEED) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def document(path: Path = SEED) -> TerritoryDocument:
    return TerritoryFile.model_validate(territory_file(path)).document()


@cache
def registry_events(path: Path = SEED) -> tuple[bytes, ...]:
    """Routing's registry events for the file, as they go on the wire."""
    from services.routing import wire
    from services.routing.application import RoutingApplication

    routing = RoutingApplication()
    routing.import_territory(document(path), ADMIN)
    events = [
        wire.to_cloudevent(e)
        for e in routing.events.get(routing.organisation().id)  # type: ignore[union-attr]
    ]
    return tuple(e.to_json() for e in events if e is not None)


def seeded(app: A, path: Path = SEED) -> A:
    """The application with the territory registered (routing) or heard (the others)."""
    from services.routing.application import RoutingApplication

    if isinstance(app, RoutingApplication):
        app.import_territory(document(path), ADMIN)
        return app
    for record in registry_events(path):
        app.handle(  # type: ignore[attr-defined]
            CloudEvent.from_json(record), Tracking("kafka:registry:0", next(_offsets))
        )
    return app


@cache
def territory(path: Path = SEED) -> Territory:
    """The file's territory, as every service reads it once registered."""
    merged, problems = document(path).merged_into(Territory())
    assert not problems, problems
    return merged


def registry_change(item: Entity) -> CloudEvent:
    """Routing's registry publishing this entry, as a consumer reads it off the wire."""
    from shared.messages import RegistryChanged, dump

    kinds = {Place: "place", Department: "department", Line: "line", Window: "window"}
    message = RegistryChanged(
        changed_at=datetime.now(UTC), by="admin", **{kinds.get(type(item), "category"): item}
    )
    event = CloudEvent(
        id=f"routing:told:{next(_offsets)}",
        source="/onestop/routing",
        type=message.TYPE,
        subject="registry",
        time=message.changed_at,
        data=dump(message),
        actor=ADMIN,
        correlation_id="told",
    )
    return CloudEvent.from_json(event.to_json())


def told(app: A, *items: Entity) -> A:
    """The application hears routing's registry publish these entries, as it would once an
    admin defined them (routing checks them first; a replica trusts what it hears)."""
    for item in items:
        app.handle(  # type: ignore[attr-defined]
            registry_change(item), Tracking("kafka:registry:0", next(_offsets))
        )
    return app
