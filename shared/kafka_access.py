"""Who may do what on Kafka: the topics, the services' principals and their ACLs.

Each service signs in as its own principal (onestop-intake, …) and may write only its own
topics — its events and its dead letters, and follow-up its signed checkpoints — read only
the topics it follows, and commit offsets only in its own consumer group. The operator's
principal provisions all of it, idempotently: `onestop kafka provision` (run by `make up`
against the broker it starts; by hand, with the operator's credentials, against a secured
cluster of your own).
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Literal

from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    NewTopic,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
    UserScramCredentialUpsertion,
)
from kafka.errors import TopicAlreadyExistsError

from shared.kafka import client_options
from shared.settings import SERVICES, ServiceName, Settings

FOLLOWS: dict[ServiceName, tuple[ServiceName, ...]] = {
    "intake": ("routing", "followup"),
    "routing": ("intake", "followup"),
    # follow-up keeps every case's history; its own events it records as it saves them and
    # skips when it hears them back (those an earlier release published are recorded then)
    "followup": ("intake", "routing", "followup"),
}
"""Whose events each service consumes."""


def followed_topics(settings: Settings, service: ServiceName) -> list[str]:
    return [settings.topic(other) for other in FOLLOWS[service]]


def own_topics(settings: Settings, service: ServiceName) -> list[str]:
    topics = [settings.topic(service), settings.dead_letter_topic(service)]
    if service == "followup":  # its signed checkpoints, for auditors to archive
        topics.append(settings.checkpoint_topic())
    return topics


@dataclass(frozen=True)
class Grant:
    """One thing a service's principal may do."""

    service: ServiceName
    operation: Literal["READ", "WRITE", "CREATE", "DESCRIBE"]
    resource: Literal["TOPIC", "GROUP"]
    name: str

    def acl(self, settings: Settings) -> ACL:
        return ACL(
            principal=f"User:{settings.kafka_user_prefix}{self.service}",
            host="*",
            operation=ACLOperation[self.operation],
            permission_type=ACLPermissionType.ALLOW,
            resource_pattern=ResourcePattern(
                ResourceType[self.resource], self.name, ACLResourcePatternType.LITERAL
            ),
        )


def grants(settings: Settings) -> list[Grant]:
    """Everything the three services may do under this topic prefix — and nothing else."""
    found: list[Grant] = []
    for service in SERVICES:
        for operation in ("WRITE", "CREATE", "DESCRIBE"):
            found += [Grant(service, operation, "TOPIC", t) for t in own_topics(settings, service)]
        for topic in followed_topics(settings, service):
            found += [
                Grant(service, "READ", "TOPIC", topic),
                Grant(service, "DESCRIBE", "TOPIC", topic),
            ]
        found.append(Grant(service, "READ", "GROUP", f"{settings.topic_prefix}.{service}"))
    return list(dict.fromkeys(found))


def _await_acls(admin: KafkaAdminClient, settings: Settings, count: int) -> None:
    """The controller has taken the ACLs; wait until the broker enforces them too (it learns
    them from the metadata log a moment later), so a service started next is let in."""
    deadline = time.monotonic() + 30
    names = {f"User:{settings.kafka_user_prefix}{s}" for s in SERVICES}
    prefix = f"{settings.topic_prefix}."
    while True:
        found, _ = admin.describe_acls(
            ACLFilter(
                principal=None,
                host="*",
                operation=ACLOperation.ANY,
                permission_type=ACLPermissionType.ANY,
                resource_pattern=ResourcePatternFilter(
                    ResourceType.ANY, None, ACLResourcePatternType.LITERAL
                ),
            )
        )
        mine = [
            a
            for a in found
            if a.principal in names and a.resource_pattern.resource_name.startswith(prefix)
        ]
        if len(mine) >= count:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the broker enforces {len(mine)} of {count} ACLs after 30 s")
        time.sleep(0.1)


@dataclass
class Provisioned:
    users: list[str] = field(default_factory=list)
    topics_created: list[str] = field(default_factory=list)
    acls: int = 0


def provision(settings: Settings, *, users: bool = True) -> Provisioned:
    """Make the cluster ready for the services, as the operator: their SCRAM credentials
    (from the passwords in the settings), every topic, and the ACLs of `grants`."""
    done = Provisioned()
    admin = KafkaAdminClient(**client_options(settings, "admin"), client_id="onestop-provision")
    try:
        secured = settings.kafka_security_protocol.startswith("SASL")
        if users and secured and settings.kafka_sasl_mechanism.startswith("SCRAM"):
            upserts = []
            for service in SERVICES:
                user, password, mechanism = settings.kafka_principal(service)
                upserts.append(UserScramCredentialUpsertion(user, mechanism, password))
                done.users.append(user)
            failed = {u: e for u, e in admin.alter_user_scram_credentials(upserts).items() if e}
            if failed:
                raise RuntimeError(f"Kafka refused the services' credentials: {failed}")

        existing = set(admin.list_topics())
        wanted = [t for s in SERVICES for t in own_topics(settings, s)]
        missing = [
            NewTopic(
                name,
                num_partitions=settings.topic_partitions,
                replication_factor=1,
                topic_configs={"retention.ms": "-1"},
            )
            for name in wanted
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
            done.topics_created = [t.name for t in missing]

        if secured:
            acls = [g.acl(settings) for g in grants(settings)]
            answer = admin.create_acls(acls)
            if answer.get("failed"):
                raise RuntimeError(f"Kafka refused ACLs: {answer['failed']}")
            _await_acls(admin, settings, len(acls))
            done.acls = len(acls)
    finally:
        admin.close()
    return done


def deprovision(settings: Settings) -> None:
    """Remove a topic prefix's topics and ACLs (tests clean up after themselves with it)."""
    admin = KafkaAdminClient(**client_options(settings, "admin"), client_id="onestop-provision")
    try:
        prefix = f"{settings.topic_prefix}."
        topics = [t for t in admin.list_topics() if t.startswith(prefix)]
        if topics:
            admin.delete_topics(topics)
        if settings.kafka_security_protocol.startswith("SASL"):
            admin.delete_acls([_exactly(g.acl(settings)) for g in grants(settings)])
    finally:
        admin.close()


def _exactly(acl: ACL) -> ACLFilter:
    pattern = acl.resource_pattern
    return ACLFilter(
        principal=acl.principal,
        host=acl.host,
        operation=acl.operation,
        permission_type=acl.permission_type,
        resource_pattern=ResourcePatternFilter(
            pattern.resource_type, pattern.resource_name, pattern.pattern_type
        ),
    )
