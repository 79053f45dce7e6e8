"""Events follow-up stored before its vocabulary was typed carried plain JSON objects where
they now carry value objects: deadlines, departments, the location, history entries. Stored
in that shape, they load into the same typed case and history, and go on the wire as they
did then."""

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from services.followup import wire
from services.followup.api.views import deadline_view, history_event
from services.followup.application import FollowUpApplication
from services.followup.domain import (
    CaseHistory,
    Extension,
    FollowUpCase,
    HistoryEntry,
    Unit,
    history_id,
)
from services.followup.domain.vocabulary import DeadlineKind, DeadlineState, Milestone
from shared.domain import Actor
from shared.territory import Location
from shared.vocabulary import Channel

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
SYSTEM = {"user": "service:followup", "role": "system", "department": None}
HRSS = {"code": "ninghe-hrss", "name": "宁河区人力资源和社会保障局"}


def store_as_then(app: FollowUpApplication, aggregate_id: UUID, events: list) -> None:
    """Events as an earlier release stored them: each class with its state in the shape of
    then, without a class version (version 1)."""
    app.recorder.insert_events(
        [
            StoredEvent(
                originator_id=aggregate_id,
                originator_version=version,
                topic=get_topic(cls),
                state=app.mapper.transcoder.encode({"timestamp": T0, **state}),
            )
            for version, (cls, state) in enumerate(events, start=2)
        ]
    )


def store_created(app: FollowUpApplication, aggregate: Any) -> None:
    app.recorder.insert_events([app.mapper.to_stored_event(e) for e in aggregate.collect_events()])


def scheduled_then(**over: Any) -> dict[str, Any]:
    """A deadline as `DeadlinesScheduled` carried it then: a JSON object of its fields."""
    return {
        "id": "acceptance-notice#1",
        "kind": "acceptance-notice",
        "starts_on": "registered",
        "starts_at": T0,
        "due_at": T0 + timedelta(days=15),
        "remind_at": T0 + timedelta(days=12),
        "period": "15 days",
        "rule": "tell the petitioner in writing within 15 days whether the matter is accepted",
        "legal_basis": "《信访工作条例》第二十三条",
        "responsible_role": "first-receiver",
        "responsible": "first receiver alice",
        "department": None,
        "escalates": False,
        **over,
    }


# A handling plan scheduled by the walking skeleton (no id, department or reminder time),
# then reminded, paused an hour, extended and breached, each event carrying it as it stood.
PLAN = {
    "kind": "handling-plan",
    "starts_at": T0,
    "due_at": T0 + timedelta(days=1),
    "rule": "13710",
    "legal_basis": "13710 工作法",
}
EXTENDED = {
    "period": "until 2026-11-04",
    "reason": "hearing",
    "approved_by": "lin",
    "from": T0 + timedelta(days=1),
    "at": T0 + timedelta(hours=2),
}
RESUMED = {
    **PLAN,
    "id": "handling-plan#1",
    "due_at": T0 + timedelta(days=2, hours=1),
    "reminded_at": T0 + timedelta(hours=1),
    "extended": EXTENDED,
    "paused_at": None,
    "paused_seconds": 3600,
}


def a_case_as_stored_then(app: FollowUpApplication) -> UUID:
    case = FollowUpCase.open(uuid4())
    store_created(app, case)
    trace = {"actor": SYSTEM, "correlation_id": "c", "causation_id": None}
    store_as_then(
        app,
        case.id,
        [
            (
                FollowUpCase.RegistrationNoted,
                {
                    "subject": "欠薪",
                    "category": "labour-wages",
                    "location": {"district": "ninghe", "street": "lutai", "community": "jinxiu"},
                    "registered_at": T0,
                    "first_receiver": "alice",
                    "channel": "visit",
                    "group_size": None,
                    "petitioner_ids": [],
                    "lookup_code_hash": None,
                },
            ),
            (FollowUpCase.DeadlinesScheduled, {**trace, "deadlines": [scheduled_then()]}),
            (
                FollowUpCase.AssignmentNoted,
                {"lead": HRSS, "co_handlers": [HRSS | {"code": "x"}], "assigned_at": T0},
            ),
            (FollowUpCase.DeadlinesScheduled, {**trace, "deadlines": [PLAN]}),
            (
                FollowUpCase.ReminderSent,
                {**trace, "deadline": {**PLAN, "id": "handling-plan#1"}, "at": T0},
            ),
            (
                FollowUpCase.ClocksPaused,
                {**trace, "ids": ["handling-plan#1"], "reason": "hearing", "at": T0},
            ),
            (
                FollowUpCase.ClocksResumed,
                {**trace, "deadlines": [RESUMED], "paused_seconds": 3600, "at": T0},
            ),
            (
                FollowUpCase.DeadlineBreached,
                {**trace, "deadline": RESUMED, "at": T0 + timedelta(days=3)},
            ),
        ],
    )
    return case.id


def test_a_case_stored_with_plain_json_loads_typed():
    app = FollowUpApplication()
    case_id = a_case_as_stored_then(app)
    case = app.get_case(case_id)
    assert case.location == Location("jinxiu", ("ninghe", "lutai", "jinxiu"))
    assert case.channel is Channel.VISIT
    assert case.lead == Unit(HRSS["code"], HRSS["name"])
    assert case.co_handlers == [Unit("x", HRSS["name"])]
    notice, plan = case.deadlines
    assert notice.kind is DeadlineKind.ACCEPTANCE_NOTICE
    assert notice.starts_on is Milestone.REGISTERED
    assert notice.escalates is False
    assert plan.key == "handling-plan#1"  # numbered as the case scheduled it
    assert plan.escalates is None  # not recorded then
    assert plan.extended == Extension(
        "until 2026-11-04", "hearing", "lin", T0 + timedelta(days=1), T0 + timedelta(hours=2)
    )
    assert (plan.reminded_at, plan.paused_seconds) == (T0 + timedelta(hours=1), 3600)
    assert plan.breached_at == T0 + timedelta(days=3)
    assert plan.state_at(T0 + timedelta(days=4)) is DeadlineState.OVERDUE
    assert case.status == "assigned"
    shown = deadline_view(plan, T0)
    assert shown["extended"]["from"] == T0 + timedelta(days=1)  # as callers read it then
    assert (shown["paused_at"], shown["paused_seconds"]) == (None, 3600)


def test_events_stored_with_plain_json_go_on_the_wire_as_they_did():
    app = FollowUpApplication()
    case_id = a_case_as_stored_then(app)
    told = {}
    for n in app.recorder.select_notifications(start=0, limit=100, inclusive_of_start=False):
        event = wire.to_cloudevent(app.mapper.to_domain_event(n))
        if event:
            told.setdefault(event.type.split(".")[2:4][1], []).append(event.data)
    c = str(case_id)
    assert told["scheduled"][1] == {
        "case_id": c,
        "deadlines": [
            {
                "kind": "handling-plan",
                "due_at": "2026-11-03T01:00:00Z",
                "starts_at": "2026-11-02T01:00:00Z",
                "rule": "13710",
                "legal_basis": "13710 工作法",
                "id": None,  # scheduled before deadlines had ids: as it was sent then
                "remind_at": None,
                "department": None,
            }
        ],
    }
    assert told["reminder"] == [
        {
            "case_id": c,
            "deadline": "handling-plan#1",
            "kind": "handling-plan",
            "due_at": "2026-11-03T01:00:00Z",
            "department": None,
            "responsible": None,
            "rule": "13710",
        }
    ]
    assert told["overdue"] == [
        {
            "case_id": c,
            "deadline": "handling-plan",
            "due_at": "2026-11-04T02:00:00Z",
            "department": None,
            "deadline_id": "handling-plan#1",
            "escalate": False,  # not recorded then: the standard policy's plan does not
        }
    ]
    [resumed] = told["resumed"]
    assert resumed["deadlines"][0]["due_at"] == "2026-11-04T02:00:00Z"


def old_hash(previous: str, entry: dict[str, Any]) -> str:
    """How the first release hashed an entry: its JSON object with sorted keys."""
    text = json.dumps(entry, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(previous.encode() + text.encode()).hexdigest()


def test_a_history_stored_with_plain_json_loads_typed_and_its_chain_still_verifies():
    app = FollowUpApplication()
    case_id = uuid4()
    history = CaseHistory.start(case_id)
    store_created(app, history)
    entries, recorded, previous = [], [], "0" * 64
    for i, type_ in enumerate(("intake.case.registered.v2", "routing.case.assigned.v1")):
        entry = {
            "event_id": f"e{i}",
            "service": type_.split(".")[0],
            "type": f"onestop.{type_}",
            "time": (T0 + timedelta(seconds=i)).isoformat(),
            "actor": {"user": "alice", "role": "clerk", "department": "window-3"},
            "correlation_id": "c",
            "causation_id": f"e{i - 1}" if i else None,
            "data": {"case_id": str(case_id), "n": [i, {"x": "是"}]},
        }
        hashed = old_hash(previous, entry)
        recorded.append(
            (CaseHistory.EntryRecorded, {"entry": entry, "previous_hash": previous, "hash": hashed})
        )
        entries.append({**entry, "previous_hash": previous, "hash": hashed})
        previous = hashed
    store_as_then(app, history_id(case_id), recorded)

    loaded, verification = app.history(case_id)
    assert verification.verified and verification.head_hash == previous
    assert loaded[1].entry == HistoryEntry(
        event_id="e1",
        service="routing",
        type="onestop.routing.case.assigned.v1",
        time=T0 + timedelta(seconds=1),
        actor=Actor("alice", "clerk", "window-3"),
        correlation_id="c",
        causation_id="e0",
        data={"case_id": str(case_id), "n": [1, {"x": "是"}]},
    )
    assert [history_event(link) for link in loaded] == entries  # as auditors read it then


def test_an_entry_is_sent_as_the_text_its_hash_was_checked_over_or_as_written_before():
    """A history read sends each entry from the text its hash was checked over (keys sorted)
    — the same JSON as `history_event` makes of it — and an entry orjson cannot write (an
    integer past 64 bits, which the chain hashes by the json module) as the json module
    writes it, not a failed answer."""
    import orjson

    from services.followup.api.views import history_event_json

    case_id = uuid4()
    app = FollowUpApplication()
    history = CaseHistory.start(case_id)
    for n, value in enumerate([{"x": "是", "n": [1, 2.5]}, {"big": 2**70}]):
        history.record(
            HistoryEntry(
                event_id=f"e{n}",
                service="routing",
                type="onestop.routing.case.assigned.v1",
                time=T0 + timedelta(seconds=n),
                actor=Actor("alice", "clerk", "window-3"),
                correlation_id="c",
                causation_id=None,
                data={"case_id": str(case_id), **value},
            )
        )
    app.save(history)
    loaded, verification = app.history(case_id)
    assert verification.verified
    sent = json.loads(orjson.dumps([history_event_json(link) for link in loaded]))
    assert sent == [history_event(link) for link in loaded]
    assert sent[1]["data"]["big"] == 2**70
