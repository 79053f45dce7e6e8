"""A centre's territory, as data: its places in as many tiers as the locality has, their grid
levels, the departments and where they sit, the queue's lines and windows, the categories
of matters, and the locality's own statistics definitions.

Routing keeps the one registry (an aggregate changed by an admin's commands); intake and
follow-up hold a replica of it, fed by routing's events over Kafka. All three read the same
`Territory`, so a place, category or window exists for every service or for none.

Nothing here names a real place: a territory comes from a file (`onestop territory import`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from copy import deepcopy
from dataclasses import dataclass, field, replace
from datetime import date
from itertools import pairwise
from typing import Any

from shared.domain import Problem
from shared.vocabulary import (
    Cessation,
    ClosureBase,
    LegalChannel,
    LegalClass,
    Resolution,
    Stationing,
)

CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,63}$"
"""Every code of the registry: a place's, a department's, a category's…"""
_CODE = re.compile(CODE_PATTERN)
_LINE = re.compile(r"[A-Z]")
_WINDOW = re.compile(r"[A-Za-z0-9\-]{1,10}")

MAX_UNITS_PER_WINDOW = 2
"""A window is staffed by one unit or shared by two, as at the Guizhou provincial centre."""

ANY_CATEGORY = "*"
"""A dispatch rule for every category (e.g. all accusations go to discipline inspection)."""


# --- the value objects -------------------------------------------------------------------


@dataclass(frozen=True)
class GridLevel:
    """网格 — how far a matter may travel before a larger grid takes it: small matters stay
    in the building (small grid), medium in the neighbourhood, large in the town."""

    code: str
    name: str


@dataclass(frozen=True)
class Tier:
    """One level of the locality's administrative tree (省, 市, 区/县, 街道/乡镇, 社区/村,
    楼组…), named by the locality, with the grid level its places are by default."""

    code: str
    name: str
    grid: str | None = None


@dataclass(frozen=True)
class Place:
    """辖区 — a place of the territory, within its parent (of a higher tier). A place keeps
    its tier and parent for good; a retired place stays readable for the cases filed there."""

    code: str
    name: str
    tier: str
    parent: str | None = None
    grid: str | None = None
    active: bool = True


@dataclass(frozen=True)
class Department:
    """A unit that handles cases, stationed at a place of the territory; at the centre every
    day, on a rotation timetable (the weekdays it attends, 1 = Monday), or on call."""

    code: str
    name: str
    place: str
    stationing: Stationing = Stationing.PERMANENT
    rotation_days: tuple[int, ...] = ()
    active: bool = True

    def present_on(self, day: date) -> bool:
        """Whether the department has staff at the centre that day."""
        if self.stationing is Stationing.PERMANENT:
            return True
        if self.stationing is Stationing.ROTATION:
            return day.isoweekday() in self.rotation_days
        return False  # on call: comes when sent for


@dataclass(frozen=True)
class Line:
    """A queue line visitors take tickets for; its code is the letter on the ticket (A001)."""

    code: str
    name: str
    active: bool = True


@dataclass(frozen=True)
class Window:
    """A reception window: the units sitting at it (at most two) and the lines it calls."""

    code: str
    departments: tuple[str, ...]
    lines: tuple[str, ...]
    active: bool = True


@dataclass(frozen=True)
class Category:
    """A kind of matter the centre takes (劳动工资, 征地拆迁…); where the law sends such
    matters elsewhere, the legal channel the petitioner is pointed to."""

    code: str
    name: str
    description: str = ""
    legal_channel: LegalChannel | None = None
    active: bool = True


@dataclass(frozen=True)
class Statistics:
    """The locality's definitions of the rates it reports (化解率 and 息访率 have no national
    definition; 办结率's base varies)."""

    closure_base: ClosureBase = ClosureBase.ACCEPTED
    resolution: Resolution = Resolution.SETTLED
    cessation: Cessation = Cessation.NO_REPEAT


@dataclass(frozen=True)
class Location:
    """Where a case's matter is: a place of the territory and its path from the top tier,
    fixed when the case was registered (so later changes to the tree never move it)."""

    place: str
    path: tuple[str, ...]
    lat: float | None = None
    long: float | None = None

    @classmethod
    def of(cls, data: dict[str, Any]) -> Location:
        """From a stored or wire form, including the three fixed tiers of earlier releases
        (`district`, `street`, `community`)."""
        if "place" in data:
            path = tuple(data.get("path") or (data["place"],))
            return cls(data["place"], path, data.get("lat"), data.get("long"))
        path = tuple(data[k] for k in ("district", "street", "community") if data.get(k))
        return cls(path[-1], path, data.get("lat"), data.get("long"))

    def within(self, place: str) -> bool:
        return place in self.path

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"place": self.place, "path": list(self.path)}
        if self.lat is not None:
            found.update(lat=self.lat, long=self.long)
        return found


@dataclass(frozen=True)
class DispatchRule:
    """One line of the dispatch catalogue (派单目录): category × place (× legal class) → the
    lead department and the co-handling departments. The rule covers cases anywhere within
    its place; the most specific rule — the lowest capable tier — wins."""

    rule_id: str
    category: str
    scope: str
    lead: str
    co_handlers: tuple[str, ...] = ()
    legal_class: LegalClass | None = None

    def covers(self, category: str, location: Location, legal_class: str | None) -> bool:
        return (
            self.category in (category, ANY_CATEGORY)
            and location.within(self.scope)
            and (self.legal_class is None or self.legal_class == legal_class)
        )


@dataclass(frozen=True)
class HandlingPlace:
    """Where a matter is handled: the place of the rule that chose its departments (the
    lowest capable tier) and that place's grid level."""

    code: str
    name: str
    tier: str
    grid: str | None = None


Entity = Place | Department | Line | Window | Category


@dataclass(frozen=True)
class Layout:
    """The tiers and grid levels of a territory, defined together (a tier names a grid)."""

    tiers: tuple[Tier, ...]
    grids: tuple[GridLevel, ...] = ()

    def merged_with(self, other: Layout) -> tuple[Layout, list[Problem]]:
        """Both layouts' tiers in one order that keeps each one's (a file for a town's
        centre can join a registry that holds a district's), `other`'s definitions winning;
        a problem if their orders contradict each other."""
        defined = {t.code: t for t in (*self.tiers, *other.tiers)}
        after: dict[str, set[str]] = {code: set() for code in defined}
        for chain in (self.tiers, other.tiers):
            for upper, lower in pairwise(chain):
                after[lower.code].add(upper.code)
        order: list[str] = []
        waiting = list(defined)  # first seen first: the registered order is kept
        while waiting:
            ready = next((c for c in waiting if after[c] <= set(order)), None)
            if ready is None:
                return self, [
                    Problem(
                        "tiers",
                        f"the tiers' order contradicts the registered one "
                        f"({', '.join(t.code for t in self.tiers)})",
                    )
                ]
            order.append(ready)
            waiting.remove(ready)
        grids = {g.code: g for g in (*self.grids, *other.grids)}
        return Layout(tuple(defined[c] for c in order), tuple(grids.values())), []


LEGACY_LAYOUT = Layout(
    (Tier("district", "区", "large"), Tier("street", "街道/乡镇", "medium"),
     Tier("community", "社区/村", "small")),
    (GridLevel("large", "大网格"), GridLevel("medium", "中网格"), GridLevel("small", "小网格")),
)  # fmt: skip
"""The three fixed tiers of earlier releases, for registries recorded before tiers were data."""

VALUE_OBJECTS: tuple[type, ...] = (
    HandlingPlace,
    GridLevel,
    Tier,
    Place,
    Department,
    Line,
    Window,
    Category,
    Statistics,
    Location,
    DispatchRule,
    Layout,
)
"""What stored events carry (see `shared.values.register_values`)."""


# --- the territory -------------------------------------------------------------------------


@dataclass
class Territory:
    """Everything a centre configures about where it works and how: read by all three
    services, changed only through routing's registry (whose events replicas apply)."""

    centre: str = ""
    layout: Layout = field(default_factory=lambda: Layout(()))
    places: dict[str, Place] = field(default_factory=dict)
    departments: dict[str, Department] = field(default_factory=dict)
    lines: dict[str, Line] = field(default_factory=dict)
    windows: dict[str, Window] = field(default_factory=dict)
    categories: dict[str, Category] = field(default_factory=dict)
    statistics: Statistics | None = None
    """The locality's definitions, once it gave them (services fall back to their settings)."""

    # --- changing (no checks: the registry checks before it records a change) --------------

    def put(self, item: Entity | Layout | Statistics) -> None:
        if isinstance(item, Layout):
            self.layout = item
        elif isinstance(item, Statistics):
            self.statistics = item
        else:
            self._table(item)[item.code] = item

    def _table(self, item: Entity) -> dict[str, Any]:
        tables: dict[type, dict[str, Any]] = {
            Place: self.places,
            Department: self.departments,
            Line: self.lines,
            Window: self.windows,
            Category: self.categories,
        }
        return tables[type(item)]

    def known(self, item: Entity) -> Entity | None:
        found: Entity | None = self._table(item).get(item.code)
        return found

    # --- reading ---------------------------------------------------------------------------

    @property
    def tiers(self) -> tuple[Tier, ...]:
        return self.layout.tiers

    def tier(self, code: str) -> Tier | None:
        return next((t for t in self.layout.tiers if t.code == code), None)

    def rank(self, tier: str) -> int:
        """0 for the top tier; deeper tiers count up."""
        return next(i for i, t in enumerate(self.layout.tiers) if t.code == tier)

    def grid_name(self, code: str | None) -> str | None:
        found = next((g for g in self.layout.grids if g.code == code), None)
        return found.name if found else code

    def grid(self, place: Place) -> str | None:
        """The place's grid level: its own, or its tier's."""
        if place.grid:
            return place.grid
        tier = self.tier(place.tier)
        return tier.grid if tier else None

    def path(self, code: str) -> tuple[Place, ...]:
        """The place and its ancestors, top tier first; empty for an unknown place."""
        found: list[Place] = []
        at = self.places.get(code)
        while at is not None and len(found) <= len(self.places):
            found.append(at)
            at = self.places.get(at.parent or "")
        return tuple(reversed(found))

    def children(self, code: str | None) -> list[Place]:
        return [p for p in self.places.values() if p.parent == code]

    def locate(self, code: str, lat: float | None = None, long: float | None = None) -> Location:
        """A new case's location at a known, active place (see `location_problems`)."""
        return Location(code, tuple(p.code for p in self.path(code)), lat, long)

    def location_problems(self, code: str, at: str = "location.place") -> list[Problem]:
        """Why a new case cannot be filed at this place, if it cannot."""
        place = self.places.get(code)
        if place is None:
            if not self.places:
                why = "the centre's territory has no places yet (an admin imports it)"
            else:
                tops = ", ".join(p.code for p in self.children(None) if p.active)
                why = f"places are the codes of the territory's registry, e.g. {tops}"
            return [Problem(at, f"unknown place {code!r}: {why}")]
        if not place.active:
            return [
                Problem(at, f"{place.name} ({code}) is retired; file the case at its successor")
            ]
        return []

    def category_problems(self, code: str, at: str = "category") -> list[Problem]:
        found = self.categories.get(code)
        if found is None or not found.active:
            known = ", ".join(c.code for c in self.categories.values() if c.active) or "none yet"
            return [Problem(at, f"unknown category {code!r}; known: {known}")]
        return []

    def department(self, code: str) -> Department | None:
        """The active department with this code, if there is one."""
        found = self.departments.get(code)
        return found if found is not None and found.active else None

    def handling_place(self, code: str) -> HandlingPlace | None:
        place = self.places.get(code)
        if place is None:
            return None
        return HandlingPlace(place.code, place.name, place.tier, self.grid(place))

    def with_(self, item: Entity) -> Territory:
        """A copy holding `item` as well, sharing everything else (to check it in place)."""
        copy = replace(self)
        copy.places, copy.departments, copy.lines = self.places, self.departments, self.lines
        copy.windows, copy.categories = self.windows, self.categories
        table = {**self._table(item), item.code: item}
        if isinstance(item, Place):
            copy.places = table
        elif isinstance(item, Department):
            copy.departments = table
        elif isinstance(item, Line):
            copy.lines = table
        elif isinstance(item, Window):
            copy.windows = table
        else:
            copy.categories = table
        return copy

    def active(self, table: dict[str, Any]) -> list[Any]:
        return [item for item in table.values() if item.active]

    def place_label(self, location: Location) -> str:
        """A location for people: the names along its path, top first."""
        return " ".join(self.places[c].name if c in self.places else c for c in location.path)

    # --- checking a change ---------------------------------------------------------------

    def immutability_problems(self, item: Entity, at: str = "") -> list[Problem]:
        """A place keeps its tier and parent: its cases' paths were fixed with them."""
        old = self.known(item)
        if (
            isinstance(item, Place)
            and isinstance(old, Place)
            and (old.tier, old.parent) != (item.tier, item.parent)
        ):
            return [
                Problem(
                    f"{_prefix(at)}parent",
                    f"{item.code} keeps its tier ({old.tier}) and parent ({old.parent}); "
                    "define a new place and retire this one instead",
                )
            ]
        return []

    def problems(self, item: Entity | Layout, at: str = "") -> list[Problem]:
        """Everything wrong with `item` in this territory (which already holds it, so that a
        whole file can be checked at once): each problem names the field under `at`."""
        at = _prefix(at)
        if isinstance(item, Place):
            return list(self._place_problems(item, at))
        if isinstance(item, Department):
            return list(self._department_problems(item, at))
        if isinstance(item, Line):
            return list(self._line_problems(item, at))
        if isinstance(item, Window):
            return list(self._window_problems(item, at))
        if isinstance(item, Category):
            return list(self._category_problems(item, at))
        return list(self._layout_problems(item, at))

    def _layout_problems(self, layout: Layout, at: str) -> Iterator[Problem]:
        grids = {g.code for g in layout.grids}
        yield from _unique((g.code for g in layout.grids), f"{at}grids")
        for i, grid in enumerate(layout.grids):
            yield from _code(grid.code, f"{at}grids.{i}.code")
            yield from _named(grid.name, f"{at}grids.{i}.name")
        if not layout.tiers:
            yield Problem(f"{at}tiers", "name the locality's tiers, the top one first")
        yield from _unique((t.code for t in layout.tiers), f"{at}tiers")
        for i, tier in enumerate(layout.tiers):
            yield from _code(tier.code, f"{at}tiers.{i}.code")
            yield from _named(tier.name, f"{at}tiers.{i}.name")
            if tier.grid is not None and tier.grid not in grids:
                yield Problem(f"{at}tiers.{i}.grid", f"unknown grid level {tier.grid!r}")
        used = {p.tier for p in self.places.values()} - {t.code for t in layout.tiers}
        if used:
            yield Problem(f"{at}tiers", f"places still use the tiers {', '.join(sorted(used))}")

    def _place_problems(self, place: Place, at: str) -> Iterator[Problem]:
        yield from _code(place.code, f"{at}code")
        yield from _named(place.name, f"{at}name")
        tier = self.tier(place.tier)
        if tier is None:
            known = ", ".join(t.code for t in self.tiers) or "none defined yet"
            yield Problem(f"{at}tier", f"unknown tier {place.tier!r}; tiers: {known}")
        if place.grid is not None and place.grid not in {g.code for g in self.layout.grids}:
            yield Problem(f"{at}grid", f"unknown grid level {place.grid!r}")
        if place.parent is not None:
            parent = self.places.get(place.parent)
            if parent is None:
                yield Problem(f"{at}parent", f"unknown parent place {place.parent!r}")
            elif (
                tier is not None
                and self.tier(parent.tier) is not None
                and self.rank(parent.tier) >= self.rank(place.tier)
            ):
                yield Problem(
                    f"{at}parent",
                    f"a {place.tier} lies within a place of a higher tier; "
                    f"{parent.code} is a {parent.tier}",
                )
            if parent is not None and place.active and not parent.active:
                yield Problem(f"{at}parent", f"{parent.code} is retired")
        if not place.active:
            live = [c.code for c in self.children(place.code) if c.active]
            if live:
                yield Problem(
                    f"{at}active", f"retire the places within it first: {', '.join(live)}"
                )
            staffed = [
                d.code for d in self.departments.values() if d.active and d.place == place.code
            ]
            if staffed:
                yield Problem(
                    f"{at}active", f"departments are stationed there: {', '.join(staffed)}"
                )

    def _department_problems(self, department: Department, at: str) -> Iterator[Problem]:
        yield from _code(department.code, f"{at}code")
        yield from _named(department.name, f"{at}name")
        place = self.places.get(department.place)
        if place is None or (department.active and not place.active):
            yield Problem(f"{at}place", f"unknown or retired place {department.place!r}")
        days = department.rotation_days
        if department.stationing is Stationing.ROTATION and not days:
            yield Problem(
                f"{at}rotation_days",
                "a rotating department names the weekdays it attends (1 = Monday)",
            )
        if any(d not in range(1, 8) for d in days) or len(set(days)) != len(days):
            yield Problem(f"{at}rotation_days", "weekdays are distinct, 1 to 7")
        if not department.active:
            seats = [
                w.code
                for w in self.windows.values()
                if w.active and department.code in w.departments
            ]
            if seats:
                yield Problem(f"{at}active", f"it still sits at windows {', '.join(seats)}")

    def _line_problems(self, line: Line, at: str) -> Iterator[Problem]:
        if not _LINE.fullmatch(line.code):
            yield Problem(f"{at}code", "a line's code is one capital letter (its tickets: A001…)")
        yield from _named(line.name, f"{at}name")
        if not line.active:
            served = [w.code for w in self.windows.values() if w.active and line.code in w.lines]
            if served:
                yield Problem(f"{at}active", f"windows still call it: {', '.join(served)}")

    def _window_problems(self, window: Window, at: str) -> Iterator[Problem]:
        if not _WINDOW.fullmatch(window.code):
            yield Problem(f"{at}code", "a window's code is 1–10 letters, digits or '-'")
        units = window.departments
        if not 1 <= len(units) <= MAX_UNITS_PER_WINDOW or len(set(units)) != len(units):
            yield Problem(
                f"{at}departments",
                f"a window is staffed by one unit or shared by at most {MAX_UNITS_PER_WINDOW}",
            )
        for i, code in enumerate(units):
            if self.department(code) is None:
                yield Problem(f"{at}departments.{i}", f"unknown or retired department {code!r}")
        if window.active and not window.lines:
            yield Problem(f"{at}lines", "a window calls at least one line")
        for i, code in enumerate(window.lines):
            line = self.lines.get(code)
            if line is None or not line.active:
                yield Problem(f"{at}lines.{i}", f"unknown or retired line {code!r}")

    def _category_problems(self, category: Category, at: str) -> Iterator[Problem]:
        if category.code == ANY_CATEGORY:
            yield Problem(f"{at}code", f"{ANY_CATEGORY!r} is reserved for rules of any category")
        else:
            yield from _code(category.code, f"{at}code")
        yield from _named(category.name, f"{at}name")

    def rule_problems(self, rule: DispatchRule, at: str) -> list[Problem]:
        """Everything wrong with a dispatch rule against this territory."""
        at = _prefix(at)
        found = list(_code(rule.rule_id, f"{at}rule_id"))
        if rule.category != ANY_CATEGORY:
            found += self.category_problems(rule.category, f"{at}category")
        place = self.places.get(rule.scope)
        if place is None or not place.active:
            found.append(Problem(f"{at}scope", f"unknown or retired place {rule.scope!r}"))
        if rule.lead in rule.co_handlers or len(set(rule.co_handlers)) != len(rule.co_handlers):
            found.append(Problem(f"{at}co_handlers", "co-handlers are distinct and not the lead"))
        if self.department(rule.lead) is None:
            found.append(Problem(f"{at}lead", f"unknown or retired department {rule.lead!r}"))
        for i, code in enumerate(rule.co_handlers):
            if self.department(code) is None:
                found.append(
                    Problem(f"{at}co_handlers.{i}", f"unknown or retired department {code!r}")
                )
        return found


def _prefix(at: str) -> str:
    return f"{at}." if at else ""


def _code(code: str, at: str) -> Iterator[Problem]:
    if not _CODE.fullmatch(code):
        yield Problem(at, "a code is 1–64 letters, digits, '-', '_' or '.', e.g. 'labour-bureau'")


def _named(name: str, at: str) -> Iterator[Problem]:
    if not name.strip():
        yield Problem(at, "a name is required")


def _unique(codes: Iterable[str], at: str) -> Iterator[Problem]:
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            yield Problem(at, f"{code!r} is named twice")
        seen.add(code)


def retired(item: Entity) -> Entity:
    """The same entity, retired: kept for what refers to it, offered for nothing new."""
    return replace(item, active=False)


# --- a whole territory at once ------------------------------------------------------------


@dataclass(frozen=True)
class TerritoryDocument:
    """A territory as a file holds it (`onestop territory import`): each entry with where it
    is in the file, so that every problem can point at it."""

    centre: str | None = None
    layout: Layout | None = None
    entries: tuple[tuple[str, Entity], ...] = ()
    """Places (parents before children), departments, lines, windows and categories."""
    statistics: Statistics | None = None
    rules: tuple[tuple[str, DispatchRule], ...] | None = None
    note: str = ""

    def merged_into(self, territory: Territory) -> tuple[Territory, list[Problem]]:
        """The territory with this document applied, and every problem that would leave:
        unknown parents, duplicate codes, categories a rule names but the list lacks, windows
        naming unknown units, rules naming unknown departments or places…"""
        merged = deepcopy(territory)
        problems: list[Problem] = []
        layout_problems: list[Problem] = []
        if self.layout is not None:
            layout, layout_problems = territory.layout.merged_with(self.layout)
            merged.put(layout)
        seen: set[tuple[type, str]] = set()
        for at, item in self.entries:
            key = (type(item), item.code)
            if key in seen:
                problems.append(Problem(f"{at}.code", f"{item.code!r} is defined twice"))
            seen.add(key)
            problems += territory.immutability_problems(item, at)
            merged.put(item)
        if self.statistics is not None:
            merged.put(self.statistics)
        if self.layout is not None:  # checked against the places registered before
            probe = Territory(layout=merged.layout, places=territory.places)
            problems += layout_problems or probe.problems(merged.layout)
        for at, item in self.entries:
            problems += merged.problems(item, at)
        rule_ids: set[str] = set()
        for at, rule in self.rules or ():
            if rule.rule_id in rule_ids:
                problems.append(Problem(f"{at}.rule_id", f"{rule.rule_id!r} is defined twice"))
            rule_ids.add(rule.rule_id)
            problems += merged.rule_problems(rule, at)
        return merged, problems
