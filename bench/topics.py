"""Reading Kafka as the bench does: plain consumers, a watcher that times when each case
shows up on a topic, and the wait until the pipeline has drained."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from bench.common import ASSIGNED, REGISTERED, SCHEDULED, kafka_options
from shared.settings import SERVICES, Settings


def admin_client(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(
        **kafka_options(settings),
        client_id="onestop-bench",
        request_timeout_ms=15_000,
    )


def partitions_of(consumer: KafkaConsumer, topic: str, wait: float = 15.0) -> list[TopicPartition]:
    deadline = time.monotonic() + wait
    while True:
        consumer.topics()  # refreshes metadata
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} has no partitions (does it exist?)")
        time.sleep(0.2)


def plain_consumer(settings: Settings, client_id: str) -> KafkaConsumer:
    return KafkaConsumer(
        **kafka_options(settings),
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        fetch_max_wait_ms=20,
        max_poll_records=2000,
        request_timeout_ms=30_000,
    )


class Watcher(threading.Thread):
    """Reads a topic from its current end, recording when each matching case id first showed.

    `match(event_dict)` returns the case id to record, or None. Positions are resolved in the
    constructor, so anything published after it returns is seen.
    """

    def __init__(
        self,
        settings: Settings,
        topic: str,
        match: Callable[[dict[str, Any]], str | None],
        prefilter: bytes | None = None,
    ) -> None:
        super().__init__(name=f"watch-{topic}", daemon=True)
        self.match = match
        self.prefilter = prefilter
        self.seen: dict[str, float] = {}  # case id -> monotonic arrival
        self.stamps: dict[str, float] = {}  # case id -> Kafka record timestamp (epoch s)
        self.records = 0
        self.error: str | None = None
        self.stop = threading.Event()
        self.consumer = plain_consumer(settings, f"bench-watch-{topic}")
        parts = partitions_of(self.consumer, topic)
        self.consumer.assign(parts)
        self.consumer.seek_to_end(*parts)
        for tp in parts:
            self.consumer.position(tp)  # resolves the seek now, not at the first poll

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                batches = self.consumer.poll(timeout_ms=100)
                now = time.monotonic()
                for records in batches.values():
                    for record in records:
                        self.records += 1
                        value = record.value or b""
                        if self.prefilter is not None and self.prefilter not in value:
                            continue
                        try:
                            event = orjson.loads(value)
                        except orjson.JSONDecodeError:
                            continue
                        case_id = self.match(event) if isinstance(event, dict) else None
                        if case_id and case_id not in self.seen:
                            self.seen[case_id] = now
                            self.stamps[case_id] = record.timestamp / 1000
        except Exception as error:  # reported with the step's result
            self.error = f"{type(error).__name__}: {error}"
        finally:
            self.consumer.close(autocommit=False)

    def close(self) -> None:
        self.stop.set()
        self.join(10)


def is_assigned(event: dict[str, Any]) -> str | None:
    return event.get("subject") if event.get("type") == ASSIGNED else None


def is_assignment_deadlines(event: dict[str, Any]) -> str | None:
    if event.get("type") != SCHEDULED:
        return None
    deadlines = (event.get("data") or {}).get("deadlines") or []
    if any(isinstance(d, dict) and d.get("kind") == "handling-plan" for d in deadlines):
        return event.get("subject")
    return None


def wait_until_quiet(settings: Settings, timeout: float) -> dict[str, Any]:
    """Wait until routing and follow-up have consumed everything (consumer-group lag 0) and
    no topic grows any more, so one step's backlog does not slow the next."""
    groups = {
        f"{settings.topic_prefix}.routing": [settings.topic("intake")],
        f"{settings.topic_prefix}.followup": [settings.topic(s) for s in SERVICES],
    }
    topics = sorted({t for ts in groups.values() for t in ts})
    admin = admin_client(settings)
    consumer = plain_consumer(settings, "bench-lag")
    start = time.monotonic()
    previous: dict[TopicPartition, int] | None = None
    lag: dict[str, int] = {}
    try:
        parts = [tp for t in topics for tp in partitions_of(consumer, t)]
        while True:
            ends = consumer.end_offsets(parts)
            lag = {}
            for group, group_topics in groups.items():
                committed = admin.list_group_offsets({group: None}).get(group, {})
                lag[group] = sum(
                    max(0, ends[tp] - max(0, committed[tp].offset if tp in committed else 0))
                    for tp in parts
                    if tp.topic in group_topics
                )
            if previous == ends and not any(lag.values()):
                return {"seconds": time.monotonic() - start, "quiet": True, "lag": lag}
            if time.monotonic() - start > timeout:
                return {"seconds": time.monotonic() - start, "quiet": False, "lag": lag}
            previous = ends
            time.sleep(0.5)
    finally:
        consumer.close(autocommit=False)
        admin.close()


# --------------------------------------------------------------------------- 4. latency


def is_registered(event: dict[str, Any]) -> str | None:
    return event.get("subject") if event.get("type") == REGISTERED else None
