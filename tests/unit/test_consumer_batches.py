"""One poll's records from one partition are saved in one transaction — with the same
effects as applying them one at a time, and nothing lost when one of them is refused."""

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import orjson
import pytest
from eventsourcing.application import project_aggregate
from eventsourcing.persistence import Tracking
from kafka.structs import TopicPartition

from services.followup import wire as followup_wire
from services.followup.application import FollowUpApplication
from services.followup.domain import history_id
from services.intake import wire as intake_wire
from services.intake.application import IntakeApplication
from services.intake.commands import Classify, DecideAcceptance
from services.intake.domain import AcceptanceDecision
from services.routing import wire as routing_wire
from services.routing.application import RoutingApplication
from services.routing.organisation import CATALOGUE_ID, ORGANISATION_ID
from shared.domain import Actor, Trace
from shared.http import NotFound
from shared.kafka import Consumer, ConsumerStatus, _SeekToTracked
from shared.settings import Settings
from shared.territory import Window
from shared.vocabulary import Decision, LegalClass
from tests.territory import registry_change, seeded
from tests.unit.test_flow import published, register


class Parked:
    """Stands in for the dead-letter producer: keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict[str, bytes]]] = []

    def send(self, topic: str, key: bytes, value: bytes, headers: list[Any]) -> None:
        self.sent.append((topic, value, dict(headers)))

    def flush(self) -> None:
        pass


def records(topic: str, events: list[Any], values: list[bytes] | None = None) -> list[Any]:
    values = values or [e.to_json() for e in events]
    return [
        SimpleNamespace(topic=topic, partition=0, offset=i, timestamp=1000 + i, key=b"k", value=v)
        for i, v in enumerate(values)
    ]


def replace_offset(record: Any, offset: int) -> Any:
    return SimpleNamespace(**{**vars(record), "offset": offset})


def two_cases_assigned() -> tuple[list[Any], list[Any], list[Any]]:
    intake, routing = seeded(IntakeApplication()), seeded(RoutingApplication())
    cases = [register(intake), register(intake, street="qiaobei")]
    registered = published(intake, intake_wire)
    for offset, event in enumerate(registered):
        routing.handle(event, Tracking("kafka:intake:0", offset))
    return cases, registered, published(routing, routing_wire)


def test_a_batch_touching_one_case_twice_ends_as_one_at_a_time_does_in_one_transaction():
    cases, registered, assigned = two_cases_assigned()
    stream = [registered[0], assigned[0], registered[1], assigned[1]]
    batched, single = seeded(FollowUpApplication()), seeded(FollowUpApplication())
    consumer = Consumer(Settings(), "followup", ["t"], batched)
    before = batched.recorder.max_notification_id() or 0
    seeded_single = single.recorder.max_notification_id() or 0

    consumer._process_poll([records("t", stream)], set(), Parked())

    for offset, event in enumerate(stream):
        single.handle(event, Tracking("kafka:t:0", offset))
    assert consumer.status.batches == 1 and consumer.status.processed == 4
    for case in cases:
        one, other = batched.get_case(case.id), single.get_case(case.id)
        assert (one.status, one.lead, one.deadlines) == (other.status, other.lead, other.deadlines)
        assert one.status == "assigned"
        assert [e.entry.type for e in batched.history(case.id)[0]] == [
            e.entry.type for e in single.history(case.id)[0]
        ]
    assert batched.recorder.max_tracking_id("kafka:t:0") == 3
    notes = batched.recorder.select_notifications(start=before, limit=100)
    assert [n.originator_id for n in notes] == [
        n.originator_id
        for n in single.recorder.select_notifications(start=seeded_single, limit=100)
    ]


def test_a_redelivered_batch_has_no_second_effect():
    _, registered, _ = two_cases_assigned()
    routing = seeded(RoutingApplication())
    consumer = Consumer(Settings(), "routing", ["t"], routing)
    consumer._process_poll([records("t", registered)], set(), Parked())
    consumer._process_poll([records("t", registered)], set(), Parked())
    assert consumer.status.processed == 2 and consumer.status.duplicates == 2
    assert len(published(routing, routing_wire)) == 2


def test_a_malformed_record_in_a_batch_is_parked_and_the_others_are_applied():
    _, registered, _ = two_cases_assigned()
    routing = seeded(RoutingApplication())
    consumer = Consumer(Settings(), "routing", ["t"], routing)
    parked = Parked()
    values = [registered[0].to_json(), b'{"specversion": "1.0"}', registered[1].to_json()]

    consumer._process_poll([records("t", registered, values)], set(), parked)

    assert consumer.status.batches_replayed == 1
    assert (consumer.status.processed, consumer.status.dead_lettered) == (2, 1)
    [(topic, value, headers)] = parked.sent
    assert topic == Settings().dead_letter_topic("routing")
    assert value == values[1] and b"malformed" in headers["onestop-reason"]
    assert len(published(routing, routing_wire)) == 2
    assert routing.recorder.max_tracking_id("kafka:t:0") == 2


def an_accepted_claim() -> tuple[IntakeApplication, Any, list[Any]]:
    """A case registered, classified a claim and accepted at intake: (intake, the case,
    what intake published — registered, classified, decided)."""
    intake = seeded(IntakeApplication())
    case = register(intake)
    clerk = Actor("alice", "clerk")
    intake.classify(Classify(case.id, LegalClass.CLAIM), clerk, Trace("c"))
    decision = AcceptanceDecision(Decision.ACCEPT)
    intake.decide_acceptance(DecideAcceptance(case.id, decision), clerk, Trace("c"))
    return intake, case, published(intake, intake_wire)


def test_events_are_stored_as_raised_when_a_later_record_of_the_batch_changes_the_case():
    _, case, (registered, _, decided) = an_accepted_claim()
    routing = seeded(RoutingApplication())
    routing.handle(registered, Tracking("kafka:intake:0", 0))
    [assigned] = published(routing, routing_wire)
    followup = seeded(FollowUpApplication())
    consumer = Consumer(Settings(), "followup", ["t"], followup)

    consumer._process_poll([records("t", [registered, assigned, decided])], set(), Parked())

    assert consumer.status.batches == 1
    scheduled = published(followup, followup_wire)  # raises if a stored event broke its contract
    first = scheduled[0].data["deadlines"]
    assert [d["kind"] for d in first] == ["acceptance-notice"]
    assert "met_at" not in first[0]  # as scheduled, before the decision met it
    notice = next(d for d in followup.get_case(case.id).deadlines if d.kind == "acceptance-notice")
    assert notice.met_at is not None


def stored(app: Any, aggregate_id: Any) -> Any:
    """The aggregate as its stored events make it, whatever any cache holds."""
    return project_aggregate(None, app.events.get(aggregate_id))


def test_a_batch_that_fails_leaves_nothing_it_did_where_the_next_record_reads_it():
    """A batch changes the aggregates it loaded in place, out of the cache; when one of its
    records is refused the others are applied again one at a time, on the stored state."""
    cases, registered, assigned = two_cases_assigned()
    followup = seeded(FollowUpApplication())
    assert followup.repository.cache is not None  # as in the services
    followup.handle(registered[0], Tracking("kafka:t:0", 0))
    consumer = Consumer(Settings(), "followup", ["t"], followup)
    values = [assigned[0].to_json(), b"not json"]

    polled = [
        SimpleNamespace(topic="t", partition=0, offset=i + 1, timestamp=i, key=b"k", value=v)
        for i, v in enumerate(values)
    ]
    consumer._process_poll([polled], set(), Parked())

    assert consumer.status.batches_replayed == 1 and consumer.status.dead_lettered == 1
    case_id = cases[0].id
    history = stored(followup, history_id(case_id))
    heard = [e.entry.type for e in history.entries if e.entry.service != "followup"]
    assert heard == [registered[0].type, assigned[0].type]
    assert stored(followup, case_id).status == followup.get_case(case_id).status == "assigned"
    assert len(followup.get_case(case_id).deadlines) == len(stored(followup, case_id).deadlines)


def test_an_aggregate_a_batch_changed_but_did_not_save_is_read_again_from_the_store():
    cases, registered, _ = two_cases_assigned()
    followup = seeded(FollowUpApplication())
    followup.handle(registered[0], Tracking("kafka:t:0", 0))
    case_id = cases[0].id

    with followup.batched() as batch:
        followup.load(case_id).note_manual_dispatch("changed, never saved", datetime.now(UTC))
        followup.save_batch(batch, [Tracking("kafka:t:0", 1)])

    case = followup.get_case(case_id)
    assert case.manual_dispatch_reason is None and case.version == stored(followup, case_id).version


def forged(event: Any, **changes: Any) -> bytes:
    body = {**orjson.loads(event.to_json()), **changes}
    return orjson.dumps(body)


def test_a_forged_or_malformed_record_on_a_services_own_topic_never_enters_a_history():
    """Follow-up hears its own topic too: a record there must be follow-up's, of a type it
    publishes, fitting its contract, about the case it names — else it is dead-lettered
    with the reason, and no case's history records it."""
    intake = seeded(IntakeApplication())
    case = register(intake)
    [registered] = published(intake, intake_wire)
    followup = seeded(FollowUpApplication())
    topic = "onestop.followup.events"
    consumer = Consumer(Settings(), "followup", [topic], followup)
    parked = Parked()
    closed_out = {
        "type": "onestop.followup.case.closed-out.v1",
        "source": "/onestop/followup",
        "actor": "mallory",
        "data": {"case_id": str(case.id), "basis": "because"},
    }
    bad = [
        forged(registered, **closed_out),  # wrong schema
        forged(registered),  # intake's event on follow-up's topic
        forged(registered, source="/onestop/followup"),  # not a type follow-up publishes
        forged(
            registered,
            **{
                **closed_out,
                "data": {
                    "case_id": str(uuid4()),
                    "basis": "x",
                    "closed_at": "2026-11-01T00:00:00Z",
                },
            },
        ),  # fits the contract, but about another case than its subject
    ]
    consumer._process_poll([records(topic, [registered] * 4, bad)], set(), parked)
    reasons = [headers["onestop-reason"].decode() for _, _, headers in parked.sent]
    assert len(reasons) == 4
    assert "does not fit its contract" in reasons[0]
    assert "an event from 'intake' on followup's topic" in reasons[1]
    assert "is not a type followup publishes" in reasons[2]
    assert "is not the case the data names" in reasons[3]
    with pytest.raises(NotFound):  # nothing entered any history
        followup.history(case.id)


def test_a_consumer_reports_only_the_partitions_it_still_holds():
    """With two copies of a service, what one copy gave up in a rebalance, or lost when the
    group expelled it, is no longer in its /health/ready: else both copies claim it."""
    status = ConsumerStatus()
    seeks: list[tuple[TopicPartition, int]] = []
    held: dict[str, list[Any]] = {}
    listener = _SeekToTracked(
        SimpleNamespace(seek=lambda tp, at: seeks.append((tp, at))),
        SimpleNamespace(max_tracking_id=lambda name: 41),
        status,
        {},
        held,
    )
    mine = [TopicPartition("onestop.intake.events", p) for p in range(6)]
    listener.on_partitions_assigned(mine)
    assert len(status.assigned) == 6 and {at for _, at in seeks} == {42}
    held.update({f"kafka:onestop.intake.events:{p}": [object()] for p in range(6)})
    listener.on_partitions_revoked(mine[3:])  # a second copy joined: it takes these
    assert status.assigned == [f"onestop.intake.events:{p}" for p in range(3)]
    assert sorted(held) == [f"kafka:onestop.intake.events:{p}" for p in range(3)]
    listener.on_partitions_lost(mine[:3])  # expelled (its session expired)
    assert status.assigned == []


def test_a_registry_change_heard_in_a_batch_changes_a_copy_not_what_readers_hold():
    """Readers are handed the replica of the territory itself (the queue makes its layout
    once per territory object). A batch of records that changes the replica changes a copy:
    what a reader holds stays as it was, and the next read is a new object with the change.
    Changed in place, the queue kept the layout it had made and never showed the window."""
    app = seeded(IntakeApplication())
    held = app.territory()
    assert "W99" not in app.layout().windows
    with app.batched() as batch:
        for i, code in enumerate(("W98", "W99")):
            window = Window(code, ("ninghe-hrss",), ("A",))
            app.handle(registry_change(window), Tracking("kafka:registry:1", i))
    app.save_batch(batch, [Tracking("kafka:registry:1", 1)])

    assert "W99" not in held.windows
    assert {"W98", "W99"} <= set(app.layout().windows)


INTAKE, ROUTING = "onestop.intake.events", "onestop.routing.events"


def published_at(topic: str, partition: int, events: list[Any], times: list[int]) -> list[Any]:
    """Records of one partition as a poll hands them over, each with its publication time."""
    return [
        SimpleNamespace(
            topic=topic, partition=partition, offset=i, timestamp=t, key=b"k", value=e.to_json()
        )
        for i, (e, t) in enumerate(zip(events, times, strict=True))
    ]


def following_both_topics() -> tuple[list[Any], list[Any], list[Any], Any, Consumer]:
    """Two cases registered and assigned, and a follow-up consuming intake's and routing's
    topics: the cases, their registrations, their assignments, follow-up, its consumer."""
    cases, registered, assigned = two_cases_assigned()
    followup = seeded(FollowUpApplication())
    return (
        cases,
        registered,
        assigned,
        followup,
        Consumer(Settings(), "followup", [INTAKE, ROUTING], followup),
    )


def routing_first(registered: list[Any], assigned: list[Any]) -> list[list[Any]]:
    """A poll that hands routing's partition over before intake's, each registration
    published 10 ms before its assignment."""
    return [
        published_at(ROUTING, 3, assigned, [1_020, 1_040]),
        published_at(INTAKE, 5, registered, [1_010, 1_030]),
    ]


def heard(followup: FollowUpApplication, case_id: Any) -> list[str]:
    history = stored(followup, history_id(case_id))
    return [e.entry.type.split(".")[1] for e in history.entries if e.entry.service != "followup"]


def test_a_poll_from_several_topics_is_applied_in_the_order_it_was_published_in_one_go():
    """Follow-up keeps a case's history in the order it applies what it hears. A poll with
    both cases' registrations (intake's topic) and assignments (routing's) is applied by
    publication time across the topics, in one transaction recording where each partition
    got to — though the poll handed routing's partition over first."""
    cases, registered, assigned, followup, consumer = following_both_topics()
    consumer._process_poll(routing_first(registered, assigned), set(), Parked())

    assert consumer.status.batches == 1 and consumer.status.processed == 4
    for case in cases:
        assert heard(followup, case.id) == ["intake", "routing"]
    assert followup.recorder.max_tracking_id(f"kafka:{INTAKE}:5") == 1
    assert followup.recorder.max_tracking_id(f"kafka:{ROUTING}:3") == 1


def test_records_wait_for_a_partition_behind_them_that_may_hold_their_cause():
    """An assignment fetched before the registration that caused it (intake's partition is
    behind: not fetched to its end) waits for it; it is not applied before it."""
    cases, registered, assigned, followup, consumer = following_both_topics()
    behind = {f"kafka:{INTAKE}:5"}

    consumer._process_poll([published_at(ROUTING, 3, assigned[:1], [1_020])], behind, Parked())
    assert consumer.status.processed == 0  # nothing from intake's partition yet: it waits
    consumer._process_poll(
        [published_at(INTAKE, 5, registered[:1], [1_010])], behind, Parked()
    )  # fetched up to 1,010 — still behind; the assignment (1,020) waits on
    assert heard(followup, cases[0].id) == ["intake"]
    consumer._process_poll([], set(), Parked())  # intake's partition fetched to its end
    assert heard(followup, cases[0].id) == ["intake", "routing"]
    assert consumer.status.processed == 2


def test_a_partition_that_stays_behind_holds_the_others_back_only_so_long(monkeypatch):
    cases, _, assigned, followup, consumer = following_both_topics()
    now = [100.0]
    monkeypatch.setattr("shared.kafka.time.monotonic", lambda: now[0])
    behind = {f"kafka:{INTAKE}:5"}

    consumer._process_poll([published_at(ROUTING, 3, assigned[:1], [1_020])], behind, Parked())
    now[0] += Consumer.HOLD_SECONDS - 0.1
    consumer._process_poll([], behind, Parked())
    assert consumer.status.processed == 0
    now[0] += 0.2
    consumer._process_poll([], behind, Parked())
    assert consumer.status.processed == 1  # applied as it came, after waiting its longest
    assert heard(followup, cases[0].id) == ["routing"]


def test_what_is_released_at_once_is_applied_in_transactions_of_a_bounded_size():
    """A follow-up catching up on a backlog released thousands of held records at once; one
    transaction over all of them held all their cases in memory. They go in transactions of
    at most `BATCH` records, still in the order they were published."""
    cases, registered, assigned, followup, consumer = following_both_topics()
    consumer.BATCH = 3
    consumer._process_poll(routing_first(registered, assigned), set(), Parked())

    assert consumer.status.batches == 2 and consumer.status.processed == 4
    for case in cases:
        assert heard(followup, case.id) == ["intake", "routing"]
    assert followup.recorder.max_tracking_id(f"kafka:{ROUTING}:3") == 1


def test_a_record_naming_a_department_by_no_registry_code_is_refused_not_stored():
    """A department's code becomes a key of what follow-up stores (the co-handlers' parts of
    an outcome). Keys `_type_` and `_data_` are how stored JSON names a value object: two
    forged parts by those "codes" would have made the case and its history unreadable at the
    outcome. A code the registry would refuse is refused with the record, dead-lettered."""
    cases, registered, assigned = two_cases_assigned()
    followup = seeded(FollowUpApplication())
    consumer = Consumer(Settings(), "followup", ["i", "r"], followup)
    consumer._process_poll(
        [records("i", registered[:1]), records("r", assigned[:1])], set(), Parked()
    )
    case_id = str(cases[0].id)
    parts = [
        forged(
            assigned[0],
            id=f"routing:forged:{code}",
            type="onestop.routing.case.part-reported.v1",
            data={
                "case_id": case_id,
                "department": {"code": code, "name": "伪造"},
                "summary": "ninghe-hrss" if code == "_type_" else "x",
                "reported_at": "2026-12-01T00:00:00Z",
            },
        )
        for code in ("_type_", "_data_")
    ]
    before = [link.entry for link in followup.history(cases[0].id)[0]]
    parked = Parked()
    after = [replace_offset(r, r.offset + 1) for r in records("r", assigned[:2], parts)]
    consumer._process_poll([after], set(), parked)

    reasons = [headers["onestop-reason"].decode() for _, _, headers in parked.sent]
    assert len(reasons) == 2 and all("does not fit its contract" in r for r in reasons)
    assert "department.code" in reasons[0]
    entries, verification = followup.history(cases[0].id)
    assert verification.verified and [link.entry for link in entries] == before
    assert followup.get_case(cases[0].id).parts == {}


def test_a_record_whose_subject_names_no_case_is_refused_and_the_consumer_goes_on():
    """A service's store holds more than cases — each case's history (follow-up), the
    organisation, the catalogue and the holiday calendar (routing) — under ids anyone can
    work out. A record about "the case" with one of those ids is dead-lettered with the
    reason, and the records after it are applied: it stopped the partition before (an
    aggregate of the wrong kind failed in the handler, and the record came back after every
    rejoin)."""
    _, case, (registered, classified, _) = an_accepted_claim()
    routing = seeded(RoutingApplication())
    routing.handle(registered, Tracking("kafka:intake:0", 0))
    [assigned] = published(routing, routing_wire)

    def about(event: Any, subject: Any) -> bytes:
        data = {**orjson.loads(event.to_json())["data"], "case_id": str(subject)}
        return forged(event, id=f"forged:{subject}", subject=str(subject), data=data)

    followup = seeded(FollowUpApplication())
    consumer, parked = Consumer(Settings(), "followup", ["t"], followup), Parked()
    values = [registered.to_json(), about(registered, history_id(case.id)), assigned.to_json()]
    consumer._process_poll([records("t", [registered] * 3, values)], set(), parked)
    [(_, _, headers)] = parked.sent
    assert "is not a case" in headers["onestop-reason"].decode()
    entries, verification = followup.history(case.id)
    assert verification.verified
    heard = [link.entry.event_id for link in entries if link.entry.service != "followup"]
    assert heard == [registered.id, assigned.id]
    assert followup.get_case(case.id).status == "assigned"

    routing = seeded(RoutingApplication())
    consumer, parked = Consumer(Settings(), "routing", ["t"], routing), Parked()
    values = [
        registered.to_json(),
        *(about(classified, i) for i in (ORGANISATION_ID, CATALOGUE_ID)),
        about(registered, ORGANISATION_ID),
        classified.to_json(),
    ]
    consumer._process_poll([records("t", [registered] * 5, values)], set(), parked)
    reasons = [headers["onestop-reason"].decode() for _, _, headers in parked.sent]
    assert len(reasons) == 3 and all("is not a case" in r for r in reasons)
    assert routing.get_assignment(case.id).legal_class is LegalClass.CLAIM
