"""Intake's domain: the case as registered at the one door."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from shared.domain import Actor, DomainError, Trace
from shared.reference import CATEGORIES, check_location

PII_ROLES = frozenset({"clerk", "handler", "supervisor", "leader", "admin"})
"""Roles entitled to see a petitioner's personal data; everyone else sees it masked."""


class Channel(StrEnum):
    """来访/来信/电话/网上 — how the matter reached the centre."""

    VISIT = "visit"
    LETTER = "letter"
    PHONE = "phone"
    ONLINE = "online"


class InvalidCase(DomainError):
    """The submission cannot become a case as it stands."""


_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}\d{7,8}$")


def normalise_phone(raw: str) -> str:
    """Mainland mobile (11 digits) or landline with area code; spaces, dashes and +86 dropped."""
    digits = re.sub(r"[\s\-()]", "", raw)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not (_MOBILE.match(digits) or _LANDLINE.match(digits)):
        raise InvalidCase(
            f"{raw!r} is not a mainland mobile (11 digits, 1[3-9]…) or a landline with area code",
            field="petitioner.phone",
        )
    return digits


def mask_name(name: str) -> str:
    return name[0] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def mask_phone(phone: str) -> str:
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:] if len(phone) > 7 else "*" * len(phone)


class Case(Aggregate):
    """信访事项 — a matter a petitioner brought to the centre, as intake registered it."""

    class Registered(Aggregate.Created):
        channel: str
        petitioner: dict[str, Any]
        subject: str
        description: str
        category: str
        location: dict[str, Any]
        first_receiver: str
        actor: dict[str, Any]
        correlation_id: str
        causation_id: str | None

        def apply(self, aggregate: Case) -> None:
            aggregate.channel = self.channel
            aggregate.petitioner = self.petitioner
            aggregate.subject = self.subject
            aggregate.description = self.description
            aggregate.category = self.category
            aggregate.location = self.location
            aggregate.first_receiver = self.first_receiver
            aggregate.registered_by = self.actor

    def __init__(self) -> None:
        self.channel = ""
        self.petitioner: dict[str, Any] = {}
        self.subject = ""
        self.description = ""
        self.category = ""
        self.location: dict[str, Any] = {}
        self.first_receiver = ""
        self.registered_by: dict[str, Any] = {}

    @classmethod
    def register(
        cls,
        *,
        channel: Channel,
        petitioner_name: str,
        petitioner_phone: str,
        subject: str,
        description: str,
        category: str,
        location: dict[str, Any],
        actor: Actor,
        trace: Trace,
        case_id: UUID | None = None,
    ) -> Case:
        """Register a submission from any channel. Whoever registers it is its first receiver."""
        cls.check_category(category)
        cls.check_location(location)
        name = petitioner_name.strip()
        if not name:
            raise InvalidCase("the petitioner's name is required", field="petitioner.name")
        if not subject.strip():
            raise InvalidCase("the subject is required", field="subject")
        return cls._create(
            cls.Registered,
            id=case_id or uuid4(),
            channel=Channel(channel).value,
            petitioner={"name": name, "phone": normalise_phone(petitioner_phone)},
            subject=subject.strip(),
            description=description.strip(),
            category=category,
            location={k: location.get(k) for k in ("district", "street", "community")},
            first_receiver=actor.user,
            actor=actor.as_dict(),
            correlation_id=trace.correlation_id,
            causation_id=trace.causation_id,
        )

    @staticmethod
    def check_category(category: str) -> None:
        if category not in CATEGORIES:
            raise InvalidCase(
                f"unknown category {category!r}; known: {', '.join(CATEGORIES)}", field="category"
            )

    @staticmethod
    def check_location(location: dict[str, Any]) -> None:
        problems = check_location(
            location.get("district", ""), location.get("street", ""), location.get("community")
        )
        if problems:
            field, message = problems[0]
            raise InvalidCase(message, field=field)

    def petitioner_for(self, actor: Actor) -> dict[str, Any]:
        """The petitioner as this actor may see them: personal data masked unless entitled."""
        if actor.role in PII_ROLES:
            return {**self.petitioner, "masked": False}
        return {
            "name": mask_name(self.petitioner["name"]),
            "phone": mask_phone(self.petitioner["phone"]),
            "masked": True,
        }
