"""The outbox relay and the tracked consumer on the real PostgreSQL and Kafka."""

from __future__ import annotations

import threading
import time
from uuid import UUID

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.intake import wire as intake_wire
from services.intake.application import IntakeApplication
from services.intake.bootstrap import build_application
from services.intake.commands import PersonGiven, RegisterCase
from services.intake.domain import DuplicateAction, DuplicateDecision, Whereabouts
from services.routing.application import RoutingApplication
from services.routing.bootstrap import MIGRATIONS as ROUTING_MIGRATIONS
from shared.domain import Actor, Trace
from shared.kafka import Consumer, Relay, client_options
from shared.migrations import migrate
from shared.settings import Settings
from shared.store import connect, eventsourcing_env
from shared.tracing import Tracing, parse_traceparent
from shared.vocabulary import Channel
from tests.conftest import fresh
from tests.territory import seeded

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(infra: Settings) -> Settings:
    settings = fresh(infra)
    migrate(settings, "routing", *ROUTING_MIGRATIONS)  # intake's: by build_application
    return settings


def intake_app(settings: Settings) -> IntakeApplication:
    return seeded(build_application(settings))


def register(intake: IntakeApplication, n: int) -> list[UUID]:
    submission = RegisterCase(
        channel=Channel.PHONE,
        petitioners=(
            PersonGiven(name="李秀英", id_number="120117199007080025", phone="13912345678"),
        ),
        subject="噪音扰民",
        description="夜间施工",
        category="urban-management",
        location=Whereabouts("lutai"),
        duplicate_decision=DuplicateDecision(
            DuplicateAction.NEW, reason="each night is a separate matter"
        ),
    )
    return [
        intake.register(submission, Actor("alice", "clerk"), Trace(f"corr-{i}")).case.id
        for i in range(n)
    ]


def read_topic(settings: Settings, topic: str, expected: int, timeout: float = 20.0) -> list:
    consumer = KafkaConsumer(**client_options(settings, "admin"), consumer_timeout_ms=500)
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    records, deadline = [], time.monotonic() + timeout
    while len(records) < expected and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=300).values():
            records.extend(batch)
    consumer.close()
    return records


def run(loop, seconds_until) -> threading.Event:
    stop = threading.Event()
    threading.Thread(target=loop, args=(stop,), daemon=True).start()
    return stop


def test_the_relay_publishes_every_event_in_order_keyed_by_case(settings: Settings):
    intake = intake_app(settings)
    case_ids = register(intake, 12)
    relay = Relay(intake, settings, "intake", intake_wire.to_cloudevent)
    stop = run(relay.run, None)
    records = read_topic(settings, settings.topic("intake"), 12)
    stop.set()
    assert sorted(r.key.decode() for r in records) == sorted(str(c) for c in case_ids)
    by_partition: dict[int, list] = {}
    for r in records:
        by_partition.setdefault(r.partition, []).append(orjson.loads(r.value)["time"])
    assert all(times == sorted(times) for times in by_partition.values())
    assert orjson.loads(records[0].value)["specversion"] == "1.0"

    # restarting the relay does not publish the same events again
    time.sleep(0.5)
    stop2 = run(Relay(intake, settings, "intake", intake_wire.to_cloudevent).run, None)
    time.sleep(2)
    stop2.set()
    assert len(read_topic(settings, settings.topic("intake"), 13, timeout=3)) == 12


def test_an_idle_relay_queries_nothing_and_publishes_another_processs_events_at_its_commit(
    settings: Settings,
):
    """The relay waits on PostgreSQL's notification of a commit, not by reading the log
    every 50 ms: idle, it sends no query; events another process saves (which cannot wake
    it) go out at their commit, long before its idle deadline."""
    intake = intake_app(settings)
    relay = Relay(intake, settings, "intake", intake_wire.to_cloudevent)
    relay.IDLE_SECONDS = 60.0  # only a notification can make it read within the test
    reads = []
    select = intake.recorder.select_notifications

    def counted(*args, **kwargs):
        reads.append(time.monotonic())
        return select(*args, **kwargs)

    intake.recorder.select_notifications = counted  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not (relay.status.leader and reads) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        idle_from = len(reads)
        cpu = time.pthread_getcpuclockid(thread.ident)  # type: ignore[arg-type]
        used = time.clock_gettime(cpu)
        time.sleep(1.5)
        used = time.clock_gettime(cpu) - used
        assert len(reads) == idle_from  # 30 reads at the old 50 ms poll
        # it sleeps (~0.5 ms of CPU): it spent 30 ms of these 1.5 s waking 20 times a
        # second, psycopg polling with no timeout through the last millisecond of each wait
        assert used < 0.005, f"{used * 1000:.1f} ms of CPU idle"

        relay.wake()  # this process saved something: it reads the log at once
        deadline = time.monotonic() + 2
        while len(reads) == idle_from and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(reads) == idle_from + 1

        other = intake_app(settings)  # another process on the same store
        committed = time.monotonic()
        case_ids = register(other, 3)
        records = read_topic(settings, settings.topic("intake"), 3, timeout=20)
        assert sorted(r.key.decode() for r in records) == sorted(str(c) for c in case_ids)
        assert time.monotonic() - committed < 15  # not the 60 s idle deadline
        other.close()
    finally:
        stop.set()
    thread.join(5)
    assert not thread.is_alive()  # it looks at `stop` while idle, too


def test_personal_data_is_encrypted_at_rest_and_absent_from_the_index(settings: Settings):
    intake = intake_app(settings)
    [case_id] = register(intake, 1)
    intake.index.catch_up()
    with connect(settings) as conn:
        rows = conn.execute(  # not the territory routing's registry told intake about
            "SELECT state FROM intake.intake_events WHERE topic NOT LIKE '%TerritoryReplica%'"
        ).fetchall()
        index = conn.execute("SELECT * FROM intake.case_index").fetchall()
    assert len(rows) == 3  # the case, the petitioner enrolled, the petitioner's case added
    for personal in ("13912345678", "李秀英", "120117199007080025"):
        assert all(personal.encode() not in bytes(r[0]) for r in rows)
        assert personal not in repr(index)
    assert len(index) == 1
    assert intake.get_case(case_id).petitioners[0].details.phone == "13912345678"


def test_a_consumer_applies_each_record_once_even_when_kafka_redelivers(settings: Settings):
    intake = intake_app(settings)
    case_ids = register(intake, 5)
    relay_stop = run(Relay(intake, settings, "intake", intake_wire.to_cloudevent).run, None)
    routing = seeded(RoutingApplication(eventsourcing_env(settings, "routing")))
    consumer = Consumer(settings, "routing", [settings.topic("intake")], routing)
    stop = run(consumer.run, None)
    deadline = time.monotonic() + 30
    while consumer.status.processed < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    time.sleep(0.5)
    assert {routing.get_assignment(c).status for c in case_ids} == {"awaiting-acceptance"}

    # Kafka forgets the group's offsets (a new group): the tracking records decide instead
    again = Consumer(
        settings.model_copy(update={"topic_prefix": settings.topic_prefix + "-b"}),
        "routing",
        [settings.topic("intake")],
        routing,
    )
    stop = run(again.run, None)
    time.sleep(4)
    stop.set()
    relay_stop.set()
    assert again.status.processed == 0
    with connect(settings) as conn:
        [(count,)] = conn.execute(
            "SELECT count(*) FROM routing.routing_events WHERE topic LIKE '%:Assignment.%'"
        ).fetchall()
    assert count == 5

    # and a record handed over a second time is recognised as already done
    [record] = read_topic(settings, settings.topic("intake"), 5)[:1]
    again._process(record, KafkaProducer(**client_options(settings, "admin")))
    assert again.status.duplicates == 1


def test_a_malformed_record_goes_to_the_dead_letter_topic_and_the_consumer_goes_on(
    settings: Settings,
):
    intake = intake_app(settings)
    producer = KafkaProducer(**client_options(settings, "admin"))
    producer.send(settings.topic("intake"), key=b"junk", value=b'{"specversion": "1.0"}')
    bad_data = {
        "specversion": "1.0",
        "id": "x:1",
        "source": "/onestop/intake",
        "type": "onestop.intake.case.registered.v1",
        "subject": "not-a-case",
        "time": "2026-11-21T08:00:00+00:00",
        "correlationid": "c",
        "actor": "a",
        "actorrole": "clerk",
        "data": {"case_id": "not-a-case"},
    }
    producer.send(settings.topic("intake"), key=b"junk", value=orjson.dumps(bad_data))
    producer.flush()
    [good] = register(intake, 1)
    relay_stop = run(Relay(intake, settings, "intake", intake_wire.to_cloudevent).run, None)
    routing = seeded(RoutingApplication(eventsourcing_env(settings, "routing")))
    consumer = Consumer(settings, "routing", [settings.topic("intake")], routing)
    stop = run(consumer.run, None)
    dead = read_topic(settings, settings.dead_letter_topic("routing"), 2)
    deadline = time.monotonic() + 20
    while consumer.status.processed < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    relay_stop.set()
    reasons = sorted(dict(r.headers)["onestop-reason"].decode() for r in dead)
    assert len(reasons) == 2
    assert "missing CloudEvents attribute" in reasons[0]
    assert "does not fit its contract" in reasons[1] and "channel" in reasons[1]
    assert routing.get_assignment(good).status == "awaiting-acceptance"


def test_an_event_the_wire_mapping_fails_on_is_parked_and_the_relay_goes_on(settings: Settings):
    intake = intake_app(settings)
    case_ids = register(intake, 5)
    broken = case_ids[2]

    def mapping(event):
        if event.originator_id == broken:
            raise KeyError("a field this release forgot")
        return intake_wire.to_cloudevent(event)

    relay = Relay(intake, settings, "intake", mapping)
    stop = run(relay.run, None)
    records = read_topic(settings, settings.topic("intake"), 4)
    parked = read_topic(settings, settings.dead_letter_topic("intake"), 1)
    stop.set()
    assert sorted(r.key.decode() for r in records) == sorted(
        str(c) for c in case_ids if c != broken
    )
    [record] = parked
    headers = dict(record.headers)
    assert b"a field this release forgot" in headers["onestop-reason"]
    assert orjson.loads(record.value)["originator_id"] == str(broken)
    assert (relay.status.published, relay.status.parked) == (4, 1)


def test_the_trace_context_rides_on_the_kafka_record_from_relay_to_consumer(settings: Settings):
    intake = intake_app(settings)
    [case_id] = register(intake, 1)
    relay = Relay(intake, settings, "intake", intake_wire.to_cloudevent)
    relay.tracing = Tracing("intake")
    published = InMemorySpanExporter()
    relay.tracing.export(SimpleSpanProcessor(published))
    routing = seeded(RoutingApplication(eventsourcing_env(settings, "routing")))
    consumer = Consumer(settings, "routing", [settings.topic("intake")], routing)
    consumer.tracing = Tracing("routing")
    handled = InMemorySpanExporter()
    consumer.tracing.export(SimpleSpanProcessor(handled))
    stops = [run(relay.run, None), run(consumer.run, None)]
    try:
        [record] = read_topic(settings, settings.topic("intake"), 1)
        deadline = time.monotonic() + 30
        while not handled.get_finished_spans() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        for stop in stops:
            stop.set()
    header = dict(record.headers)["traceparent"].decode()
    [publication] = published.get_finished_spans()
    [handling] = handled.get_finished_spans()
    assert parse_traceparent(header) == (publication.context.trace_id, publication.context.span_id)
    assert handling.parent.span_id == publication.context.span_id
    assert handling.context.trace_id == publication.context.trace_id
    assert handling.attributes["onestop.case_id"] == str(case_id)
