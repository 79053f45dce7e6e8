"""CloudEvents 1.0 (structured JSON mode) — the only shape that goes onto Kafka.

Extension attributes carry what an auditor needs to follow one hand-off to the next:
`correlationid` (the whole conversation), `causationid` (the event that caused this one)
and the actor (`actor`, `actorrole`, `actordepartment`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from shared.domain import Actor, DomainError

SPEC_VERSION = "1.0"
_REQUIRED = ("specversion", "id", "source", "type", "subject", "time", "correlationid", "actor")


class MalformedEvent(ValueError):
    """A record that is not a OneStop CloudEvent; the message says what is wrong."""


@dataclass(frozen=True)
class CloudEvent:
    id: str
    source: str
    type: str
    subject: str
    time: datetime
    data: dict[str, Any]
    actor: Actor
    correlation_id: str
    causation_id: str | None = None
    dataschema: str | None = None
    extensions: dict[str, Any] = field(default_factory=dict)

    @property
    def service(self) -> str:
        """The publishing service, e.g. 'intake' for source '/onestop/intake'."""
        return self.source.rstrip("/").rsplit("/", 1)[-1]

    def to_json(self) -> bytes:
        body: dict[str, Any] = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "subject": self.subject,
            "time": self.time.isoformat(),
            "datacontenttype": "application/json",
            "correlationid": self.correlation_id,
            "actor": self.actor.user,
            "actorrole": self.actor.role,
            "data": self.data,
        }
        if self.actor.department:
            body["actordepartment"] = self.actor.department
        if self.causation_id:
            body["causationid"] = self.causation_id
        if self.dataschema:
            body["dataschema"] = self.dataschema
        return orjson.dumps(body)

    @classmethod
    def from_json(cls, raw: bytes | None) -> CloudEvent:
        if not raw:
            raise MalformedEvent("empty record")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise MalformedEvent(f"not JSON: {error}") from None
        if not isinstance(body, dict):
            raise MalformedEvent("not a JSON object")
        missing = [name for name in _REQUIRED if not body.get(name)]
        if missing:
            raise MalformedEvent(f"missing CloudEvents attribute(s): {', '.join(missing)}")
        if body["specversion"] != SPEC_VERSION:
            raise MalformedEvent(f"unsupported specversion {body['specversion']!r}")
        if not isinstance(body.get("data"), dict):
            raise MalformedEvent("data must be a JSON object")
        try:
            time = datetime.fromisoformat(body["time"])
            actor = Actor(
                user=body["actor"],
                role=body.get("actorrole", ""),
                department=body.get("actordepartment"),
            )
        except (ValueError, TypeError, DomainError) as error:
            raise MalformedEvent(f"bad attribute: {error}") from None
        if time.tzinfo is None:
            raise MalformedEvent("time must carry a timezone offset")
        return cls(
            id=body["id"],
            source=body["source"],
            type=body["type"],
            subject=body["subject"],
            time=time,
            data=body["data"],
            actor=actor,
            correlation_id=body["correlationid"],
            causation_id=body.get("causationid"),
            dataschema=body.get("dataschema"),
        )


def from_domain_event(service: str, event: Any, data: dict[str, Any], type_: str) -> CloudEvent:
    """The wire form of a stored domain event that carries `actor`, `correlation_id` and
    `causation_id`. Its id is stable, so a republished event is recognisably the same one."""
    return CloudEvent(
        id=f"{service}:{event.originator_id}:{event.originator_version}",
        source=f"/onestop/{service}",
        type=type_,
        subject=str(data.get("case_id") or event.originator_id),
        time=event.timestamp,
        data=data,
        actor=Actor.from_dict(event.actor),
        correlation_id=event.correlation_id,
        causation_id=event.causation_id,
        dataschema=f"https://onestop.example/schemas/{type_}.json",
    )
