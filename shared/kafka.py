"""Kafka adapters: topics, the outbox relay and the consumer with exactly-once effects.

* The relay reads a service's notification log in order and publishes each event to the
  service's topic, keyed by case id so one case's events stay ordered. Its position is
  stored after the broker acknowledged the batch: at-least-once, never lost, never reordered.
  Only the holder of a PostgreSQL advisory lock relays, so running more copies of a
  service is safe.
* The consumer stores its Kafka position as a tracking record in the same transaction as
  the events it produces; a redelivered record then fails with IntegrityError, which means
  "already done". On (re)assignment each partition is sought to the stored position + 1.
  What one poll brought is applied in the order it was published across topics and
  partitions (`Consumer._ready`) and saved in one transaction with the position reached in
  each partition; if any record of it is refused or conflicts, nothing of it is saved and
  its records are applied again one at a time, each in its own transaction.
"""

from __future__ import annotations

import collections
import contextlib
import heapq
import itertools
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from uuid import UUID

import orjson
from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import IntegrityError, PersistenceError, Tracking, TrackingRecorder
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import TopicAlreadyExistsError
from psycopg import sql

from shared.domain import DomainError
from shared.envelope import CloudEvent, MalformedEvent
from shared.messages import parse
from shared.metrics import Metrics, dead_letter_kind
from shared.settings import SERVICES, ServiceName, Settings
from shared.store import connect
from shared.tracing import Tracing, case_of_log

log = logging.getLogger(__name__)

ToCloudEvent = Callable[[DomainEventProtocol[Any]], CloudEvent | None]
"""Maps an internal domain event to its wire form, or None if it stays inside the service."""


Principal = ServiceName | Literal["admin"]
"""Who a Kafka client signs in as: a service (which may write only its own topics) or the
operator (who provisions topics, users and ACLs: shared/kafka_access.py)."""


def bootstrap_servers(settings: Settings) -> list[str]:
    return [s.strip() for s in settings.kafka_bootstrap.split(",") if s.strip()]


RECONNECT_BACKOFF_MAX_MS = 1_000
"""The longest a client waits between attempts to reach a broker that went away.
kafka-python's default doubles up to 30 s: after a broker restart the relay's producer sat
up to 30 s before trying again, its records waiting, while the broker had long been back
(`make faults`, docs/faults.md). One attempt a second costs nothing while it is down."""


def client_options(settings: Settings, who: Principal) -> dict[str, Any]:
    """What every Kafka client of `who` is built with: the brokers and how to sign in."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(settings),
        "security_protocol": protocol,
        "reconnect_backoff_max_ms": RECONNECT_BACKOFF_MAX_MS,
    }
    if protocol.startswith("SASL"):
        user, password, mechanism = settings.kafka_principal(who)
        options |= {
            "sasl_mechanism": mechanism,
            "sasl_plain_username": user,
            "sasl_plain_password": password,
        }
    if protocol.endswith("SSL") and settings.kafka_ssl_cafile:
        options["ssl_cafile"] = settings.kafka_ssl_cafile
    return options


def ensure_topics(settings: Settings, topics: list[str], who: Principal) -> None:
    """Create missing topics (idempotent); events are the audit trail, so they never expire.
    A service may create only its own topics; the operator provisions the rest."""
    admin = KafkaAdminClient(**client_options(settings, who), client_id=f"onestop-{who}-admin")
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(
                name,
                num_partitions=settings.topic_partitions,
                replication_factor=1,
                topic_configs={"retention.ms": "-1"},
            )
            for name in topics
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
    finally:
        admin.close()


def make_producer(settings: Settings, who: Principal, client_id: str) -> KafkaProducer:
    return KafkaProducer(
        **client_options(settings, who),
        client_id=client_id,
        acks="all",
        linger_ms=2,
        retries=2**31 - 1,
        max_in_flight_requests_per_connection=5,
    )


@dataclass
class RelayStatus:
    leader: bool = False
    position: int | None = None
    published: int = 0
    parked: int = 0
    """Stored events the wire mapping failed on, put on the dead-letter topic."""
    last_error: str | None = None
    last_published_at: float | None = None


class Relay:
    """Publishes one application's notification log to its topic (the transactional outbox)."""

    BATCH = 500
    IDLE_SECONDS = 2.0
    """With nothing to publish, the relay reads the log again after this long at the latest;
    sooner, as soon as any process commits events (PostgreSQL's NOTIFY, which the event store
    sends with every insert) or this one saved some (`wake`). It polled every 50 ms: sixty
    queries a second from the three idle services, and up to 50 ms before another process's
    events went out."""
    LINGER_SECONDS = 0.02
    """After a round that published less than a full batch, the relay waits this long before
    the next: under load a round then carries several saves' events in one flush and one
    position update. A save after a quiet spell still goes out at once."""

    def __init__(
        self,
        app: Application[Any],
        settings: Settings,
        service: ServiceName,
        to_cloudevent: ToCloudEvent,
        publishes: Callable[[str], bool] = lambda topic: True,
    ) -> None:
        """`publishes` says from a stored event's topic (class path) whether it may go on the
        wire at all, so events that never do are not even decrypted."""
        self.app = app
        self.publishes = publishes
        self.settings = settings
        self.service = service
        self.topic = settings.topic(service)
        self.to_cloudevent = to_cloudevent
        self.status = RelayStatus()
        self.tracing: Tracing | None = None
        """Set by the runtime: each publication is a span, named in the record's header."""
        self._wake_read, self._wake_write = os.pipe()  # `wake` writes, an idle relay polls it
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._parked_now = 0

    def _park(self, producer: KafkaProducer, notification: Any, error: Exception) -> Any:
        reason = f"{self.service} could not put its stored event on the wire: {error!r}"
        log.error(
            "relay %s parks notification %s (%s v%s): %s",
            self.service,
            notification.id,
            notification.topic,
            notification.originator_version,
            reason,
        )
        self.status.parked += 1
        self.status.last_error = reason
        self._parked_now += 1
        body = {
            "notification_id": notification.id,
            "topic": notification.topic,
            "originator_id": str(notification.originator_id),
            "originator_version": notification.originator_version,
        }
        headers = [
            ("onestop-reason", reason.encode()),
            ("onestop-relay", self.service.encode()),
            ("onestop-source", f"{self.service}:notification:{notification.id}".encode()),
        ]
        return producer.send(
            self.settings.dead_letter_topic(self.service),
            key=str(notification.originator_id).encode(),
            value=orjson.dumps(body),
            headers=headers,
        )

    def _send(self, producer: KafkaProducer, event: CloudEvent) -> Any:
        """One event on the topic, keyed by its case, with the W3C trace context of its
        conversation (see `shared.tracing`)."""
        if self.tracing is None:
            return producer.send(self.topic, key=event.subject.encode(), value=event.to_json())
        span, parent = self.tracing.publish(
            event.id, event.type, event.subject, event.correlation_id, event.causation_id
        )
        with span:
            return producer.send(
                self.topic,
                key=event.subject.encode(),
                value=event.to_json(),
                headers=[("traceparent", parent.encode())],
            )

    def wake(self) -> None:
        """Called after a save in this process, so new events go out without waiting a poll."""
        with contextlib.suppress(BlockingIOError):  # full: a wake is pending already
            os.write(self._wake_write, b"!")

    def _idle(self, conn: Any, stop: threading.Event) -> None:
        """Sleep, without a query, until events may be there to publish: a notification of a
        commit (any process's), this process's `wake`, or `IDLE_SECONDS` at most — waiting
        on the database connection's socket and `wake`'s pipe at once (the kernel's `poll`);
        `stop` is looked at every `relay_poll_seconds`.

        It waited in psycopg's `notifies` with a timeout of 50 ms, to look at `wake` and `stop`
        between: twenty rounds a second each idle relay, and psycopg ends each wait by
        polling the socket with no timeout until the deadline's last millisecond has passed
        — some 500 system calls a second, a few per cent of a core for nothing."""
        with contextlib.closing(conn.notifies(timeout=0, stop_after=1)) as came:
            if next(came, None) is not None:  # heard during the last query, or just now
                return
        deadline = time.monotonic() + self.IDLE_SECONDS
        watched = select.poll()  # not select(): no limit on the descriptors' numbers
        for fd in (conn.fileno(), self._wake_read):
            watched.register(fd, select.POLLIN)
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            ready = watched.poll(1000 * min(left, self.settings.relay_poll_seconds))
            if any(fd == self._wake_read for fd, _ in ready):
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_read, 4096)
            if ready:  # the next round takes the notifications (`_heard`)
                return

    @staticmethod
    def _heard(conn: Any) -> None:
        """Take the notifications that came in (psycopg keeps those that arrive during
        queries): the read that follows sees every commit they announce. Done every round,
        so under sustained load, when the relay never idles, they do not pile up."""
        with contextlib.closing(conn.notifies(timeout=0)) as came:
            for _ in came:
                pass

    def run(self, stop: threading.Event) -> None:
        table = sql.Identifier(self.service, "relay_position")  # see shared/migrations
        lock_key = f"onestop-relay:{self.service}:{self.topic}"
        producer = make_producer(self.settings, self.service, f"{self.service}-relay")
        try:
            while not stop.is_set():
                try:
                    with connect(self.settings) as conn:
                        got = conn.execute(
                            "SELECT pg_try_advisory_lock(hashtext(%s))", (lock_key,)
                        ).fetchone()
                        if not (got and got[0]):
                            self.status.leader = False
                            stop.wait(1.0)
                            continue
                        self.status.leader = True
                        channel = getattr(self.app.recorder, "channel_name", None)
                        if channel:  # the event store notifies it at every insert's commit
                            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
                        self._relay(conn, table, producer, stop)
                except Exception as error:  # keep relaying after any outage; say why
                    self.status.leader = False
                    self.status.last_error = f"{type(error).__name__}: {error}"
                    log.exception("relay %s failed; retrying", self.service)
                    stop.wait(1.0)
        finally:
            producer.close(timeout=5)

    def _relay(
        self, conn: Any, table: sql.Composable, producer: KafkaProducer, stop: threading.Event
    ) -> None:
        row = conn.execute(
            sql.SQL("SELECT notification_id FROM {} WHERE topic = %s").format(table), (self.topic,)
        ).fetchone()
        position = row[0] if row else 0
        self.status.position = position
        while not stop.is_set():
            self._heard(conn)
            notifications = self.app.recorder.select_notifications(
                start=position, limit=self.BATCH, inclusive_of_start=False
            )
            if not notifications:
                self._idle(conn, stop)
                continue
            futures = []
            for notification in notifications:
                if not self.publishes(notification.topic):
                    continue
                # a stored event that cannot be read is a configuration fault (the key):
                # that raises and is retried; one our own mapping cannot put into its
                # contract is a bug: it is parked on the dead-letter topic, the rest go on
                domain_event = self.app.mapper.to_domain_event(notification)
                try:
                    event = self.to_cloudevent(domain_event)
                except Exception as error:
                    futures.append(self._park(producer, notification, error))
                    continue
                if event is not None:
                    futures.append(self._send(producer, event))
            producer.flush()
            for future in futures:
                future.get(timeout=30)  # raises if the broker refused the record
            position = notifications[-1].id
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} VALUES (%s, %s, now()) ON CONFLICT (topic) DO UPDATE "
                    "SET notification_id = EXCLUDED.notification_id, updated_at = now()"
                ).format(table),
                (self.topic, position),
            )
            self.status.position = position
            if len(notifications) < self.BATCH:
                stop.wait(self.LINGER_SECONDS)
            parked, self._parked_now = self._parked_now, 0
            self.status.published += len(futures) - parked
            self.status.last_published_at = time.time()
            if not parked:
                self.status.last_error = None


Handler = Callable[[CloudEvent, Tracking], None]
"""Applies one record's effects and saves them together with the tracking record."""


class Consuming(Protocol):
    """What a consumer needs of the application it feeds (see `shared.processing`)."""

    recorder: Any

    def handle(self, event: CloudEvent, tracking: Tracking) -> None: ...

    def batched(self) -> AbstractContextManager[Any]: ...

    def save_batch(self, batch: Any, trackings: Sequence[Tracking]) -> None: ...

    def aggregates_of(self, event: CloudEvent) -> list[UUID]: ...

    def prefetch(self, aggregate_ids: Iterable[UUID]) -> None: ...


@dataclass
class ConsumerStatus:
    processed: int = 0
    duplicates: int = 0
    batches: int = 0
    batches_replayed: int = 0
    dead_lettered: int = 0
    last_error: str | None = None
    assigned: list[str] = field(default_factory=list)
    lag: dict[tuple[str, int], int] = field(default_factory=dict)
    """Per assigned partition, records not yet consumed (as of the last poll)."""
    member: bool = False
    """Whether the consumer is a settled member of its group (it hears its partitions)."""


class _SeekToTracked(ConsumerRebalanceListener):
    """Starts each assigned partition after the last record the database says was applied,
    and keeps that position in `applied` for as long as the partition stays assigned."""

    def __init__(
        self,
        consumer: KafkaConsumer,
        recorder: TrackingRecorder,
        status: ConsumerStatus,
        applied: dict[str, int],
        held: dict[str, list[Any]],
    ):
        self.consumer = consumer
        self.recorder = recorder
        self.status = status
        self.applied = applied
        self.held = held

    def on_partitions_revoked(self, revoked: Any) -> None:
        """Also called for partitions lost (the member was expelled) and on close: what this
        consumer no longer holds is not reported as held (with two copies of a service, both
        would otherwise claim the partitions one of them gave up)."""
        gone = {f"{tp.topic}:{tp.partition}" for tp in revoked}
        self.status.assigned = [p for p in self.status.assigned if p not in gone]
        for tp in revoked:
            self.applied.pop(tracking_name(tp.topic, tp.partition), None)
            self.held.pop(tracking_name(tp.topic, tp.partition), None)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.status.assigned = sorted(f"{tp.topic}:{tp.partition}" for tp in assigned)
        for tp in assigned:
            name = tracking_name(tp.topic, tp.partition)
            self.held.pop(name, None)  # fetched again from the position sought here
            position = self.recorder.max_tracking_id(name)
            if position is not None:
                self.consumer.seek(tp, position + 1)
                self.applied[name] = position
            else:
                self.applied.pop(name, None)


def trusted(topic: str, event: CloudEvent) -> None:
    """A record touches no aggregate and no history unless it is an event of the topic's own
    service, of a type that service publishes, whose data fits that type's contract and
    whose subject is the case its data names. Raises ValueError saying what is wrong (the
    record is then dead-lettered with that reason)."""
    parts = topic.rsplit(".", 2)  # <prefix>.<service>.events
    publisher = parts[-2] if len(parts) == 3 and parts[-1] == "events" else None
    if publisher in SERVICES:
        if event.service != publisher:
            raise ValueError(f"an event from {event.service!r} on {publisher}'s topic")
        if not event.type.startswith(f"onestop.{publisher}."):
            raise ValueError(f"{event.type!r} is not a type {publisher} publishes")
    message = parse(event.type, event.data)
    case_id = getattr(message, "case_id", None)
    if case_id is not None and case_id != event.subject:
        raise ValueError(f"the subject {event.subject!r} is not the case the data names")


def tracking_name(topic: str, partition: int) -> str:
    return f"kafka:{topic}:{partition}"


class Consumer:
    """Consumes topics into an application — a poll's records in the order they were
    published, in transactions of up to `BATCH` — dead-lettering bad ones."""

    CONFLICT_RETRIES = 10
    LAG_SECONDS = 1.0
    GATHER_MS = 150
    """What a consumer off the path a person waits on lets the broker gather (intake noting
    progress, follow-up keeping histories and clocks): its work is there 150 ms later at
    most. Routing, on the way to an assignment, takes each record as it comes."""
    BATCH = 200
    """Records a poll hands over, and records applied in one transaction: what waited for a
    partition behind (`_ready`) is released in transactions of this size too. Released at
    once, a follow-up catching up on 9,000 cases applied 5,000 records in one transaction
    and its memory went from ~110 to 557 MB."""
    HOLD_SECONDS = 2.0
    HOLD_LIMIT = 5_000
    """How long records may wait without any being applied, and how many may wait, for a
    partition that is behind (`_ready`); past either they are applied in the order they came,
    so that a partition that never catches up cannot stop the others."""
    STALL_SECONDS = 15.0
    """kafka-python was seen to stall in a rejoin, never stable again, its revoked partitions
    still listed as assigned (cf. dpkp/kafka-python#1237); a consumer stuck like that longer
    than this starts over."""

    def __init__(
        self,
        settings: Settings,
        service: ServiceName,
        topics: list[str],
        application: Consuming,
        after_batch: Callable[[], None] = lambda: None,
        gather_ms: int = 0,
    ) -> None:
        """`gather_ms`: how long the broker may hold a fetch to gather more records (0: it
        answers as soon as there is one). A consumer whose work nobody waits for in the
        moment gathers: records come one by one at moderate rates, and each alone is a
        transaction, a load and a save — several times the cost per record of a batch."""
        self.gather_ms = gather_ms
        self.settings = settings
        self.service = service
        self.topics = topics
        self.application = application
        self.recorder: TrackingRecorder = application.recorder
        self.handle: Handler = application.handle
        self.after_batch = after_batch
        self.status = ConsumerStatus()
        self.tracing: Tracing | None = None
        """Set by the runtime: each record is handled in a span of the conversation's trace."""
        self.instance = str(settings.port_of(service))
        """Stable across restarts of this process, distinct from other copies on the host
        (each serves its own port)."""
        self.metrics: Metrics | None = None
        """Set by the runtime that serves `/metrics`."""
        self.dead_letter_topic = settings.dead_letter_topic(service)
        self._applied: dict[str, int] = {}
        """Per partition, the last record handled since it was assigned to this consumer: a
        record at or before it is a redelivery. Unknown partitions ask the database."""
        self._held: dict[str, list[Any]] = {}
        """Per partition, records fetched but not applied yet (see `_ready`)."""
        self._seen: dict[str, int] = {}
        """Per partition, the timestamp of the last record fetched from it."""
        self._holding_since: float | None = None
        self.rank = {topic: i for i, topic in enumerate(topics)}
        """Records published in the same millisecond are taken topic by topic in this order
        (intake's before routing's: a cause before its effect)."""

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                self._consume(stop)
            except Exception as error:  # a broker or database outage: wait and rejoin
                self.status.last_error = f"{type(error).__name__}: {error}"
                log.exception("consumer %s failed; rejoining", self.service)
                stop.wait(1.0)

    def _consume(self, stop: threading.Event) -> None:
        # a new consumer: its partitions' positions come with them
        self._applied.clear()
        self._held.clear()
        self._seen.clear()
        self._holding_since = None
        consumer = KafkaConsumer(
            **client_options(self.settings, self.service),
            group_id=f"{self.settings.topic_prefix}.{self.service}",
            client_id=f"{self.service}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # The broker answers a fetch as soon as a record is there (fetch_min_bytes=1), so
            # a long wait costs no latency; a short one had three idle consumers make the
            # broker spend a third of a core answering empty fetches.
            fetch_max_wait_ms=self.gather_ms or 250,
            fetch_min_bytes=1 << 20 if self.gather_ms else 1,
            max_poll_records=self.BATCH,
            metadata_max_age_ms=10_000,  # notice new topics and partitions within seconds
            # Static membership: a process restarted after a crash rejoins as the member it
            # was and gets its partitions back at once, without waiting for the broker to
            # expire the dead one (kafka-python's 45 s default); a member that does not come
            # back is expired after 10 s and its partitions go to the others.
            group_instance_id=f"{self.service}-{socket.gethostname()}-{self.instance}",
            session_timeout_ms=10_000,
            heartbeat_interval_ms=2_000,
        )
        producer = make_producer(self.settings, self.service, f"{self.service}-deadletter")
        try:
            self._await_metadata(consumer, stop)
            consumer.subscribe(
                self.topics,
                listener=_SeekToTracked(
                    consumer, self.recorder, self.status, self._applied, self._held
                ),
            )
            unsettled_since = lag_noted = time.monotonic()
            while not stop.is_set():
                batches = consumer.poll(timeout_ms=200)
                # A rejoin that never completes keeps the revoked partitions listed as
                # assigned, so only the membership state tells a stall from a quiet topic.
                self.status.member = self._stable(consumer)
                if self.status.member or batches:
                    unsettled_since = time.monotonic()
                elif time.monotonic() - unsettled_since > self.STALL_SECONDS:
                    raise RuntimeError(
                        f"no stable group membership for {self.STALL_SECONDS:.0f} s; "
                        "rejoining with a new consumer"
                    )
                applied = 0
                if batches or self._holding_since is not None:
                    polled = list(batches.values())
                    applied = self._process_poll(polled, self._behind(consumer), producer)
                if applied:
                    self.after_batch()
                if batches:
                    consumer.commit_async()  # for lag monitoring; the truth is the tracking table
                # Asking each partition's position was ~5 % of a busy consumer: while records
                # flow the lag is refreshed every LAG_SECONDS, and at once when a poll finds
                # nothing (caught up is reported as soon as it is true).
                now = time.monotonic()
                if not batches or now - lag_noted >= self.LAG_SECONDS:
                    self._note_lag(consumer)
                    lag_noted = now
        finally:
            self.status.member = False
            self.status.assigned, self.status.lag = [], {}
            consumer.close(autocommit=False)
            producer.close(timeout=5)

    def _note_lag(self, consumer: KafkaConsumer) -> None:
        """How far behind each assigned partition is, from what the last fetch said of its
        high watermark (no request to the broker)."""
        lag: dict[tuple[str, int], int] = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is not None:
                with contextlib.suppress(Exception):  # a partition being revoked right now
                    lag[(tp.topic, tp.partition)] = max(0, high - consumer.position(tp))
        self.status.lag = lag

    @staticmethod
    def _stable(consumer: KafkaConsumer) -> bool:
        """Whether the group membership settled (a member may legitimately get no partitions
        when there are more members than partitions) and the coordinator still answers its
        heartbeats: kafka-python keeps calling a membership stable while the broker is gone,
        but the broker counts a member that has not been heard for a session as gone."""
        coordinator = getattr(consumer, "_coordinator", None)  # kafka-python has no public API
        if coordinator is None:
            return True
        return bool(coordinator.stable()) and not coordinator.heartbeat.session_timeout_expired()

    def _await_metadata(self, consumer: KafkaConsumer, stop: threading.Event) -> None:
        """Join the group only once this consumer knows every topic's partitions.

        Joining earlier makes the leader assign nothing; kafka-python was seen to then stall
        in the following rejoin and sit with no partitions (cf. dpkp/kafka-python#1237).
        """
        deadline = time.monotonic() + 60
        missing = list(self.topics)
        while missing and not stop.is_set():
            missing = [t for t in missing if not consumer.partitions_for_topic(t)]
            if missing and time.monotonic() > deadline:
                raise RuntimeError(f"no partition metadata for {', '.join(missing)} after 60 s")
            if missing:
                stop.wait(0.2)

    @staticmethod
    def _behind(consumer: KafkaConsumer) -> set[str]:
        """The assigned partitions with records published that this consumer has not fetched
        yet (by what the last fetch said of their high watermarks)."""
        behind: set[str] = set()
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            with contextlib.suppress(Exception):  # a partition being revoked right now
                if high is not None and consumer.position(tp) < high:
                    behind.add(tracking_name(tp.topic, tp.partition))
        return behind

    def _process_poll(
        self, polled: list[list[Any]], behind: set[str], producer: KafkaProducer
    ) -> int:
        """What a poll brought from each partition (but what was handled before: a
        redelivery) joins what is held; what is ready of it (`_ready`) is applied. Returns
        how many records were handled."""
        for records in polled:
            if not records:
                continue
            name = tracking_name(records[0].topic, records[0].partition)
            self._seen[name] = records[-1].timestamp
            held = self._held.setdefault(name, [])
            if held:
                done: int | None = held[-1].offset
            elif name in self._applied:
                done = self._applied[name]
            else:
                done = self.recorder.max_tracking_id(name)
            fresh = [r for r in records if done is None or r.offset > done]
            self.status.duplicates += len(records) - len(fresh)
            held.extend(fresh)
        ready = self._ready(behind)
        for start in range(0, len(ready), self.BATCH):
            batch = ready[start : start + self.BATCH]
            if self.metrics is not None:
                self.metrics.consumer_batch.observe(len(batch))
            self._apply(batch, producer)
        return len(ready)

    def _ready(self, behind: set[str]) -> list[Any]:
        """The held records in the order they were published: by timestamp across
        partitions (a partition's own in offset order), as far as no partition still behind
        can hold one published earlier.

        One service's event causes another's: follow-up hears a registration on intake's
        topic and the assignment it caused on routing's, and keeps a case's history in the
        order it applies them. Taken partition by partition, a poll holding both could apply
        the assignment first; a partition not fetched to its end yet could still hold the
        registration. So a record waits while a partition behind it has fetched nothing
        published after it — for at most `HOLD_SECONDS` and `HOLD_LIMIT` records.
        """
        queues = [held for held in self._held.values() if held]
        if not queues:
            self._holding_since = None
            return []
        horizon = min((self._seen.get(name, -1) for name in behind), default=None)
        now = time.monotonic()
        if sum(map(len, queues)) > self.HOLD_LIMIT or (
            self._holding_since is not None and now - self._holding_since > self.HOLD_SECONDS
        ):
            horizon = None
        merged = heapq.merge(*queues, key=lambda r: (r.timestamp, self.rank.get(r.topic, 0)))
        ready = list(
            itertools.takewhile(lambda r: horizon is None or r.timestamp <= horizon, merged)
        )
        taken = collections.Counter(tracking_name(r.topic, r.partition) for r in ready)
        for name, count in taken.items():
            del self._held[name][:count]
        if not any(self._held.values()):
            self._holding_since = None
        elif ready or self._holding_since is None:  # held since the last progress
            self._holding_since = now
        return ready

    def _apply(self, fresh: list[Any], producer: KafkaProducer) -> None:
        """In one transaction if they all apply; otherwise one at a time. A lone record goes
        the same way: a batch takes its aggregates out of the cache where a record on its own
        would copy them (a copy was ~6 % of follow-up when records came one by one)."""
        if not fresh:
            return
        reached = {tracking_name(r.topic, r.partition): r.offset for r in fresh}
        try:
            with self.application.batched() as batch:
                events = [CloudEvent.from_json(record.value) for record in fresh]
                self.application.prefetch(
                    i for event in events for i in self.application.aggregates_of(event)
                )
                for record, event in zip(fresh, events, strict=True):
                    name = tracking_name(record.topic, record.partition)
                    self._handle(record, event, Tracking(name, record.offset))
            self.application.save_batch(
                batch, [Tracking(name, offset) for name, offset in reached.items()]
            )
        except (DomainError, ValueError, IntegrityError):  # ValueError: malformed events too
            # a refused record or a concurrent writer: nothing was saved. One at a time, each
            # refused record is dead-lettered and each conflict retried on fresh state.
            self.status.batches_replayed += 1
            for record in fresh:
                self._process(record, producer)
        else:
            self.status.batches += 1
            self.status.processed += len(fresh)
        self._applied.update(reached)  # applied, found applied before, or dead-lettered

    def _process(self, record: Any, producer: KafkaProducer) -> None:
        tracking = Tracking(tracking_name(record.topic, record.partition), record.offset)
        try:
            event = CloudEvent.from_json(record.value)
        except MalformedEvent as error:
            self._dead_letter(record, tracking, producer, f"malformed event: {error}")
            return
        for _ in range(self.CONFLICT_RETRIES):
            try:
                self._handle(record, event, tracking)
            except IntegrityError:
                if self.recorder.has_tracking_id(
                    tracking.application_name, tracking.notification_id
                ):
                    self.status.duplicates += 1
                    return
                continue  # another writer moved an aggregate on: reload and apply again
            except (DomainError, ValueError) as error:
                self._dead_letter(record, tracking, producer, str(error))
                return
            except PersistenceError:
                raise  # database outage: the record is redelivered after rejoining
            self.status.processed += 1
            return
        self._dead_letter(record, tracking, producer, "kept conflicting with concurrent writers")

    def _handle(self, record: Any, event: CloudEvent, tracking: Tracking) -> None:
        """The application applies the record — only if it is what its topic may carry —
        in the span of this service handling it (the child of the event's publication, from
        the record's `traceparent`)."""
        trusted(record.topic, event)
        token = case_of_log.set(event.subject)
        try:
            if self.tracing is None:
                self.handle(event, tracking)
                return
            header = dict(record.headers or []).get("traceparent")
            with self.tracing.handle(
                event.id,
                event.type,
                event.subject,
                event.correlation_id,
                header.decode("latin-1") if header else None,
            ):
                self.handle(event, tracking)
        finally:
            case_of_log.reset(token)

    def _dead_letter(
        self, record: Any, tracking: Tracking, producer: KafkaProducer, reason: str
    ) -> None:
        log.warning(
            "dead-lettering %s:%s@%s: %s", record.topic, record.partition, record.offset, reason
        )
        headers = [
            ("onestop-reason", reason.encode()),
            ("onestop-consumer", self.service.encode()),
            ("onestop-source", f"{record.topic}:{record.partition}:{record.offset}".encode()),
        ]
        producer.send(
            self.dead_letter_topic, key=record.key, value=record.value or b"", headers=headers
        )
        producer.flush()
        with contextlib.suppress(IntegrityError):
            self.recorder.insert_tracking(tracking)
        self.status.dead_lettered += 1
        if self.metrics is not None:
            self.metrics.dead_letters.labels(dead_letter_kind(reason)).inc()
