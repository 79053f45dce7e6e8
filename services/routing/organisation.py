"""Who can handle what, where: the organisation registry and the dispatch catalogue.

Both are aggregates, so every change to them is an event an auditor can read back, and an
assignment can name the catalogue version that chose it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.domain import Aggregate

from shared.domain import DomainError

TIERS = ("district", "street", "community")
"""The three tiers of jurisdiction: district → town/street → village/community."""

GRIDS = {"district": "large", "street": "medium", "community": "small"}
"""Grid level of each tier: small matters stay in the small grid (网格)."""

STATIONING = ("permanent", "rotation", "on-call")
"""常驻 stationed at the centre every day, 轮驻 on a rotation timetable, or 随驻 on call."""

LEGAL_CLASSES = ("suggestion", "accusation", "claim")

ORGANISATION_ID = uuid5(NAMESPACE_URL, "onestop:routing:organisation")
CATALOGUE_ID = uuid5(NAMESPACE_URL, "onestop:routing:dispatch-catalogue")


class InvalidOrganisation(DomainError):
    """A registry or catalogue change that would leave it inconsistent."""


@dataclass(frozen=True)
class Jurisdiction:
    """辖区 — a district, a town/street within it, or a village/community within that."""

    code: str
    name: str
    tier: str
    parent: str | None = None

    @property
    def grid(self) -> str:
        return GRIDS[self.tier]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "grid": self.grid}


@dataclass(frozen=True)
class Department:
    """A unit that handles cases, within a jurisdiction; stationed at the centre permanently,
    on a rotation timetable (the weekdays it attends, 1 = Monday), or on call."""

    code: str
    name: str
    jurisdiction: str
    stationing: str = "permanent"
    rotation_days: tuple[int, ...] = ()
    active: bool = True

    def as_ref(self) -> dict[str, str]:
        return {"code": self.code, "name": self.name}

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rotation_days": list(self.rotation_days)}

    def present_on(self, day: date) -> bool:
        """Whether the department has staff at the centre that day."""
        if self.stationing == "permanent":
            return True
        if self.stationing == "rotation":
            return day.isoweekday() in self.rotation_days
        return False  # on call: comes when sent for


@dataclass(frozen=True)
class Window:
    """A reception window at the centre; two departments may share one."""

    code: str
    departments: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "departments": list(self.departments)}


def _check_code(code: str, at: str) -> None:
    if not code or len(code) > 64 or not all(c.isalnum() or c in "-_." for c in code):
        raise InvalidOrganisation(
            "a code is 1–64 letters, digits, '-', '_' or '.', e.g. 'ninghe-hrss'", field=at
        )


class Organisation(Aggregate):
    """The registry of jurisdictions, departments and shared windows (one per centre)."""

    class Started(Aggregate.Created):
        pass

    class JurisdictionDefined(Aggregate.Event):
        jurisdiction: dict[str, Any]
        by: str

        def apply(self, org: Organisation) -> None:
            j = self.jurisdiction
            org.jurisdictions[j["code"]] = Jurisdiction(
                j["code"], j["name"], j["tier"], j.get("parent")
            )

    class DepartmentDefined(Aggregate.Event):
        department: dict[str, Any]
        by: str

        def apply(self, org: Organisation) -> None:
            d = self.department
            org.departments[d["code"]] = Department(
                d["code"],
                d["name"],
                d["jurisdiction"],
                d["stationing"],
                tuple(d.get("rotation_days", ())),
                d.get("active", True),
            )

    class WindowDefined(Aggregate.Event):
        window: dict[str, Any]
        by: str

        def apply(self, org: Organisation) -> None:
            w = self.window
            org.windows[w["code"]] = Window(w["code"], tuple(w["departments"]))

    def __init__(self) -> None:
        self.jurisdictions: dict[str, Jurisdiction] = {}
        self.departments: dict[str, Department] = {}
        self.windows: dict[str, Window] = {}

    @classmethod
    def start(cls) -> Organisation:
        return cls._create(cls.Started, id=ORGANISATION_ID)

    def define_jurisdiction(self, jurisdiction: Jurisdiction, by: str) -> None:
        _check_code(jurisdiction.code, "code")
        if jurisdiction.tier not in TIERS:
            raise InvalidOrganisation(f"tier must be one of {', '.join(TIERS)}", field="tier")
        if not jurisdiction.name.strip():
            raise InvalidOrganisation("a jurisdiction needs a name", field="name")
        expected = TIERS.index(jurisdiction.tier) - 1
        if expected < 0:
            if jurisdiction.parent is not None:
                raise InvalidOrganisation("a district has no parent", field="parent")
        else:
            parent = self.jurisdictions.get(jurisdiction.parent or "")
            if parent is None or parent.tier != TIERS[expected]:
                raise InvalidOrganisation(
                    f"a {jurisdiction.tier} lies within a registered {TIERS[expected]}",
                    field="parent",
                )
        old = self.jurisdictions.get(jurisdiction.code)
        if old is not None and (old.tier, old.parent) != (jurisdiction.tier, jurisdiction.parent):
            raise InvalidOrganisation(
                "a jurisdiction keeps its tier and parent; define a new one instead", field="code"
            )
        if old != jurisdiction:
            self.trigger_event(self.JurisdictionDefined, jurisdiction=asdict(jurisdiction), by=by)

    def define_department(self, department: Department, by: str) -> None:
        _check_code(department.code, "code")
        if not department.name.strip():
            raise InvalidOrganisation("a department needs a name", field="name")
        if department.jurisdiction not in self.jurisdictions:
            raise InvalidOrganisation(
                f"unknown jurisdiction {department.jurisdiction!r}", field="jurisdiction"
            )
        if department.stationing not in STATIONING:
            raise InvalidOrganisation(
                f"stationing must be one of {', '.join(STATIONING)}", field="stationing"
            )
        days = department.rotation_days
        if department.stationing == "rotation" and not days:
            raise InvalidOrganisation(
                "a rotating department names the weekdays it attends (1 = Monday)",
                field="rotation_days",
            )
        if any(d not in range(1, 8) for d in days) or len(set(days)) != len(days):
            raise InvalidOrganisation("weekdays are distinct, 1 to 7", field="rotation_days")
        if self.departments.get(department.code) != department:
            self.trigger_event(self.DepartmentDefined, department=department.as_dict(), by=by)

    def define_window(self, window: Window, by: str) -> None:
        _check_code(window.code, "code")
        if not 1 <= len(window.departments) <= 2 or len(set(window.departments)) != len(
            window.departments
        ):
            raise InvalidOrganisation(
                "a window serves one department or is shared by two", field="departments"
            )
        for code in window.departments:
            if code not in self.departments:
                raise InvalidOrganisation(f"unknown department {code!r}", field="departments")
        if self.windows.get(window.code) != window:
            self.trigger_event(self.WindowDefined, window=window.as_dict(), by=by)

    def department(self, code: str, field: str = "department") -> Department:
        """The active department `code`; refused naming `field`, where the caller named it."""
        found = self.departments.get(code)
        if found is None or not found.active:
            raise InvalidOrganisation(f"no active department {code!r}", field=field)
        return found

    def path(self, location: dict[str, Any]) -> tuple[str, ...]:
        """A case's place as jurisdiction codes, district first."""
        return tuple(
            p
            for p in (location.get("district"), location.get("street"), location.get("community"))
            if p
        )


@dataclass(frozen=True)
class DispatchRule:
    """One line of the dispatch catalogue (派单目录): category × jurisdiction (× legal
    class) → the lead department and the co-handling departments. Category `*` covers
    every category (e.g. all accusations go to discipline inspection)."""

    rule_id: str
    category: str
    scope: tuple[str, ...]
    lead: str
    co_handlers: tuple[str, ...] = ()
    legal_class: str | None = None

    def covers(self, category: str, place: tuple[str, ...], legal_class: str | None) -> bool:
        return (
            self.category in (category, "*")
            and place[: len(self.scope)] == self.scope
            and (self.legal_class is None or self.legal_class == legal_class)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "category": self.category,
            "scope": list(self.scope),
            "legal_class": self.legal_class,
            "lead": self.lead,
            "co_handlers": list(self.co_handlers),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DispatchRule:
        return cls(
            d["rule_id"],
            d["category"],
            tuple(d["scope"]),
            d["lead"],
            tuple(d.get("co_handlers", ())),
            d.get("legal_class"),
        )


def choose(
    rules: tuple[DispatchRule, ...],
    category: str,
    place: tuple[str, ...],
    legal_class: str | None,
    excluded: frozenset[str] = frozenset(),
) -> tuple[DispatchRule | None, list[str]]:
    """The most specific rule covering the case — the lowest tier able to handle it, and a
    rule for the case's legal class before a general one — whose departments include none
    of `excluded` (an accused unit, or a department that objected). Returns the rule and
    the rules passed over, and why."""
    matching = sorted(
        (r for r in rules if r.covers(category, place, legal_class)),
        key=lambda r: (-len(r.scope), r.legal_class is None, r.category == "*", r.rule_id),
    )
    passed_over: list[str] = []
    for rule in matching:
        barred = excluded & {rule.lead, *rule.co_handlers}
        if not barred:
            return rule, passed_over
        passed_over.append(f"{rule.rule_id} (involves {', '.join(sorted(barred))}, excluded)")
    return None, passed_over


class DispatchCatalogue(Aggregate):
    """The dispatch catalogue, versioned: each publication is a whole new version, and the
    old ones stay readable so every past assignment can be checked against its own."""

    class Started(Aggregate.Created):
        pass

    class Published(Aggregate.Event):
        number: int
        rules: list[dict[str, Any]]
        note: str
        by: str

        def apply(self, catalogue: DispatchCatalogue) -> None:
            catalogue.versions.append(
                {
                    "version": f"v{self.number}",
                    "rules": self.rules,
                    "note": self.note,
                    "by": self.by,
                    "published_at": self.timestamp,
                }
            )

    def __init__(self) -> None:
        self.versions: list[dict[str, Any]] = []

    @classmethod
    def start(cls) -> DispatchCatalogue:
        return cls._create(cls.Started, id=CATALOGUE_ID)

    @property
    def current(self) -> dict[str, Any] | None:
        return self.versions[-1] if self.versions else None

    def release(self, name: str) -> dict[str, Any]:
        for v in self.versions:
            if v["version"] == name:
                return v
        raise InvalidOrganisation(f"no catalogue version {name!r}", field="version")

    def rules(self) -> tuple[str, tuple[DispatchRule, ...]]:
        current = self.current
        if current is None:
            return "none", ()
        return current["version"], tuple(DispatchRule.from_dict(r) for r in current["rules"])

    def publish(
        self, rules: list[DispatchRule], organisation: Organisation, note: str, by: str
    ) -> str:
        """Check every rule against the registry, then publish them as the next version."""
        seen: set[str] = set()
        for i, rule in enumerate(rules):
            at = f"rules.{i}"
            if not rule.rule_id or rule.rule_id in seen:
                raise InvalidOrganisation("each rule has its own rule_id", field=f"{at}.rule_id")
            seen.add(rule.rule_id)
            if not rule.category:
                raise InvalidOrganisation("a rule names a category", field=f"{at}.category")
            if rule.legal_class is not None and rule.legal_class not in LEGAL_CLASSES:
                raise InvalidOrganisation(
                    f"legal_class is one of {', '.join(LEGAL_CLASSES)}", field=f"{at}.legal_class"
                )
            if not 1 <= len(rule.scope) <= 3:
                raise InvalidOrganisation(
                    "a scope is a district, optionally a street, optionally a community",
                    field=f"{at}.scope",
                )
            for depth, code in enumerate(rule.scope):
                j = organisation.jurisdictions.get(code)
                if (
                    j is None
                    or j.tier != TIERS[depth]
                    or (depth and j.parent != rule.scope[depth - 1])
                ):
                    raise InvalidOrganisation(
                        f"{'/'.join(rule.scope)} is not a registered jurisdiction path",
                        field=f"{at}.scope",
                    )
            if rule.lead in rule.co_handlers or len(set(rule.co_handlers)) != len(rule.co_handlers):
                raise InvalidOrganisation(
                    "co-handlers are distinct and exclude the lead", field=f"{at}.co_handlers"
                )
            for code in (rule.lead, *rule.co_handlers):
                try:
                    organisation.department(code)
                except InvalidOrganisation:
                    raise InvalidOrganisation(
                        f"no active department {code!r}", field=f"{at}.lead"
                    ) from None
        if not note.strip():
            raise InvalidOrganisation("say what changed in this version", field="note")
        number = len(self.versions) + 1
        self.trigger_event(
            self.Published, number=number, rules=[r.as_dict() for r in rules], note=note, by=by
        )
        return f"v{number}"
