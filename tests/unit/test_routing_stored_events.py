"""Assignments an earlier release stored — its departments and places as plain dicts, its
enums as plain strings — load into the typed domain, and give the same wire output, byte
for byte, the same assignment views and the same inboxes as that release did.

`data/routing_stored_before_value_objects.json` was recorded by that release: every kind of
assignment event of five cases (answers, an objection overruled, recusal and take-over, a
part reported, the whole ladder, dispatch by hand, ping-pong, a reroute by the catalogue,
an accusation kept from the accused, a withdrawal), with what it published and showed."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.persistence import StoredEvent
from fastapi.encoders import jsonable_encoder

from services.routing import wire
from services.routing.api.views import assignment_view
from services.routing.application import RoutingApplication
from services.routing.domain import (
    Assignment,
    DepartmentRef,
    HandOff,
    Level,
    PartyState,
    Role,
    Status,
    Trigger,
)
from shared.domain import Actor
from shared.policy import Sight, sight
from shared.territory import Location
from tests.territory import seeded

RECORDED = json.loads(
    (Path(__file__).parent / "data" / "routing_stored_before_value_objects.json").read_text()
)
SUPERVISOR = Actor("zhou", "supervisor")


def stored(entry: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        originator_id=UUID(entry["originator_id"]),
        originator_version=entry["originator_version"],
        topic=entry["topic"],
        state=entry["state"].encode(),
    )


@pytest.fixture(scope="module")
def app() -> RoutingApplication:
    """Today's routing on the same territory, with the earlier release's events in its store."""
    app = seeded(RoutingApplication())
    app.recorder.insert_events([stored(e) for e in RECORDED["events"]])
    return app


def test_the_old_events_go_on_the_wire_as_they_did_byte_for_byte(app):
    for entry, published in zip(RECORDED["events"], RECORDED["wire"], strict=True):
        event = app.mapper.to_domain_event(stored(entry))
        cloudevent = wire.to_cloudevent(event)
        assert (cloudevent.to_json().decode() if cloudevent else None) == published, entry["topic"]


def test_the_old_assignments_read_as_they_did(app):
    for case_id in RECORDED["cases"]:
        seen = jsonable_encoder(assignment_view(app.get_assignment(UUID(case_id)), SUPERVISOR))
        assert seen == RECORDED["views"][case_id]
    accused = Actor("li", "handler", "ninghe-hrss")
    hidden = app.case_access(UUID(RECORDED["cases"][3]))
    assert sight(accused, hidden) is Sight.HIDDEN  # the old restriction still holds


def test_the_inboxes_and_the_queue_list_the_old_assignments_as_they_did(app):
    for department, (rows, total) in RECORDED["inboxes"].items():
        found, count = app.department_inbox(department)
        listed = jsonable_encoder([asdict(r) for r in found])
        # the fields listed then, as they were (later releases add fields, e.g. the rule)
        assert ([{k: r[k] for k in old} for r, old in zip(listed, rows, strict=True)], count) == (
            rows,
            total,
        )
    queued, count = app.inbox.manual_queue()
    assert [jsonable_encoder([asdict(r) for r in queued]), count] == RECORDED["manual_queue"]


def test_the_old_events_are_read_back_as_the_typed_vocabulary(app):
    first, manual = (UUID(c) for c in RECORDED["cases"][:2])
    assigned = next(app.events.get(first))
    assert isinstance(assigned, Assignment.Assigned)
    assert assigned.lead == DepartmentRef("ninghe-hrss", "宁河区人力资源和社会保障局")
    assert assigned.co_handlers == (DepartmentRef("ninghe-civil", "宁河区民政局"),)
    assert assigned.location == Location("xinhua", ("ninghe", "qiaobei", "xinhua"))

    a = project_aggregate(None, app.events.get(first))
    assert a.status is Status.ACCEPTED and a.level is Level.LEADER
    hrss = a.parties["ninghe-hrss"]
    assert (hrss.role, hrss.state, hrss.handler) == (Role.LEAD, PartyState.ACCEPTED, "zhao")
    assert [type(e.trigger) for e in a.escalations] == [Trigger]
    b = project_aggregate(None, app.events.get(manual))
    assert [t.trigger for t in b.transfers] == [HandOff.OBJECTION, HandOff.OBJECTION]
    assert all(type(t.trigger) is HandOff for t in b.transfers)
