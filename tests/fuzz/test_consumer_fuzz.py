"""Forged Kafka records are normal input for every consumer: each record a service hears is
applied or dead-lettered with its reason — never an error that leaves it on its partition,
where it would come back after every rejoin and stop everything behind it.

The records are real events of every kind the three services put on Kafka (a case through
every kind of event, as follow-up heard and told it; a registration, its classification and
acceptance, and routing's assignment), each changed in one place: the case it is about
(another case, a case's history, the registry, the calendar, the API keys, a petitioner, a
case no one knows), one value of its data (empty, huge, NUL and control characters, the
stored JSON's own tags, another department's code, dates at the ends of the calendar,
numbers past 64 bits, the wrong JSON type), or its type. The services hear them in-process
through their own `Consumer`, on the topics they follow, after the unchanged events; then
each must still do its ordinary work, and the case's history must still verify.

The run is bounded and deterministic: ONESTOP_FUZZ_RECORDS changed records (default 400)
for one ONESTOP_FUZZ_SEED. Set more, or another seed, to hunt.
"""

from __future__ import annotations

import copy
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Tracking

from services.followup import wire as followup_wire
from services.followup.application import FollowUpApplication
from services.followup.domain import CALENDAR_ID as FOLLOWUP_CALENDAR_ID
from services.followup.domain import history_id
from services.intake import wire as intake_wire
from services.intake.application import API_KEYS_ID, IntakeApplication
from services.intake.queue import LAYOUT_ID
from services.routing import wire as routing_wire
from services.routing.application import RoutingApplication
from services.routing.calendar import CALENDAR_ID as ROUTING_CALENDAR_ID
from services.routing.organisation import CATALOGUE_ID, ORGANISATION_ID
from shared.envelope import CloudEvent
from shared.kafka import Consumer
from shared.registry import REPLICA_ID
from shared.settings import Settings
from tests.territory import seeded
from tests.unit.messaging import Clock
from tests.unit.test_consumer_batches import an_accepted_claim
from tests.unit.test_flow import published, register
from tests.unit.test_followup import T0
from tests.unit.test_followup_stored_topics import a_case_through_every_kind_of_event

RECORDS = int(os.environ.get("ONESTOP_FUZZ_RECORDS", "400"))
SEED = int(os.environ.get("ONESTOP_FUZZ_SEED", "20261202"))
FOLLOWS = {
    "intake": ("routing", "followup"),
    "routing": ("intake", "followup"),
    "followup": ("intake", "routing", "followup"),
}


class Parked:
    """The dead-letter producer: keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes, str]] = []

    def send(self, topic: str, key: bytes, value: bytes, headers: list[Any]) -> None:
        self.sent.append((value, dict(headers)["onestop-reason"].decode()))

    def flush(self) -> None:
        pass


@dataclass
class Hearing:
    """One service and its consumer, handed records one at a time as Kafka would."""

    service: str
    app: Any
    consumer: Consumer = field(init=False)
    parked: Parked = field(default_factory=Parked)
    offsets: dict[str, Iterator[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        topics = [f"onestop.{s}.events" for s in FOLLOWS[self.service]]
        self.consumer = Consumer(Settings(), self.service, topics, self.app)

    def hear(self, publisher: str, value: bytes) -> None:
        topic = f"onestop.{publisher}.events"
        offset = next(self.offsets.setdefault(topic, count()))
        record = SimpleNamespace(
            topic=topic, partition=0, offset=offset, timestamp=offset, key=b"k", value=value
        )
        self.consumer._process_poll([[record]], set(), self.parked)


def corpus() -> tuple[list[CloudEvent], UUID, UUID]:
    """Real events of every kind, and the two cases they are about: (events, the case
    follow-up took through everything, the case intake registered and routing assigned)."""
    clock = Clock(T0)
    teller = FollowUpApplication(clock=clock)
    heard: list[CloudEvent] = []
    handle = teller.handle

    def recording(event: CloudEvent, tracking: Tracking) -> None:
        heard.append(event)
        handle(event, tracking)

    teller.handle = recording  # type: ignore[method-assign]
    through_everything = UUID(a_case_through_every_kind_of_event(teller, clock))
    _, case, told = an_accepted_claim()
    routing = seeded(RoutingApplication())
    for offset, event in enumerate(told):
        routing.handle(event, Tracking("kafka:onestop.intake.events:0", offset))
    events = [*heard, *published(teller, followup_wire), *told, *published(routing, routing_wire)]
    return events, through_everything, case.id


STRINGS = [
    "",
    " ",
    "x" * 100_000,
    "a\u0000b",
    "\u0007\u001b[31m",
    "\u2028",
    "_type_",
    "_data_",
    "ninghe-hrss",
    "ninghe-urban",
    "lutai-office",
    "no-such-department",
    "accusation",
    "9999-12-31T23:59:59+00:00",
    "0001-01-01T00:00:00+00:00",
    "2026-02-30T00:00:00Z",
    "2026-11-02T08:00:00",
    "9999-12-31",
    "0001-01-01",
    "P99999D",
    "00000000-0000-0000-0000-000000000000",
    "🙂" * 10,
]
NUMBERS = [0, -1, 1, 2**31, 2**63, -(2**63) - 1, 10**30, 1e308, -0.5]
SHAPES: list[Any] = [None, True, {}, [], [None], {"_type_": "x", "_data_": "y"}, "s", 7]


def paths(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value: each key's value, each list item, nested."""
    yield at
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*at, index))


def put(value: Any, at: tuple[Any, ...], new: Any) -> Any:
    if not at:
        return new
    value[at[0]] = put(value[at[0]], at[1:], new)
    return value


def replacement(rng: random.Random, old: Any) -> Any:
    """A value for a place that held `old`: mostly of its own JSON type, sometimes not."""
    if rng.random() < 0.2:
        return rng.choice(SHAPES)
    if isinstance(old, bool):
        return not old
    if isinstance(old, int | float):
        return rng.choice(NUMBERS)
    if isinstance(old, str):
        return rng.choice(STRINGS)
    if isinstance(old, list):
        return rng.choice([[], old * 3, [rng.choice(STRINGS)], list(reversed(old))])
    if isinstance(old, dict):
        return rng.choice([{}, {**old, "extra": "x"}, {k: None for k in old}])
    return rng.choice(STRINGS)


def changed(
    rng: random.Random, events: list[CloudEvent], about: list[UUID], types: list[str]
) -> tuple[str, bytes]:
    """One real event changed in one place: (its publisher, the record's value)."""
    event = rng.choice(events)
    body = json.loads(event.to_json())
    how = rng.random()
    if how < 0.35:  # about something else
        other = str(rng.choice(about))
        body["subject"] = other
        if "case_id" in body["data"]:
            body["data"]["case_id"] = other
    elif how < 0.9:  # one value of its data
        places = [p for p in paths(body["data"]) if p]
        if places:
            at = rng.choice(places)
            old: Any = body["data"]
            for step in at:
                old = old[step]
            body["data"] = put(copy.deepcopy(body["data"]), at, replacement(rng, old))
    else:  # another type of the same service
        own = [t for t in types if t.startswith(f"onestop.{event.service}.")]
        body["type"] = rng.choice(own)
    body["id"] = f"{event.service}:forged:{uuid4()}"
    return event.service, json.dumps(body, ensure_ascii=rng.random() < 0.5).encode()


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    events, through_everything, assigned = corpus()
    hearings = [
        Hearing("intake", seeded(IntakeApplication())),
        Hearing("routing", seeded(RoutingApplication())),
        Hearing("followup", seeded(FollowUpApplication())),
    ]
    for event in events:  # the unchanged events first: the cases exist to be forged about
        for hearing in hearings:
            if event.service in FOLLOWS[hearing.service]:
                hearing.hear(event.service, event.to_json())
    return {
        "events": events,
        "cases": (through_everything, assigned),
        "hearings": {h.service: h for h in hearings},
    }


def test_every_forged_record_is_applied_or_dead_lettered_and_the_services_go_on(world):
    events, hearings = world["events"], world["hearings"]
    through_everything, assigned = world["cases"]
    intake: IntakeApplication = hearings["intake"].app
    followup: FollowUpApplication = hearings["followup"].app
    about = [
        through_everything,
        assigned,
        history_id(through_everything),
        history_id(assigned),
        ORGANISATION_ID,
        CATALOGUE_ID,
        ROUTING_CALENDAR_ID,
        FOLLOWUP_CALENDAR_ID,
        REPLICA_ID,
        API_KEYS_ID,
        LAYOUT_ID,
        uuid4(),
    ]
    types = sorted({e.type for e in events})
    rng = random.Random(SEED)
    histories_before = {c: len(followup.history(c)[0]) for c in (through_everything, assigned)}
    crashed = []
    applied_before = {s: h.consumer.status.processed for s, h in hearings.items()}
    parked_before = {s: len(h.parked.sent) for s, h in hearings.items()}
    for n in range(RECORDS):
        publisher, value = changed(rng, events, about, types)
        for hearing in hearings.values():
            if publisher not in FOLLOWS[hearing.service]:
                continue
            try:
                hearing.hear(publisher, value)
            except Exception as error:  # what would have stayed on the partition
                crashed.append((n, hearing.service, f"{type(error).__name__}: {error}", value))
                hearing.consumer._held.clear()
    assert crashed == [], "\n".join(f"#{n} {s}: {e}\n  {v[:600]!r}" for n, s, e, v in crashed[:5])

    # many changes were refused, with reasons; many fit and were applied
    parked = {s: len(h.parked.sent) - parked_before[s] for s, h in hearings.items()}
    applied = {s: h.consumer.status.processed - applied_before[s] for s, h in hearings.items()}
    print(f"changed records dead-lettered {parked}, applied {applied}")
    assert all(parked.values()) and all(applied.values()), (parked, applied)
    for service, hearing in hearings.items():
        assert all(reason for _, reason in hearing.parked.sent), service
    # the cases' histories still verify, whatever was applied to them
    for case_id, before in histories_before.items():
        entries, verification = followup.history(case_id)
        assert verification.verified and len(entries) >= before
    # and each service does its ordinary work: a new case is registered, assigned, scheduled
    routing: RoutingApplication = hearings["routing"].app
    case = register(intake, street="qiaobei")
    for event in published(intake, intake_wire):
        if event.subject == str(case.id):
            hearings["routing"].hear("intake", event.to_json())
            hearings["followup"].hear("intake", event.to_json())
    [assignment] = [e for e in published(routing, routing_wire) if e.subject == str(case.id)]
    hearings["followup"].hear("routing", assignment.to_json())
    hearings["intake"].hear("routing", assignment.to_json())
    assert routing.get_assignment(case.id).lead is not None
    assert followup.get_case(case.id).status == "assigned"
    assert intake.get_case(case.id).handlers
