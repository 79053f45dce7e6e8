"""Intake's domain: the case as registered at the one door, the people who bring it, and the
rules of the door — first-visit responsibility, a group's representatives, litigation kept
apart from petitions, and the written notice owed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from shared.domain import (
    Actor,
    Attributed,
    AttributedCreation,
    DomainError,
    Problem,
    Trace,
    attribution,
)
from shared.policy import CaseAccess, Sight
from shared.territory import Location, Territory
from shared.vocabulary import Channel, Decision, LegalChannel, LegalClass


class InvalidCase(DomainError):
    """The submission cannot become a case as it stands."""


class DecisionRefused(DomainError):
    """The acceptance decision or classification breaks a rule."""


class CaseIsFinal(DomainError):
    """The matter ended after re-review; the same facts are not accepted again (Art. 36)."""


# --- personal data: checks, normal forms and masks ------------------------------------

_MOBILE = re.compile(r"^1[3-9]\d{9}$")
_LANDLINE = re.compile(r"^0\d{2,3}\d{7,8}$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def normalise_phone(raw: str, field: str = "petitioner.phone") -> str:
    """Mainland mobile (11 digits) or landline with area code; spaces, dashes and +86 dropped."""
    digits = re.sub(r"[\s\-()]", "", raw)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    if not (_MOBILE.match(digits) or _LANDLINE.match(digits)):
        raise InvalidCase(
            f"{raw!r} is not a mainland mobile (11 digits, 1[3-9]…) or a landline with area code",
            field=field,
        )
    return digits


def check_id_number(
    raw: str, field: str = "petitioner.id_number", today: date | None = None
) -> str:
    """An 18-character mainland resident ID (GB 11643): region, birth date, sequence and the
    ISO 7064 MOD 11-2 check character. Returns it upper-cased."""
    number = raw.strip().upper()
    if not re.fullmatch(r"[1-9]\d{16}[\dX]", number):
        raise InvalidCase(
            "an ID-card number has 18 characters: 17 digits and a check digit or X", field=field
        )
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidCase(
            f"{number[6:14]} in the ID-card number is not a date", field=field
        ) from None
    if born > (today or date.today()) or born.year < 1900:
        raise InvalidCase(f"the birth date {born} in the ID-card number is impossible", field=field)
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != number[17]:
        raise InvalidCase("the ID-card number's check digit does not match", field=field)
    return number


@dataclass(frozen=True)
class PersonDetails:
    """A person's details in normal form — 姓名, 身份证号, 电话, 地址 — as the registry and a
    case record them. Made from what was given by `of`, which checks it; read back from the
    event store as it was recorded."""

    name: str
    id_number: str | None = None
    phone: str | None = None
    address: str | None = None

    @classmethod
    def of(
        cls,
        name: str | None,
        id_number: str | None = None,
        phone: str | None = None,
        address: str | None = None,
        *,
        at: str = "petitioner",
        contact_required: bool = True,
    ) -> PersonDetails:
        """The details as given, in normal form: the ID-card number checked
        (`check_id_number`), the phone in its normal form (`normalise_phone`), blanks as none.
        A visitor is reached by phone or at an address (`contact_required`). Raises
        `InvalidCase` naming every bad field under `at`."""
        problems: list[Problem] = []

        def checked(check: Callable[[str, str], str], raw: str | None, field: str) -> str | None:
            if not raw:
                return None
            try:
                return check(raw, f"{at}.{field}")
            except InvalidCase as error:
                problems.extend(error.problems)
                return None

        name = (name or "").strip()
        if not name:
            problems.append(Problem(f"{at}.name", "the petitioner's name is required"))
        address = (address or "").strip() or None
        if contact_required and not (phone or address):
            problems.append(
                Problem(f"{at}.phone", "a phone number or an address is needed to reach them")
            )
        details = cls(
            name=name,
            id_number=checked(check_id_number, id_number, "id_number"),
            phone=checked(normalise_phone, phone, "phone"),
            address=address,
        )
        if problems:
            raise InvalidCase.listing(problems)
        return details


ERASED_NAME = "〔已删除〕"
"""What an erased person's name reads as, everywhere (个人信息保护法: their data is gone)."""


def erased_person() -> PersonDetails:
    """A person whose personal data was erased: nothing of them is left to show."""
    return PersonDetails(name=ERASED_NAME)


def is_erased(person: PersonDetails) -> bool:
    return person.name == ERASED_NAME and not (person.id_number or person.phone or person.address)


def mask_name(name: str) -> str:
    return name[0] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def mask_phone(phone: str) -> str:
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:] if len(phone) > 7 else "*" * len(phone)


def mask_id_number(number: str) -> str:
    return number[:3] + "*" * 11 + number[-4:]


def mask_address(address: str) -> str:
    return address[:6] + "****" if len(address) > 6 else "****"


@dataclass(frozen=True)
class PersonShown:
    """A person as one actor may see them (see `masked`)."""

    details: PersonDetails
    masked: bool


def shown(person: PersonDetails, sight: Sight) -> PersonShown:
    """A person as someone who sees this much of their case may see them: in full, or with
    their personal data masked (the visibility policy, `shared.policy`, says which)."""
    if sight is Sight.FULL or is_erased(person):
        return PersonShown(person, masked=False)
    shown = PersonDetails(
        name=mask_name(person.name) if person.name else person.name,
        id_number=mask_id_number(person.id_number) if person.id_number else person.id_number,
        phone=mask_phone(person.phone) if person.phone else person.phone,
        address=mask_address(person.address) if person.address else person.address,
    )
    return PersonShown(shown, masked=True)


@dataclass(frozen=True)
class CasePetitioner:
    """A petitioner as a case records them: their details when it was registered and, when
    the registry knows them (by ID-card number or phone), their registry id."""

    details: PersonDetails
    petitioner_id: str | None = None

    def subject(self, case_id: UUID | str, index: int) -> str:
        """Whose personal data this is, for erasure: the registry's person, or — someone
        the registry does not know — the case's petitioner at this place."""
        return self.petitioner_id or f"{case_id}#{index}"


class ErasureBasis(StrEnum):
    """Why a petitioner's personal data is erased (个人信息保护法 Art. 47): the retention
    period ended, or a lawful request (the person's, or an authority's)."""

    RETENTION = "retention"
    REQUEST = "request"


# --- what else a submission says ---------------------------------------------------------


@dataclass(frozen=True)
class Whereabouts:
    """Where a submission says the matter is, before the territory places it
    (`Territory.locate`): a place's code, and a point on the map when the sender has one."""

    place: str
    lat: float | None = None
    long: float | None = None


MAX_REPRESENTATIVES = 5
"""A group elects at most five representatives (《信访工作条例》第二十条)."""


@dataclass(frozen=True)
class GroupPetition:
    """集体访 — one matter shared by many people, who speak through the representatives they
    elect: the case's petitioners are its representatives."""

    participant_count: int

    def check_representatives(self, representatives: int) -> None:
        """The group-representatives limit (Art. 20 ¶3): a group is heard through at least
        one and at most `MAX_REPRESENTATIVES` elected representatives, so that the centre talks
        with a few people it knows rather than with a crowd; and a group has at least two
        participants, its representatives among them."""
        if representatives > MAX_REPRESENTATIVES:
            raise InvalidCase(
                f"a group elects at most {MAX_REPRESENTATIVES} representatives "
                f"(《信访工作条例》第二十条); {representatives} were given",
                field="group.representatives",
            )
        if not representatives:
            raise InvalidCase(
                "a group petition needs at least one elected representative",
                field="group.representatives",
            )
        if self.participant_count < max(2, representatives):
            raise InvalidCase(
                "a group petition has at least two participants, representatives included",
                field="group.participant_count",
            )


@dataclass(frozen=True)
class ExternalReference:
    """Another government system's case this one came from: the system, and the system's
    own reference when it gave one (a retried push with it finds its case again)."""

    system: str
    reference: str | None = None


class DuplicateAction(StrEnum):
    """What the clerk does with a submission like earlier cases."""

    LINK = "link"
    NEW = "new"


@dataclass(frozen=True)
class DuplicateDecision:
    """The clerk's answer when earlier cases look like a submission: link it to one of them
    as a repeat (no new case; `note` says what was said), or register it as a new matter,
    saying why — and, when an earlier matter of theirs is final after re-review, stating the
    new facts (Art. 36)."""

    action: DuplicateAction
    case_id: UUID | None = None
    reason: str | None = None
    new_facts: str | None = None
    note: str | None = None


class ReviewDecision(StrEnum):
    """A case registered beside earlier ones like it: judged `new` by a clerk, or
    `unreviewed` — another system pushed it in, and a clerk reviews the candidates later."""

    NEW = "new"
    UNREVIEWED = "unreviewed"


@dataclass(frozen=True)
class DuplicateReview:
    """The earlier cases a registration found alike, and what was made of them."""

    candidates: tuple[str, ...]
    decision: ReviewDecision
    reason: str | None = None
    new_facts: str | None = None

    @property
    def repeat_of(self) -> tuple[str, ...]:
        """The earlier cases a clerk judged alike but distinct."""
        return self.candidates if self.decision is ReviewDecision.NEW else ()


# --- decisions after registration and what the petitioner is told -------------------------


@dataclass(frozen=True)
class AcceptanceDecision:
    """Whether the centre takes the matter up (`Decision`), with the reason the petitioner
    is told and, for a diversion, the legal channel they are pointed to. A blank reason is
    none."""

    decision: Decision
    reason: str | None = None
    diverted_to: LegalChannel | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "reason", (self.reason or "").strip() or None)

    def check_complete(self) -> None:
        """What the petitioner is told in writing is whole: a matter not accepted is told
        why, and a diverted one where to go instead; only a diversion names a channel."""
        if self.decision is not Decision.ACCEPT and not self.reason:
            raise DecisionRefused(
                f"to {self.decision.value} a matter, give the reason the petitioner will be told",
                field="reason",
            )
        if self.decision is Decision.DIVERT and not self.diverted_to:
            raise DecisionRefused(
                "say which legal channel the petitioner is told to use", field="diverted_to"
            )
        if self.decision is not Decision.DIVERT and self.diverted_to:
            raise DecisionRefused("only a diversion names a legal channel", field="diverted_to")


@dataclass(frozen=True)
class Acceptance:
    """The acceptance decision as the case records it: what was decided, whether a written
    notice of it is owed (`notice_owed`), when and by whom."""

    decision: AcceptanceDecision
    notice_required: bool
    decided_at: datetime
    decided_by: Actor


class Status(StrEnum):
    """Where a matter stands, as the petitioner is told it: registered, then intake's own
    decision, then what routing and follow-up did with it (`Progress`)."""

    REGISTERED = "registered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    DIVERTED = "diverted"
    AWAITING_DISPATCH = "awaiting-dispatch"
    ASSIGNED = "assigned"
    ANSWERED = "answered"
    REOPENED = "reopened"
    CLOSED = "closed"
    FINAL = "final"


CLOSED_STATES = (Status.DECLINED, Status.DIVERTED, Status.CLOSED, Status.FINAL)
"""Where nothing more happens to a matter unless it is reopened."""


@dataclass(frozen=True)
class Progress:
    """What the other services did with the case, as the petitioner is told it at the
    window: the stage it reached, a sentence about it, and when."""

    stage: Status
    summary: str
    at: datetime


# --- the rules of the door -----------------------------------------------------------------

MAX_MEDIA_URL = 2000


def check_media_url(raw: str | None, field: str = "media_url") -> str | None:
    """A link to a photo or video of the matter, as Open311 senders give one: an http(s)
    address with a host, on one line; kept as given, never fetched (whatever it points to
    stays the sender's)."""
    url = (raw or "").strip()
    if not url:
        return None
    if len(url) > MAX_MEDIA_URL or not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", url):
        raise InvalidCase(
            f"a media URL is an http or https address of at most {MAX_MEDIA_URL} characters",
            field=field,
        )
    return url


def first_visit_owner(received_by: Actor) -> str:
    """首访责任制 (first-visit responsibility): whoever first receives a matter owns it — the
    clerk at the window, the one who opens the letter or takes the call, or the system that
    pushed it in — and every service records them as its first receiver, however the matter
    is routed. A repeat of the matter is linked to its case, so it comes back to the same
    owner instead of finding a new one."""
    return received_by.user


def check_litigation_separation(decision: Decision, *, litigation_related: bool) -> None:
    """诉访分离 (Art. 31): a matter that belongs to the courts, arbitration or another legal
    channel is not accepted as a petition; it is diverted, and the petitioner is told which
    channel to use (`AcceptanceDecision.diverted_to`)."""
    if decision is Decision.ACCEPT and litigation_related:
        raise DecisionRefused(
            "a litigation-related matter is diverted to its legal channel, not accepted "
            "as a petition (诉访分离, Art. 31)",
            field="decision",
        )


def notice_owed(petitioners: Iterable[PersonDetails]) -> bool:
    """The written notice owed (Art. 23 ¶2): the petitioner is told in writing whether the
    matter is accepted — unless their name or address is unknown, when nobody can be told."""
    return any(p.name and (p.address or p.phone) for p in petitioners)


# --- events that carry who did it and why ---------------------------------------------

StoredState = dict[str, Any]
"""An event's state as the event store hands it to an upcaster: decoded JSON in the shape an
earlier version stored, which the upcaster brings to the next version's shape."""


def _petitioner_stored(person: StoredState) -> CasePetitioner:
    return CasePetitioner(
        PersonDetails(
            name=person["name"],
            id_number=person.get("id_number"),
            phone=person.get("phone"),
            address=person.get("address"),
        ),
        person.get("petitioner_id"),
    )


class Case(Aggregate):
    """信访事项 — a matter a petitioner brought to the centre, as intake registered it, with
    its legal class, acceptance decision, repeats and the progress the petitioner is told."""

    class Registered(AttributedCreation):
        class_version = 6

        @staticmethod
        def upcast_v1_v2(state: StoredState) -> None:
            """Version 1 (the walking skeleton) had one petitioner with a name and a phone."""
            person = state.pop("petitioner")
            state["petitioners"] = [{"name": person["name"], "phone": person["phone"]}]
            state.update(
                group=None,
                legal_class=None,
                addressed_to=None,
                external=None,
                fingerprint=None,
                duplicate_review=None,
            )

        @staticmethod
        def upcast_v2_v3(state: StoredState) -> None:
            """Version 3 added the hash of the petitioner's case code."""
            state["lookup_code_hash"] = None

        @staticmethod
        def upcast_v3_v4(state: StoredState) -> None:
            """Version 4 locates the case at a place of the territory (any number of tiers),
            not in three fixed tiers."""
            state["location"] = Location.of(state["location"])

        @staticmethod
        def upcast_v4_v5(state: StoredState) -> None:
            """Version 5 stores the petitioners, the group, the external reference and the
            duplicate review as value objects, not as dicts."""
            state["petitioners"] = [_petitioner_stored(p) for p in state["petitioners"]]
            if state["group"] is not None:
                state["group"] = GroupPetition(state["group"]["participant_count"])
            if state["external"] is not None:
                external = state["external"]
                state["external"] = ExternalReference(external["system"], external.get("reference"))
            if state["duplicate_review"] is not None:
                review = state["duplicate_review"]
                state["duplicate_review"] = DuplicateReview(
                    tuple(review["candidates"]),
                    ReviewDecision(review["decision"]),
                    review.get("reason"),
                    review.get("new_facts"),
                )

        @staticmethod
        def upcast_v5_v6(state: StoredState) -> None:
            """Version 6 keeps the link to a photo or video the sender filed with it
            (Open311's `media_url`)."""
            state["media_url"] = None

        channel: Channel
        petitioners: tuple[CasePetitioner, ...]
        group: GroupPetition | None
        subject: str
        description: str
        category: str
        location: Location
        legal_class: LegalClass | None
        addressed_to: str | None
        external: ExternalReference | None
        fingerprint: str | None
        duplicate_review: DuplicateReview | None
        first_receiver: str
        lookup_code_hash: str | None
        media_url: str | None

        def apply(self, case: Case) -> None:
            case.media_url = self.media_url
            case.channel = self.channel
            case.petitioners = tuple(self.petitioners)
            case.group = self.group
            case.subject = self.subject
            case.description = self.description
            case.category = self.category
            case.location = self.location
            case.legal_class = self.legal_class
            case.addressed_to = self.addressed_to
            case.external = self.external
            case.fingerprint = self.fingerprint
            case.duplicate_review = self.duplicate_review
            case.first_receiver = self.first_receiver
            case.registered_by = Actor.from_dict(self.actor)
            case.updated_at = self.timestamp

    class Classified(Attributed):
        legal_class: LegalClass
        litigation_related: bool
        accused: str | None
        note: str | None

        def apply(self, case: Case) -> None:
            case.legal_class = self.legal_class
            case.litigation_related = self.litigation_related
            case.accused = self.accused
            case.updated_at = self.timestamp

    class AcceptanceDecided(Attributed):
        decision: Decision
        reason: str | None
        diverted_to: LegalChannel | None
        notice_required: bool

        def apply(self, case: Case) -> None:
            case.acceptance = Acceptance(
                AcceptanceDecision(self.decision, self.reason, self.diverted_to),
                notice_required=self.notice_required,
                decided_at=self.timestamp,
                decided_by=Actor.from_dict(self.actor),
            )
            case.updated_at = self.timestamp

    class RepeatLinked(Attributed):
        """The same matter came again and was linked here instead of becoming a new case."""

        channel: Channel
        petitioner_ids: list[str]
        repeat_number: int
        note: str | None

        def apply(self, case: Case) -> None:
            case.repeat_count = self.repeat_number
            case.updated_at = self.timestamp

    class RepeatRefused(Attributed):
        """The matter is final after re-review and came again with no new facts (Art. 36)."""

        channel: Channel
        petitioner_ids: list[str]
        repeat_number: int

        def apply(self, case: Case) -> None:
            case.repeat_count = self.repeat_number
            case.refused_repeats += 1
            case.updated_at = self.timestamp

    class HandlersNoted(Attributed):
        """The departments routing gave the case to (they need to know who petitioned)."""

        departments: tuple[str, ...]

        def apply(self, case: Case) -> None:
            case.handlers = frozenset(self.departments)

    class RestrictionNoted(Attributed):
        """Units an accusation names: the case is never shown to them (Art. 30)."""

        barred: tuple[str, ...]

        def apply(self, case: Case) -> None:
            case.barred = case.barred | frozenset(self.barred)

    class PetitionerErased(Attributed):
        """A petitioner's personal data was erased: it reads as erased from now on — in
        the case's free text too, which `redacted` holds taken out of their data."""

        subject: str
        basis: ErasureBasis
        reference: str | None
        redacted: dict[str, str]

        def apply(self, case: Case) -> None:
            for name, text in self.redacted.items():
                setattr(case, name, text)
            case.petitioners = tuple(
                replace(p, details=erased_person()) if p.subject(case.id, i) == self.subject else p
                for i, p in enumerate(case.petitioners)
            )
            case.erased_subjects = case.erased_subjects | {self.subject}

    class ProgressNoted(Attributed):
        """What another service did with the case, as the petitioner is told it."""

        stage: Status
        summary: str
        source_event: str

        def apply(self, case: Case) -> None:
            case.progress = Progress(self.stage, self.summary, self.timestamp)
            case.updated_at = self.timestamp
            if self.stage is Status.FINAL:
                case.final = True
            elif self.stage is Status.CLOSED:
                case.closed = True

    channel: Channel
    petitioners: tuple[CasePetitioner, ...]
    group: GroupPetition | None
    subject: str
    description: str
    category: str
    location: Location
    legal_class: LegalClass | None
    addressed_to: str | None
    external: ExternalReference | None
    fingerprint: str | None
    duplicate_review: DuplicateReview | None
    first_receiver: str
    registered_by: Actor
    media_url: str | None
    """All of the above as registered (`Registered.apply`)."""

    def __init__(self) -> None:
        self.litigation_related = False
        self.accused: str | None = None
        self.handlers: frozenset[str] = frozenset()
        self.barred: frozenset[str] = frozenset()
        self.acceptance: Acceptance | None = None
        self.repeat_count = 0
        self.refused_repeats = 0
        self.progress: Progress | None = None
        self.final = False
        self.closed = False
        self.updated_at: datetime | None = None
        self.erased_subjects: frozenset[str] = frozenset()

    @classmethod
    def register(
        cls,
        *,
        channel: Channel,
        petitioners: Sequence[CasePetitioner],
        subject: str,
        description: str,
        category: str,
        location: Location,
        actor: Actor,
        trace: Trace,
        group: GroupPetition | None = None,
        legal_class: LegalClass | None = None,
        addressed_to: str | None = None,
        external: ExternalReference | None = None,
        fingerprint: str | None = None,
        duplicate_review: DuplicateReview | None = None,
        case_id: UUID | None = None,
        lookup_code_hash: str | None = None,
        media_url: str | None = None,
    ) -> Case:
        """Register a submission from any channel; whoever registers it owns it
        (`first_visit_owner`).

        `petitioners` are checked (`PersonDetails.of`) and carry their registry ids; a
        group's are its elected representatives; the submission was checked against the
        territory (`check_submission`) and `location` found in it.
        """
        return cls._create(
            cls.Registered,
            id=case_id or uuid4(),
            channel=channel,
            petitioners=tuple(petitioners),
            group=group,
            subject=subject.strip(),
            description=description.strip(),
            category=category,
            location=location,
            legal_class=legal_class,
            addressed_to=(addressed_to or "").strip() or None,
            external=external,
            fingerprint=fingerprint,
            duplicate_review=duplicate_review,
            first_receiver=first_visit_owner(actor),
            lookup_code_hash=lookup_code_hash,
            media_url=media_url,
            **attribution(actor, trace),
        )

    @staticmethod
    def check_submission(
        territory: Territory,
        *,
        channel: Channel,
        petitioner_count: int,
        group: GroupPetition | None,
        subject: str,
        description: str,
        category: str,
        location: Whereabouts,
        addressed_to: str | None,
        external: ExternalReference | None,
    ) -> list[Problem]:
        """Every rule a submission must meet to become a case, each problem naming its field:
        the category and place must be the territory's, and active. `petitioner_count` is how
        many people it names (a group's representatives), as given."""
        problems = territory.category_problems(category)
        problems += territory.location_problems(location.place)
        if (location.lat is None) != (location.long is None):
            problems.append(Problem("location.lat", "give both lat and long, or neither"))
        if not subject.strip():
            problems.append(Problem("subject", "the subject is required"))
        if not description.strip():
            problems.append(Problem("description", "the description is required"))
        if channel is Channel.VISIT and not petitioner_count:
            problems.append(Problem("petitioner", "a visitor is registered with their name"))
        if channel is Channel.LEADER_MAILBOX and not (addressed_to or "").strip():
            problems.append(Problem("addressed_to", "say whose mailbox the message was left in"))
        if channel is Channel.SYSTEM and not (external and external.system):
            problems.append(Problem("external", "a case from another system names that system"))
        if group is not None:
            try:
                group.check_representatives(petitioner_count)
            except InvalidCase as error:
                problems += error.problems
        return problems

    # --- decisions after registration ---------------------------------------------------

    def classify(
        self,
        legal_class: LegalClass,
        *,
        actor: Actor,
        trace: Trace,
        litigation_related: bool = False,
        accused: str | None = None,
        note: str | None = None,
        barred: frozenset[str] = frozenset(),
    ) -> None:
        """Sort the matter by law (Arts. 29–31); may be corrected until acceptance is decided.
        An accusation is barred at once from the registered units it names (`barred`, see
        `shared.policy.accused_departments`): not even intake shows it to them."""
        if self.acceptance is not None:
            raise DecisionRefused(
                "acceptance is already decided; the legal class can no longer change",
                field="legal_class",
            )
        accused = (accused or "").strip() or None
        if legal_class is LegalClass.ACCUSATION and not accused:
            raise DecisionRefused(
                "an accusation names the person or unit accused, so it is never sent to them "
                "(Art. 30)",
                field="accused",
            )
        if legal_class is not LegalClass.ACCUSATION and accused:
            raise DecisionRefused("only an accusation names an accused", field="accused")
        self.trigger_event(
            self.Classified,
            legal_class=legal_class,
            litigation_related=litigation_related,
            accused=accused,
            note=(note or "").strip() or None,
            **attribution(actor, trace),
        )
        if barred - self.barred:
            self.trigger_event(
                self.RestrictionNoted, barred=tuple(sorted(barred)), **attribution(actor, trace)
            )

    @property
    def notice_required(self) -> bool:
        return notice_owed(p.details for p in self.petitioners)

    def decide_acceptance(
        self, decision: AcceptanceDecision, *, actor: Actor, trace: Trace
    ) -> None:
        """Accept the matter or not, once; the petitioner is told in writing within 15 days
        (Art. 23)."""
        if self.acceptance is not None:
            raise DecisionRefused(
                f"acceptance was already decided: {self.acceptance.decision.decision.value}",
                field="decision",
            )
        if self.final:
            raise CaseIsFinal("the matter is final after re-review (Art. 36)", field="decision")
        if self.legal_class is None:
            raise DecisionRefused(
                "classify the matter (suggestion, accusation or claim) before deciding",
                field="legal_class",
            )
        check_litigation_separation(decision.decision, litigation_related=self.litigation_related)
        decision.check_complete()
        self.trigger_event(
            self.AcceptanceDecided,
            decision=decision.decision,
            reason=decision.reason,
            diverted_to=decision.diverted_to,
            notice_required=self.notice_required,
            **attribution(actor, trace),
        )

    def link_repeat(
        self,
        *,
        channel: Channel,
        petitioner_ids: list[str],
        actor: Actor,
        trace: Trace,
        note: str | None = None,
    ) -> None:
        """The petitioner came again about this matter: no new case; they are told its progress.

        A matter that is final after re-review is not taken up again: the repeat is recorded
        as refused, so it is counted either way.
        """
        if self.final:
            self.trigger_event(
                self.RepeatRefused,
                channel=channel,
                petitioner_ids=petitioner_ids,
                repeat_number=self.repeat_count + 1,
                **attribution(actor, trace),
            )
            return
        self.trigger_event(
            self.RepeatLinked,
            channel=channel,
            petitioner_ids=petitioner_ids,
            repeat_number=self.repeat_count + 1,
            note=(note or "").strip() or None,
            **attribution(actor, trace),
        )

    def note_handlers(self, departments: frozenset[str], trace: Trace) -> None:
        if departments != self.handlers:
            self.trigger_event(
                self.HandlersNoted,
                departments=tuple(sorted(departments)),
                **attribution(Actor.service("intake"), trace),
            )

    def note_restriction(self, barred: frozenset[str], trace: Trace) -> None:
        if barred - self.barred:
            self.trigger_event(
                self.RestrictionNoted,
                barred=tuple(sorted(barred)),
                **attribution(Actor.service("intake"), trace),
            )

    def note_erasure(
        self,
        subject: str,
        basis: ErasureBasis,
        reference: str | None,
        *,
        redacted: dict[str, str],
        actor: Actor,
        trace: Trace,
    ) -> None:
        """A petitioner of the case is erased (once), with its subject and description as
        they read without the petitioner's data (`redacted_texts`)."""
        if subject in self.erased_subjects:
            return
        self.trigger_event(
            self.PetitionerErased,
            subject=subject,
            basis=basis,
            reference=reference,
            redacted=redacted,
            **attribution(actor, trace),
        )

    def redacted_texts(self, redact: Callable[[str], str]) -> dict[str, str]:
        """The case's subject and description with someone's data taken out, where it was
        in them."""
        texts = {"subject": self.subject, "description": self.description}
        return {name: redact(text) for name, text in texts.items() if redact(text) != text}

    @property
    def subjects(self) -> list[str]:
        """Whose personal data the case holds, petitioner by petitioner."""
        return [p.subject(self.id, i) for i, p in enumerate(self.petitioners)]

    @property
    def ended(self) -> bool:
        """Nothing more happens to the matter unless it is reopened."""
        return self.status in CLOSED_STATES

    def note_progress(
        self, stage: Status, summary: str, *, source_event: str, trace: Trace
    ) -> None:
        self.trigger_event(
            self.ProgressNoted,
            stage=stage,
            summary=summary,
            source_event=source_event,
            **attribution(Actor.service("intake"), trace),
        )

    # --- what people see ----------------------------------------------------------------

    @property
    def status(self) -> Status:
        """Where the matter stands, as the petitioner is told it."""
        if self.final:
            return Status.FINAL
        if self.closed:
            return Status.CLOSED
        if self.acceptance and self.acceptance.decision.decision is not Decision.ACCEPT:
            if self.acceptance.decision.decision is Decision.DECLINE:
                return Status.DECLINED
            return Status.DIVERTED
        if self.progress:
            return self.progress.stage
        return Status.ACCEPTED if self.acceptance else Status.REGISTERED

    @property
    def petitioner_ids(self) -> list[str]:
        return [p.petitioner_id for p in self.petitioners if p.petitioner_id]

    @property
    def access(self) -> CaseAccess:
        """What the visibility policy decides this case's readers by."""
        return CaseAccess(
            first_receiver=self.first_receiver,
            departments=self.handlers,
            barred=self.barred,
            filed_by=self.external.system if self.external else None,
        )

    def petitioners_for(self, sight: Sight) -> list[tuple[CasePetitioner, PersonShown]]:
        """Each petitioner, with their details as someone who sees this much may see them."""
        return [(p, shown(p.details, sight)) for p in self.petitioners]


class Petitioner(Aggregate):
    """信访人 — one person in the registry, so all their cases and repeats are linked.

    Their id is derived from a keyed hash of their ID-card number (or phone, when no ID
    number is known), so the same person is found again without storing a readable key.
    """

    class Registered(Aggregate.Created):
        name: str
        id_number: str | None
        phone: str | None
        address: str | None

        def apply(self, person: Petitioner) -> None:
            person.details = PersonDetails(self.name, self.id_number, self.phone, self.address)

    class DetailsUpdated(Aggregate.Event):
        changes: dict[str, str]
        """The fields of `PersonDetails` that changed, with their new values."""

        def apply(self, person: Petitioner) -> None:
            person.details = replace(person.details, **self.changes)
            if "name" in self.changes and self.changes["name"] != ERASED_NAME:
                person.erased_at = None  # an erased person who came back, enrolled afresh

    class Erased(Attributed):
        """Their personal data was erased: it reads as erased from now on, in every case."""

        basis: ErasureBasis
        reference: str | None

        def apply(self, person: Petitioner) -> None:
            person.details = erased_person()
            person.erased_at = self.timestamp

    class CaseAdded(Aggregate.Event):
        case_id: str
        repeat: bool

        def apply(self, person: Petitioner) -> None:
            if self.case_id not in person.case_ids:
                person.case_ids.append(self.case_id)
            if self.repeat:
                person.repeat_count += 1

    details: PersonDetails
    """As registered (`Registered.apply`), then as last updated."""

    def __init__(self) -> None:
        self.case_ids: list[str] = []
        self.repeat_count = 0
        self.erased_at: datetime | None = None

    @classmethod
    def enrol(cls, petitioner_id: UUID, details: PersonDetails) -> Petitioner:
        return cls._create(
            cls.Registered,
            id=petitioner_id,
            name=details.name,
            id_number=details.id_number,
            phone=details.phone,
            address=details.address,
        )

    @property
    def is_new(self) -> bool:
        """Enrolled just now and not saved yet."""
        return self.version == len(self.pending_events)

    def update(self, details: PersonDetails) -> None:
        """Newer contact details replace older ones; blanks never erase what is known. Once
        erased, the person is enrolled afresh with what they give now."""
        known = erased_person() if self.erased_at else self.details
        changes = {
            field: new
            for field, new, old in (
                ("name", details.name, known.name),
                ("id_number", details.id_number, known.id_number),
                ("phone", details.phone, known.phone),
                ("address", details.address, known.address),
            )
            if new and new != old
        }
        if changes:
            self.trigger_event(self.DetailsUpdated, changes=changes)

    def erase(
        self, basis: ErasureBasis, reference: str | None, *, actor: Actor, trace: Trace
    ) -> None:
        """Erase their personal data (the keys that seal it are destroyed next)."""
        if basis is ErasureBasis.REQUEST and not (reference or "").strip():
            raise DomainError(
                "name the request or decision the erasure answers (its reference)",
                field="reference",
            )
        self.trigger_event(
            self.Erased,
            basis=basis,
            reference=(reference or "").strip() or None,
            **attribution(actor, trace),
        )

    def add_case(self, case_id: UUID, *, repeat: bool) -> None:
        """Count a submission: a new case of theirs, or a repeat of one (linked or refused)."""
        self.trigger_event(self.CaseAdded, case_id=str(case_id), repeat=repeat)


@dataclass(frozen=True)
class ApiKey:
    """A key another system files Open311 requests with, known by its hash only."""

    key_hash: str
    issued_at: datetime
    issued_by: str
    revoked_at: datetime | None = None


class ApiKeys(Aggregate):
    """The keys other systems file Open311 requests with. Only a hash of each key is kept."""

    class Started(Aggregate.Created):
        pass

    class Issued(Aggregate.Event):
        name: str
        key_hash: str
        issued_by: str

        def apply(self, keys: ApiKeys) -> None:
            keys.keys[self.name] = ApiKey(self.key_hash, self.timestamp, self.issued_by)

    class Revoked(Aggregate.Event):
        name: str
        revoked_by: str

        def apply(self, keys: ApiKeys) -> None:
            keys.keys[self.name] = replace(keys.keys[self.name], revoked_at=self.timestamp)

    def __init__(self) -> None:
        self.keys: dict[str, ApiKey] = {}

    @classmethod
    def start(cls, registry_id: UUID) -> ApiKeys:
        return cls._create(cls.Started, id=registry_id)

    def issue(self, name: str, key_hash: str, issued_by: str) -> None:
        name = name.strip()
        if not re.fullmatch(r"[\w.\-]{2,60}", name):
            raise DomainError("a key's name is 2–60 letters, digits, '.', '-' or '_'", "name")
        if name in self.keys and not self.keys[name].revoked_at:
            raise DomainError(f"a key named {name!r} is in use; revoke it first", field="name")
        self.trigger_event(self.Issued, name=name, key_hash=key_hash, issued_by=issued_by)

    def revoke(self, name: str, revoked_by: str) -> None:
        if name not in self.keys:
            raise DomainError(f"no key named {name!r}", field="name")
        if self.keys[name].revoked_at:
            raise DomainError(f"key {name!r} is already revoked", field="name")
        self.trigger_event(self.Revoked, name=name, revoked_by=revoked_by)

    def holder(self, key_hash: str) -> str | None:
        """The name of the live key with this hash, if there is one."""
        return next(
            (n for n, k in self.keys.items() if k.key_hash == key_hash and not k.revoked_at),
            None,
        )


VALUE_OBJECTS: tuple[type, ...] = (
    PersonDetails,
    CasePetitioner,
    GroupPetition,
    ExternalReference,
    DuplicateReview,
)
"""What intake's stored events carry (see `shared.values.register_values`)."""
