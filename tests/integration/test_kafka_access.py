"""The broker `make up` starts trusts no one it does not know: no client without a valid
password, and each service writes only its own topics and reads only those it follows."""

from __future__ import annotations

import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr

from shared.kafka import client_options
from shared.kafka_access import FOLLOWS
from shared.settings import SERVICES, Settings
from tests.conftest import fresh

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(infra: Settings) -> Settings:
    return fresh(infra)


def producer(options: dict) -> KafkaProducer:
    return KafkaProducer(**options, acks="all", max_block_ms=5000, request_timeout_ms=5000)


def test_a_client_without_credentials_or_with_a_wrong_password_is_not_let_in(settings):
    plain = {"bootstrap_servers": client_options(settings, "intake")["bootstrap_servers"]}
    with pytest.raises(KafkaError):
        producer(plain | {"security_protocol": "PLAINTEXT", "bootstrap_timeout_ms": 3000}).send(
            settings.topic("intake"), value=b"x"
        ).get(timeout=10)

    wrong = settings.model_copy(update={"kafka_password_intake": SecretStr("guessed")})
    with pytest.raises(KafkaError):
        producer(client_options(wrong, "intake") | {"bootstrap_timeout_ms": 3000}).send(
            settings.topic("intake"), value=b"x"
        ).get(timeout=10)

    # the same client with the right password is let in at once
    right = producer(client_options(settings, "intake") | {"bootstrap_timeout_ms": 3000})
    assert right.send(settings.topic("intake"), value=b"{}").get(timeout=10).offset >= 0
    right.close(timeout=5)


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_writes_its_own_topics_and_the_broker_refuses_it_anyone_elses(settings, service):
    own = producer(client_options(settings, service))
    try:
        for topic in (settings.topic(service), settings.dead_letter_topic(service)):
            sent = own.send(topic, key=b"k", value=b'{"probe": true}').get(timeout=10)
            assert sent.topic == topic
        for other in SERVICES:
            if other == service:
                continue
            for topic in (settings.topic(other), settings.dead_letter_topic(other)):
                with pytest.raises(TopicAuthorizationFailedError):
                    own.send(topic, key=b"k", value=b"forged").get(timeout=10)
    finally:
        own.close(timeout=5)


def read(settings: Settings, who, topic: str, partition: int, seconds: float) -> list[bytes] | None:
    """The records `who` reads from one partition, or None when the broker refuses."""
    consumer = KafkaConsumer(**client_options(settings, who), enable_auto_commit=False)
    try:
        consumer.assign([TopicPartition(topic, partition)])
        consumer.seek_to_beginning()
        got: list[bytes] = []
        deadline = time.monotonic() + seconds
        while not got and time.monotonic() < deadline:
            try:
                batches = consumer.poll(timeout_ms=300)
            except TopicAuthorizationFailedError:
                return None  # refused
            for batch in batches.values():
                got += [r.value for r in batch]
        return got
    finally:
        consumer.close()


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_reads_only_the_topics_it_follows_and_commits_only_in_its_own_group(
    settings, service
):
    operator = producer(client_options(settings, "admin"))
    placed = {}
    for other in SERVICES:
        for topic in (settings.topic(other), settings.dead_letter_topic(other)):
            placed[topic] = operator.send(topic, value=b"one record").get(timeout=10).partition
    operator.close(timeout=5)

    readable = {settings.topic(s) for s in FOLLOWS[service]}
    for topic, partition in placed.items():
        got = read(settings, service, topic, partition, 10 if topic in readable else 3)
        if topic in readable:
            assert got == [b"one record"], (service, topic)
        else:  # refused outright, or its metadata withheld: nothing read either way
            assert not got, (service, topic)

    someone_else = next(s for s in SERVICES if s != service)
    theirs = KafkaConsumer(
        **client_options(settings, service),
        group_id=f"{settings.topic_prefix}.{someone_else}",
        enable_auto_commit=False,
    )
    try:
        with pytest.raises(GroupAuthorizationFailedError):
            theirs.subscribe([settings.topic(FOLLOWS[service][0])])
            for _ in range(10):
                theirs.poll(timeout_ms=500)
    finally:
        theirs.close()
