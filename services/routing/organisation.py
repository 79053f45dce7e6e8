"""The one registry of the centre's territory, and the dispatch catalogue.

Both are aggregates, so every change to them is an event an auditor can read back (and that
intake and follow-up replicate), and an assignment can name the catalogue version that
chose it. Nothing is edited in place: a place, department, line, window or category that
is no longer used is retired, and what refers to it keeps reading it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import NotRequired, TypedDict
from uuid import NAMESPACE_URL, uuid5

from eventsourcing.domain import Aggregate

from shared.domain import DomainError, Problem, StoredState
from shared.territory import (
    ANY_CATEGORY,
    LEGACY_LAYOUT,
    Category,
    Department,
    DispatchRule,
    Entity,
    Layout,
    Line,
    Location,
    Place,
    Statistics,
    Territory,
    TerritoryDocument,
    Window,
)
from shared.vocabulary import LegalClass, Stationing

ORGANISATION_ID = uuid5(NAMESPACE_URL, "onestop:routing:organisation")
CATALOGUE_ID = uuid5(NAMESPACE_URL, "onestop:routing:dispatch-catalogue")


class InvalidOrganisation(DomainError):
    """A registry or catalogue change that would leave it inconsistent."""


class StoredJurisdiction(TypedDict):
    """A place as earlier releases stored it, in one of three fixed tiers."""

    code: str
    name: str
    tier: str
    parent: NotRequired[str | None]


class Organisation(Aggregate):
    """The registry of the centre's territory (one per centre): tiers and grid levels,
    places, departments, queue lines, windows, categories and statistics definitions."""

    class Started(Aggregate.Created):
        pass

    class JurisdictionDefined(Aggregate.Event):
        """A place of the three fixed tiers of earlier releases (read, never written now)."""

        jurisdiction: StoredJurisdiction
        by: str

        def apply(self, org: Organisation) -> None:
            j = self.jurisdiction
            if not org.territory.tiers:
                org.territory.put(LEGACY_LAYOUT)
            org.territory.put(Place(j["code"], j["name"], j["tier"], j.get("parent")))
            org.unpublished = True

    class DepartmentDefined(Aggregate.Event):
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: StoredState) -> None:
            """Version 1 stored a dict, and called the place its `jurisdiction`."""
            d = state["department"]
            state["department"] = Department(
                d["code"],
                d["name"],
                d["jurisdiction"],
                Stationing(d["stationing"]),
                tuple(d.get("rotation_days", ())),
                d.get("active", True),
            )

        department: Department
        by: str

        def apply(self, org: Organisation) -> None:
            org.territory.put(self.department)

    class WindowDefined(Aggregate.Event):
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: StoredState) -> None:
            """Version 1 stored a dict, without the lines the window calls."""
            w = state["window"]
            state["window"] = Window(w["code"], tuple(w["departments"]), ())

        window: Window
        by: str

        def apply(self, org: Organisation) -> None:
            org.territory.put(self.window)

    class LayoutDefined(Aggregate.Event):
        layout: Layout
        by: str

        def apply(self, org: Organisation) -> None:
            org.territory.put(self.layout)
            org.unpublished = False

    class PlaceDefined(Aggregate.Event):
        place: Place
        by: str

        def apply(self, org: Organisation) -> None:
            org.territory.put(self.place)

    class LineDefined(Aggregate.Event):
        line: Line
        by: str

        def apply(self, org: Organisation) -> None:
            org.territory.put(self.line)

    class CategoryDefined(Aggregate.Event):
        category: Category
        by: str

        def apply(self, org: Organisation) -> None:
            org.territory.put(self.category)

    class StatisticsDefined(Aggregate.Event):
        statistics: Statistics
        by: str

        def apply(self, org: Organisation) -> None:
            org.territory.put(self.statistics)

    class CentreNamed(Aggregate.Event):
        name: str
        by: str

        def apply(self, org: Organisation) -> None:
            org.territory.centre = self.name

    def __init__(self) -> None:
        self.territory = Territory()
        self.unpublished = False
        """Recorded by an earlier release, whose registry events never went on the wire."""

    @classmethod
    def start(cls) -> Organisation:
        return cls._create(cls.Started, id=ORGANISATION_ID)

    # --- commands ----------------------------------------------------------------------------

    def define(self, item: Entity, by: str, rules: Iterable[DispatchRule] = ()) -> bool:
        """Define, change or retire one entity; True if that changed anything. `rules` are
        the catalogue's rules in force: what they name is not retired under them."""
        problems = self.territory.immutability_problems(item)
        problems += self.territory.with_(item).problems(item)
        problems += _still_named(item, rules)
        if problems:
            raise InvalidOrganisation.listing(problems)
        if self.territory.known(item) == item:
            return False
        self._record(item, by)
        return True

    def define_layout(self, layout: Layout, by: str) -> bool:
        probe = Territory(layout=layout, places=self.territory.places)
        problems = probe.problems(layout)
        if problems:
            raise InvalidOrganisation.listing(problems)
        if layout == self.territory.layout:
            return False
        self.trigger_event(self.LayoutDefined, layout=layout, by=by)
        return True

    def define_statistics(self, statistics: Statistics, by: str) -> bool:
        if statistics == self.territory.statistics:
            return False
        self.trigger_event(self.StatisticsDefined, statistics=statistics, by=by)
        return True

    def name_centre(self, name: str, by: str) -> bool:
        if not name.strip():
            raise InvalidOrganisation("the centre needs a name", field="centre")
        if name.strip() == self.territory.centre:
            return False
        self.trigger_event(self.CentreNamed, name=name.strip(), by=by)
        return True

    def apply_document(
        self, document: TerritoryDocument, by: str, rules: Iterable[DispatchRule] = ()
    ) -> int:
        """Apply a whole territory file after checking all of it: every problem is listed
        and nothing is recorded unless there are none. Returns how many entries changed;
        applying the same file again changes nothing."""
        _, problems = document.merged_into(self.territory)
        for at, item in document.entries:
            problems += _still_named(item, rules, at)
        if problems:
            raise InvalidOrganisation.listing(problems)
        changed = 0
        if document.centre is not None:
            changed += self.name_centre(document.centre, by)
        if document.layout is not None:
            layout, _ = self.territory.layout.merged_with(document.layout)
            changed += self.define_layout(layout, by)
        for _, item in document.entries:
            if self.territory.known(item) != item:
                self._record(item, by)
                changed += 1
        if document.statistics is not None:
            changed += self.define_statistics(document.statistics, by)
        return changed

    def publish_again(self, by: str) -> None:
        """Record everything the registry holds once more, as it stands, so that the
        services replicating it hear it all (a registry an earlier release recorded, whose
        events never went on the wire)."""
        self.trigger_event(self.LayoutDefined, layout=self.territory.layout, by=by)
        t = self.territory
        entries: list[Entity] = [
            *t.places.values(),
            *t.departments.values(),
            *t.lines.values(),
            *t.windows.values(),
            *t.categories.values(),
        ]
        for item in entries:
            self._record(item, by)

    def _record(self, item: Entity, by: str) -> None:
        if isinstance(item, Place):
            self.trigger_event(self.PlaceDefined, place=item, by=by)
        elif isinstance(item, Department):
            self.trigger_event(self.DepartmentDefined, department=item, by=by)
        elif isinstance(item, Line):
            self.trigger_event(self.LineDefined, line=item, by=by)
        elif isinstance(item, Window):
            self.trigger_event(self.WindowDefined, window=item, by=by)
        else:
            self.trigger_event(self.CategoryDefined, category=item, by=by)

    # --- reading -----------------------------------------------------------------------------

    def department(self, code: str, field: str = "department") -> Department:
        """The active department `code`; refused naming `field`, where the caller named it."""
        found = self.territory.department(code)
        if found is None:
            raise InvalidOrganisation(f"no active department {code!r}", field=field)
        return found


def _still_named(item: Entity, rules: Iterable[DispatchRule], at: str = "") -> list[Problem]:
    """Retiring what the catalogue in force still names would leave rules that can never be
    followed: publish a catalogue without them first."""
    if item.active:
        return []
    naming = sorted(
        r.rule_id
        for r in rules
        if (isinstance(item, Place) and r.scope == item.code)
        or (isinstance(item, Category) and r.category == item.code)
        or (isinstance(item, Department) and item.code in (r.lead, *r.co_handlers))
    )
    if not naming:
        return []
    field = f"{at}.active" if at else "active"
    return [
        Problem(
            field,
            f"the dispatch catalogue in force names {item.code} in rules {', '.join(naming)}: "
            "publish a catalogue without them first",
        )
    ]


def choose(
    rules: Iterable[DispatchRule],
    category: str,
    location: Location,
    legal_class: LegalClass | None,
    excluded: frozenset[str] = frozenset(),
) -> tuple[DispatchRule | None, list[str]]:
    """The most specific rule covering the case — the lowest tier able to handle it, and a
    rule for the case's legal class before a general one — whose departments include none
    of `excluded` (an accused unit, or a department that objected). Returns the rule and
    the rules passed over, and why."""
    matching = sorted(
        (r for r in rules if r.covers(category, location, legal_class)),
        key=lambda r: (
            -location.path.index(r.scope),
            r.legal_class is None,
            r.category == ANY_CATEGORY,
            r.rule_id,
        ),
    )
    passed_over: list[str] = []
    for rule in matching:
        barred = excluded & {rule.lead, *rule.co_handlers}
        if not barred:
            return rule, passed_over
        passed_over.append(f"{rule.rule_id} (involves {', '.join(sorted(barred))}, excluded)")
    return None, passed_over


@dataclass(frozen=True)
class CatalogueVersion:
    """One publication of the catalogue: its rules, why it was published, by whom, when."""

    version: str
    rules: tuple[DispatchRule, ...]
    note: str
    by: str
    published_at: datetime


def _legacy_rule(d: StoredState) -> DispatchRule:
    """A rule as version 1 stored it: a dict whose scope was a path of up to three places."""
    legal = d.get("legal_class")
    return DispatchRule(
        d["rule_id"],
        d["category"],
        d["scope"][-1],
        d["lead"],
        tuple(d.get("co_handlers", ())),
        LegalClass(legal) if legal else None,
    )


class DispatchCatalogue(Aggregate):
    """The dispatch catalogue, versioned: each publication is a whole new version, and the
    old ones stay readable so every past assignment can be checked against its own."""

    class Started(Aggregate.Created):
        pass

    class Published(Aggregate.Event):
        class_version = 2

        @staticmethod
        def upcast_v1_v2(state: StoredState) -> None:
            state["rules"] = tuple(_legacy_rule(r) for r in state["rules"])

        number: int
        rules: tuple[DispatchRule, ...]
        note: str
        by: str

        def apply(self, catalogue: DispatchCatalogue) -> None:
            catalogue.versions.append(
                CatalogueVersion(
                    f"v{self.number}", tuple(self.rules), self.note, self.by, self.timestamp
                )
            )

    def __init__(self) -> None:
        self.versions: list[CatalogueVersion] = []

    @classmethod
    def start(cls) -> DispatchCatalogue:
        return cls._create(cls.Started, id=CATALOGUE_ID)

    @property
    def current(self) -> CatalogueVersion | None:
        return self.versions[-1] if self.versions else None

    def release(self, name: str) -> CatalogueVersion:
        for v in self.versions:
            if v.version == name:
                return v
        raise InvalidOrganisation(f"no catalogue version {name!r}", field="version")

    def rules(self) -> tuple[str, tuple[DispatchRule, ...]]:
        current = self.current
        if current is None:
            return "none", ()
        return current.version, current.rules

    @staticmethod
    def problems(rules: Iterable[tuple[str, DispatchRule]], territory: Territory) -> list[Problem]:
        """Every rule checked against the registry; rule ids distinct."""
        found: list[Problem] = []
        seen: set[str] = set()
        for at, rule in rules:
            if rule.rule_id in seen:
                found.append(Problem(f"{at}.rule_id", f"{rule.rule_id!r} is defined twice"))
            seen.add(rule.rule_id)
            found += territory.rule_problems(rule, at)
        return found

    def publish(
        self, rules: Iterable[DispatchRule], territory: Territory, note: str, by: str
    ) -> str:
        """Check every rule against the registry, then publish them as the next version."""
        rules = tuple(rules)
        problems = self.problems(((f"rules.{i}", r) for i, r in enumerate(rules)), territory)
        if not note.strip():
            problems.append(Problem("note", "say what changed in this version"))
        if problems:
            raise InvalidOrganisation.listing(problems)
        number = len(self.versions) + 1
        self.trigger_event(self.Published, number=number, rules=rules, note=note, by=by)
        return f"v{number}"

    def merged(self, rules: Iterable[DispatchRule]) -> tuple[DispatchRule, ...]:
        """The rules in force with these added or replacing those of the same id."""
        merged = {r.rule_id: r for r in self.rules()[1]}
        merged.update((r.rule_id, r) for r in rules)
        return tuple(merged.values())
