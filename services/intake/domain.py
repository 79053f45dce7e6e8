"""Intake's domain: the case as registered at the one door, and the people who bring it."""

from __future__ import annotations

import re
from datetime import date, datetime
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
from shared.territory import Location, Territory
from shared.vocabulary import Channel, Decision, LegalChannel, LegalClass

PII_ROLES = frozenset({"clerk", "handler", "supervisor", "leader", "admin"})
"""Roles entitled to see a petitioner's personal data; everyone else sees it masked."""

MAX_REPRESENTATIVES = 5
"""A group elects at most five representatives (《信访工作条例》第二十条)."""


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


def mask_name(name: str) -> str:
    return name[0] + "*" * (len(name) - 1) if len(name) > 1 else "*"


def mask_phone(phone: str) -> str:
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:] if len(phone) > 7 else "*" * len(phone)


def mask_id_number(number: str) -> str:
    return number[:3] + "*" * 11 + number[-4:]


def mask_address(address: str) -> str:
    return address[:6] + "****" if len(address) > 6 else "****"


def masked(person: dict[str, Any], actor: Actor) -> dict[str, Any]:
    """A person as this actor may see them: personal data masked unless their role is entitled."""
    if actor.role in PII_ROLES:
        return {**person, "masked": False}
    maskers = {
        "name": mask_name,
        "phone": mask_phone,
        "id_number": mask_id_number,
        "address": mask_address,
    }
    shown = {k: (maskers[k](v) if k in maskers and v else v) for k, v in person.items()}
    return {**shown, "masked": True}


def check_person(
    person: dict[str, Any], field: str, *, contact_required: bool = True
) -> dict[str, Any]:
    """A petitioner's details in normal form; raises naming every bad field."""
    problems: list[Problem] = []

    def checked(check: Any, raw: str | None, at: str) -> str | None:
        if not raw:
            return None
        try:
            return str(check(raw, at))
        except InvalidCase as error:
            problems.extend(error.problems)
            return None

    name = (person.get("name") or "").strip()
    if not name:
        problems.append(Problem(f"{field}.name", "the petitioner's name is required"))
    phone, address = person.get("phone"), (person.get("address") or "").strip() or None
    if contact_required and not (phone or address):
        problems.append(
            Problem(f"{field}.phone", "a phone number or an address is needed to reach them")
        )
    details = {
        "name": name,
        "id_number": checked(check_id_number, person.get("id_number"), f"{field}.id_number"),
        "phone": checked(normalise_phone, phone, f"{field}.phone"),
        "address": address,
    }
    if problems:
        raise InvalidCase.listing(problems)
    return details


def notice_owed(petitioners: list[dict[str, Any]]) -> bool:
    """Art. 23 ¶2: no written notice is owed when the petitioner's name or address is unknown."""
    return any(p.get("name") and (p.get("address") or p.get("phone")) for p in petitioners)


# --- events that carry who did it and why ---------------------------------------------


class Case(Aggregate):
    """信访事项 — a matter a petitioner brought to the centre, as intake registered it, with
    its legal class, acceptance decision, repeats and the progress the petitioner is told."""

    class Registered(AttributedCreation):
        class_version = 4

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
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
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """Version 3 added the hash of the petitioner's case code."""
            state["lookup_code_hash"] = None

        @staticmethod
        def upcast_v3_v4(state: dict[str, Any]) -> None:
            """Version 4 locates the case at a place of the territory (any number of tiers),
            not in three fixed tiers."""
            state["location"] = Location.of(state["location"])

        channel: str
        petitioners: list[dict[str, Any]]
        group: dict[str, Any] | None
        subject: str
        description: str
        category: str
        location: Location
        legal_class: str | None
        addressed_to: str | None
        external: dict[str, Any] | None
        fingerprint: str | None
        duplicate_review: dict[str, Any] | None
        first_receiver: str
        lookup_code_hash: str | None

        def apply(self, case: Case) -> None:
            case.channel = self.channel
            case.petitioners = self.petitioners
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
            case.registered_by = self.actor
            case.updated_at = self.timestamp

    class Classified(Attributed):
        legal_class: str
        litigation_related: bool
        accused: str | None
        note: str | None

        def apply(self, case: Case) -> None:
            case.legal_class = self.legal_class
            case.litigation_related = self.litigation_related
            case.accused = self.accused
            case.updated_at = self.timestamp

    class AcceptanceDecided(Attributed):
        decision: str
        reason: str | None
        diverted_to: str | None
        notice_required: bool

        def apply(self, case: Case) -> None:
            case.acceptance = {
                "decision": self.decision,
                "reason": self.reason,
                "diverted_to": self.diverted_to,
                "notice_required": self.notice_required,
                "decided_at": self.timestamp,
                "decided_by": self.actor,
            }
            case.updated_at = self.timestamp

    class RepeatLinked(Attributed):
        """The same matter came again and was linked here instead of becoming a new case."""

        channel: str
        petitioner_ids: list[str]
        repeat_number: int
        note: str | None

        def apply(self, case: Case) -> None:
            case.repeat_count = self.repeat_number
            case.updated_at = self.timestamp

    class RepeatRefused(Attributed):
        """The matter is final after re-review and came again with no new facts (Art. 36)."""

        channel: str
        petitioner_ids: list[str]
        repeat_number: int

        def apply(self, case: Case) -> None:
            case.repeat_count = self.repeat_number
            case.refused_repeats += 1
            case.updated_at = self.timestamp

    class ProgressNoted(Attributed):
        """What another service did with the case, as the petitioner is told it."""

        stage: str
        summary: str
        source_event: str

        def apply(self, case: Case) -> None:
            case.progress = {"stage": self.stage, "summary": self.summary, "at": self.timestamp}
            case.updated_at = self.timestamp
            if self.stage == "final":
                case.final = True
            elif self.stage == "closed":
                case.closed = True

    def __init__(self) -> None:
        self.channel = ""
        self.petitioners: list[dict[str, Any]] = []
        self.group: dict[str, Any] | None = None
        self.subject = ""
        self.description = ""
        self.category = ""
        self.location = Location("", ())
        self.legal_class: str | None = None
        self.litigation_related = False
        self.accused: str | None = None
        self.addressed_to: str | None = None
        self.external: dict[str, Any] | None = None
        self.fingerprint: str | None = None
        self.duplicate_review: dict[str, Any] | None = None
        self.first_receiver = ""
        self.registered_by: dict[str, Any] = {}
        self.acceptance: dict[str, Any] | None = None
        self.repeat_count = 0
        self.refused_repeats = 0
        self.progress: dict[str, Any] | None = None
        self.final = False
        self.closed = False
        self.updated_at: datetime | None = None

    @classmethod
    def register(
        cls,
        *,
        channel: Channel | str,
        petitioners: list[dict[str, Any]],
        subject: str,
        description: str,
        category: str,
        location: Location,
        actor: Actor,
        trace: Trace,
        group: dict[str, Any] | None = None,
        legal_class: LegalClass | str | None = None,
        addressed_to: str | None = None,
        external: dict[str, Any] | None = None,
        fingerprint: str | None = None,
        duplicate_review: dict[str, Any] | None = None,
        case_id: UUID | None = None,
        lookup_code_hash: str | None = None,
    ) -> Case:
        """Register a submission from any channel. Whoever registers it is its first receiver.

        `petitioners` are already checked (`check_person`) and carry their registry ids; a
        group's entries are its elected representatives; the submission was checked against
        the territory (`check_submission`) and `location` found in it.
        """
        channel = Channel(channel)
        return cls._create(
            cls.Registered,
            id=case_id or uuid4(),
            channel=channel.value,
            petitioners=petitioners,
            group=group,
            subject=subject.strip(),
            description=description.strip(),
            category=category,
            location=location,
            legal_class=LegalClass(legal_class).value if legal_class else None,
            addressed_to=(addressed_to or "").strip() or None,
            external=external,
            fingerprint=fingerprint,
            duplicate_review=duplicate_review,
            first_receiver=actor.user,
            lookup_code_hash=lookup_code_hash,
            **attribution(actor, trace),
        )

    @classmethod
    def check_submission(
        cls,
        territory: Territory,
        *,
        channel: Channel,
        petitioners: list[dict[str, Any]],
        group: dict[str, Any] | None,
        subject: str,
        description: str,
        category: str,
        location: dict[str, Any],
        addressed_to: str | None,
        external: dict[str, Any] | None,
    ) -> list[Problem]:
        """Every rule a submission must meet to become a case, each problem naming its field:
        the category and place must be the territory's, and active."""
        problems = territory.category_problems(category)
        problems += territory.location_problems(location.get("place", ""))
        lat, long = location.get("lat"), location.get("long")
        if (lat is None) != (long is None):
            problems.append(Problem("location.lat", "give both lat and long, or neither"))
        if not subject.strip():
            problems.append(Problem("subject", "the subject is required"))
        if not description.strip():
            problems.append(Problem("description", "the description is required"))
        if channel is Channel.VISIT and not petitioners:
            problems.append(Problem("petitioner", "a visitor is registered with their name"))
        if channel is Channel.LEADER_MAILBOX and not (addressed_to or "").strip():
            problems.append(Problem("addressed_to", "say whose mailbox the message was left in"))
        if channel is Channel.SYSTEM and not (external and external.get("system")):
            problems.append(Problem("external", "a case from another system names that system"))
        if group is not None:
            try:
                cls.check_group(group, petitioners)
            except InvalidCase as error:
                problems += error.problems
        return problems

    @staticmethod
    def check_group(group: dict[str, Any], representatives: list[dict[str, Any]]) -> None:
        """集体访: a common matter of many people, spoken for by at most five elected
        representatives (Art. 20 ¶3)."""
        if len(representatives) > MAX_REPRESENTATIVES:
            raise InvalidCase(
                f"a group elects at most {MAX_REPRESENTATIVES} representatives "
                f"(《信访工作条例》第二十条); {len(representatives)} were given",
                field="group.representatives",
            )
        if not representatives:
            raise InvalidCase(
                "a group petition needs at least one elected representative",
                field="group.representatives",
            )
        size = group.get("participant_count", 0)
        if size < max(2, len(representatives)):
            raise InvalidCase(
                "a group petition has at least two participants, representatives included",
                field="group.participant_count",
            )

    # --- decisions after registration ---------------------------------------------------

    def classify(
        self,
        legal_class: LegalClass | str,
        *,
        actor: Actor,
        trace: Trace,
        litigation_related: bool = False,
        accused: str | None = None,
        note: str | None = None,
    ) -> None:
        """Sort the matter by law (Arts. 29–31); may be corrected until acceptance is decided."""
        legal_class = LegalClass(legal_class)
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
            legal_class=legal_class.value,
            litigation_related=litigation_related,
            accused=accused,
            note=(note or "").strip() or None,
            **attribution(actor, trace),
        )

    @property
    def notice_required(self) -> bool:
        return notice_owed(self.petitioners)

    def decide_acceptance(
        self,
        decision: Decision | str,
        *,
        actor: Actor,
        trace: Trace,
        reason: str | None = None,
        diverted_to: LegalChannel | str | None = None,
    ) -> None:
        """受理 or not, once; the petitioner is told in writing within 15 days (Art. 23)."""
        decision = Decision(decision)
        reason = (reason or "").strip() or None
        if self.acceptance is not None:
            raise DecisionRefused(
                f"acceptance was already decided: {self.acceptance['decision']}", field="decision"
            )
        if self.final:
            raise CaseIsFinal("the matter is final after re-review (Art. 36)", field="decision")
        if self.legal_class is None:
            raise DecisionRefused(
                "classify the matter (suggestion, accusation or claim) before deciding",
                field="legal_class",
            )
        if decision is Decision.ACCEPT and self.litigation_related:
            raise DecisionRefused(
                "a litigation-related matter is diverted to its legal channel, not accepted "
                "as a petition (诉访分离, Art. 31)",
                field="decision",
            )
        if decision is not Decision.ACCEPT and not reason:
            raise DecisionRefused(
                f"to {decision.value} a matter, give the reason the petitioner will be told",
                field="reason",
            )
        if decision is Decision.DIVERT and not diverted_to:
            raise DecisionRefused(
                "say which legal channel the petitioner is told to use", field="diverted_to"
            )
        if decision is not Decision.DIVERT and diverted_to:
            raise DecisionRefused("only a diversion names a legal channel", field="diverted_to")
        self.trigger_event(
            self.AcceptanceDecided,
            decision=decision.value,
            reason=reason,
            diverted_to=LegalChannel(diverted_to).value if diverted_to else None,
            notice_required=self.notice_required,
            **attribution(actor, trace),
        )

    def link_repeat(
        self,
        *,
        channel: Channel | str,
        petitioner_ids: list[str],
        actor: Actor,
        trace: Trace,
        note: str | None = None,
    ) -> None:
        """The petitioner came again about this matter: no new case; they are told its progress.

        A matter that is final after re-review is not taken up again: raises `CaseIsFinal`
        after recording the refusal, so the repeat is counted either way.
        """
        if self.final:
            self.trigger_event(
                self.RepeatRefused,
                channel=Channel(channel).value,
                petitioner_ids=petitioner_ids,
                repeat_number=self.repeat_count + 1,
                **attribution(actor, trace),
            )
            return
        self.trigger_event(
            self.RepeatLinked,
            channel=Channel(channel).value,
            petitioner_ids=petitioner_ids,
            repeat_number=self.repeat_count + 1,
            note=(note or "").strip() or None,
            **attribution(actor, trace),
        )

    def note_progress(self, stage: str, summary: str, *, source_event: str, trace: Trace) -> None:
        self.trigger_event(
            self.ProgressNoted,
            stage=stage,
            summary=summary,
            source_event=source_event,
            **attribution(Actor.service("intake"), trace),
        )

    # --- what people see ----------------------------------------------------------------

    @property
    def status(self) -> str:
        """Where the matter stands, as the petitioner is told it."""
        if self.final:
            return "final"
        if self.closed:
            return "closed"
        if self.acceptance and self.acceptance["decision"] != Decision.ACCEPT:
            return "declined" if self.acceptance["decision"] == Decision.DECLINE else "diverted"
        if self.progress:
            return str(self.progress["stage"])
        return "accepted" if self.acceptance else "registered"

    @property
    def petitioner_ids(self) -> list[str]:
        return [p["petitioner_id"] for p in self.petitioners if p.get("petitioner_id")]

    def petitioners_for(self, actor: Actor) -> list[dict[str, Any]]:
        return [masked(p, actor) for p in self.petitioners]


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
            person.name = self.name
            person.id_number = self.id_number
            person.phone = self.phone
            person.address = self.address

    class DetailsUpdated(Aggregate.Event):
        changes: dict[str, str]

        def apply(self, person: Petitioner) -> None:
            for key, value in self.changes.items():
                setattr(person, key, value)

    class CaseAdded(Aggregate.Event):
        case_id: str
        repeat: bool

        def apply(self, person: Petitioner) -> None:
            if self.case_id not in person.case_ids:
                person.case_ids.append(self.case_id)
            if self.repeat:
                person.repeat_count += 1

    def __init__(self) -> None:
        self.name = ""
        self.id_number: str | None = None
        self.phone: str | None = None
        self.address: str | None = None
        self.case_ids: list[str] = []
        self.repeat_count = 0

    @classmethod
    def enrol(cls, petitioner_id: UUID, details: dict[str, Any]) -> Petitioner:
        return cls._create(
            cls.Registered,
            id=petitioner_id,
            name=details["name"],
            id_number=details.get("id_number"),
            phone=details.get("phone"),
            address=details.get("address"),
        )

    @property
    def is_new(self) -> bool:
        """Enrolled just now and not saved yet."""
        return self.version == len(self.pending_events)

    def update(self, details: dict[str, Any]) -> None:
        """Newer contact details replace older ones; blanks never erase what is known."""
        changes = {
            k: details[k]
            for k in ("name", "id_number", "phone", "address")
            if details.get(k) and details[k] != getattr(self, k)
        }
        if changes:
            self.trigger_event(self.DetailsUpdated, changes=changes)

    def add_case(self, case_id: UUID, *, repeat: bool) -> None:
        """Count a submission: a new case of theirs, or a repeat of one (linked or refused)."""
        self.trigger_event(self.CaseAdded, case_id=str(case_id), repeat=repeat)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "id_number": self.id_number,
            "phone": self.phone,
            "address": self.address,
        }


class ApiKeys(Aggregate):
    """The keys other systems file Open311 requests with. Only a hash of each key is kept."""

    class Started(Aggregate.Created):
        pass

    class Issued(Aggregate.Event):
        name: str
        key_hash: str
        issued_by: str

        def apply(self, keys: ApiKeys) -> None:
            keys.keys[self.name] = {
                "key_hash": self.key_hash,
                "issued_at": self.timestamp,
                "issued_by": self.issued_by,
                "revoked_at": None,
            }

    class Revoked(Aggregate.Event):
        name: str
        revoked_by: str

        def apply(self, keys: ApiKeys) -> None:
            keys.keys[self.name]["revoked_at"] = self.timestamp

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, Any]] = {}

    @classmethod
    def start(cls, registry_id: UUID) -> ApiKeys:
        return cls._create(cls.Started, id=registry_id)

    def issue(self, name: str, key_hash: str, issued_by: str) -> None:
        name = name.strip()
        if not re.fullmatch(r"[\w.\-]{2,60}", name):
            raise DomainError("a key's name is 2–60 letters, digits, '.', '-' or '_'", "name")
        if name in self.keys and not self.keys[name]["revoked_at"]:
            raise DomainError(f"a key named {name!r} is in use; revoke it first", field="name")
        self.trigger_event(self.Issued, name=name, key_hash=key_hash, issued_by=issued_by)

    def revoke(self, name: str, revoked_by: str) -> None:
        if name not in self.keys:
            raise DomainError(f"no key named {name!r}", field="name")
        if self.keys[name]["revoked_at"]:
            raise DomainError(f"key {name!r} is already revoked", field="name")
        self.trigger_event(self.Revoked, name=name, revoked_by=revoked_by)

    def holder(self, key_hash: str) -> str | None:
        """The name of the live key with this hash, if there is one."""
        return next(
            (n for n, k in self.keys.items() if k["key_hash"] == key_hash and not k["revoked_at"]),
            None,
        )
