"""Deliver a contract to an application as its consumer would: a CloudEvent on the wire."""

from datetime import UTC, datetime, timedelta
from itertools import count
from uuid import uuid4

from eventsourcing.persistence import Tracking

from shared.domain import Actor
from shared.envelope import CloudEvent
from shared.messages import Contract, dump

offsets = count()


def send(app, message: Contract, service: str = "intake", at: datetime | None = None) -> str:
    event = CloudEvent(
        id=f"{service}:{uuid4()}",
        source=f"/onestop/{service}",
        type=message.TYPE,
        subject=message.case_id,  # type: ignore[attr-defined]
        time=at or datetime.now(UTC),
        correlation_id="corr-r",
        actor=Actor("alice", "clerk"),
        data=dump(message),
    )
    app.handle(CloudEvent.from_json(event.to_json()), Tracking("kafka:t:0", next(offsets)))
    return event.id


class Clock:
    """A clock the test moves: months of deadlines in seconds."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
