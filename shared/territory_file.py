"""A whole territory as a file (YAML or JSON): the shape `onestop territory import` reads,
routing's `PUT /v1/territory` accepts and `GET /v1/territory` gives back.

Places nest: each place lists the places within it, so a file reads like the tree it
describes. The models check each entry's own fields (a 422 names the field); the registry
then checks the whole file against itself and what is already registered.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from shared.territory import (
    Category,
    Department,
    DispatchRule,
    Entity,
    GridLevel,
    Layout,
    Line,
    Place,
    Statistics,
    Territory,
    TerritoryDocument,
    Tier,
    Window,
)
from shared.vocabulary import (
    Cessation,
    ClosureBase,
    LegalChannel,
    LegalClass,
    Resolution,
    Stationing,
)

Code = Annotated[str, Field(min_length=1, max_length=64)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GridIn(_Model):
    code: Code
    name: Name


class TierIn(_Model):
    code: Code
    name: Name
    grid: Code | None = Field(default=None, description="The grid level of its places.")


class PlaceIn(_Model):
    code: Code
    name: Name
    tier: Code
    grid: Code | None = Field(default=None, description="Only where it differs from the tier's.")
    active: bool = True
    places: list[PlaceIn] = Field(default=[], description="The places within this one.")


class DepartmentIn(_Model):
    code: Code
    name: Name
    place: Code = Field(description="Where the department is stationed in the territory.")
    stationing: Stationing = Stationing.PERMANENT
    rotation_days: list[int] = Field(default=[], description="1 = Monday, for a rotation.")
    active: bool = True


class LineIn(_Model):
    code: Annotated[str, Field(pattern=r"^[A-Z]$", description="The letter on its tickets.")]
    name: Name
    active: bool = True


class WindowIn(_Model):
    code: Annotated[str, Field(pattern=r"^[A-Za-z0-9\-]{1,10}$")]
    departments: list[Code] = Field(description="One unit, or two sharing the window.")
    lines: list[Code] = Field(description="The queue lines the window calls.")
    active: bool = True


class CategoryIn(_Model):
    code: Code
    name: Name
    description: Annotated[str, Field(max_length=500)] = ""
    legal_channel: LegalChannel | None = None
    active: bool = True


class StatisticsIn(_Model):
    closure_base: ClosureBase = ClosureBase.ACCEPTED
    resolution: Resolution = Resolution.SETTLED
    cessation: Cessation = Cessation.NO_REPEAT


class RuleIn(_Model):
    rule_id: Code
    category: Code = Field(description="A category's code, or * for every category.")
    scope: Code = Field(description="The place the rule covers, with everything within it.")
    lead: Code
    co_handlers: list[Code] = []
    legal_class: LegalClass | None = None


class CatalogueIn(_Model):
    note: Annotated[str, Field(max_length=500)] = Field(
        default="", description="What this version changes (required when rules change)."
    )
    rules: list[RuleIn] = []


class TerritoryFile(_Model):
    """A territory: every section optional, so a file may carry only what it changes."""

    centre: Name | None = Field(default=None, description="The centre's name.")
    grids: list[GridIn] | None = None
    tiers: list[TierIn] | None = Field(default=None, description="Top tier first.")
    places: list[PlaceIn] = []
    departments: list[DepartmentIn] = []
    lines: list[LineIn] = []
    windows: list[WindowIn] = []
    categories: list[CategoryIn] = []
    statistics: StatisticsIn | None = None
    catalogue: CatalogueIn | None = None

    def document(self) -> TerritoryDocument:
        """The file as the registry reads it, each entry with its place in the file."""
        entries: list[tuple[str, Entity]] = []

        def walk(places: list[PlaceIn], parent: str | None, at: str) -> None:
            for i, p in enumerate(places):
                here = f"{at}.{i}"
                entries.append((here, Place(p.code, p.name, p.tier, parent, p.grid, p.active)))
                walk(p.places, p.code, f"{here}.places")

        walk(self.places, None, "places")
        entries += [
            (
                f"departments.{i}",
                Department(d.code, d.name, d.place, d.stationing, tuple(d.rotation_days), d.active),
            )
            for i, d in enumerate(self.departments)
        ]
        entries += [
            (f"lines.{i}", Line(x.code, x.name, x.active)) for i, x in enumerate(self.lines)
        ]
        entries += [
            (f"windows.{i}", Window(w.code, tuple(w.departments), tuple(w.lines), w.active))
            for i, w in enumerate(self.windows)
        ]
        entries += [
            (
                f"categories.{i}",
                Category(c.code, c.name, c.description, c.legal_channel, c.active),
            )
            for i, c in enumerate(self.categories)
        ]
        layout = None
        if self.tiers is not None or self.grids is not None:
            layout = Layout(
                tuple(Tier(t.code, t.name, t.grid) for t in self.tiers or ()),
                tuple(GridLevel(g.code, g.name) for g in self.grids or ()),
            )
        rules = None
        if self.catalogue is not None:
            rules = tuple(
                (
                    f"catalogue.rules.{i}",
                    DispatchRule(
                        r.rule_id, r.category, r.scope, r.lead, tuple(r.co_handlers), r.legal_class
                    ),
                )
                for i, r in enumerate(self.catalogue.rules)
            )
        statistics = None
        if self.statistics is not None:
            statistics = Statistics(**self.statistics.model_dump())
        return TerritoryDocument(
            centre=self.centre,
            layout=layout,
            entries=tuple(entries),
            statistics=statistics,
            rules=rules,
            note=self.catalogue.note if self.catalogue else "",
        )


def export(territory: Territory, rules: tuple[DispatchRule, ...], note: str) -> dict[str, Any]:
    """The registry as a territory file: importing it again changes nothing."""

    def place(p: Place) -> dict[str, Any]:
        found: dict[str, Any] = {"code": p.code, "name": p.name, "tier": p.tier}
        if p.grid:
            found["grid"] = p.grid
        if not p.active:
            found["active"] = False
        within = [place(c) for c in territory.children(p.code)]
        if within:
            found["places"] = within
        return found

    def plain(item: Any, *skip: str) -> dict[str, Any]:
        data = {k: v for k, v in vars(item).items() if k not in skip}
        data = {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}
        if data.get("active") is True:
            del data["active"]
        return {k: v for k, v in data.items() if v is not None and v != ""}

    return {
        "centre": territory.centre or None,
        "grids": [plain(g) for g in territory.layout.grids],
        "tiers": [plain(t) for t in territory.tiers],
        "places": [place(p) for p in territory.children(None)],
        "departments": [plain(d) for d in territory.departments.values()],
        "lines": [plain(x) for x in territory.lines.values()],
        "windows": [plain(w) for w in territory.windows.values()],
        "categories": [plain(c) for c in territory.categories.values()],
        "statistics": plain(territory.statistics) if territory.statistics else None,
        "catalogue": {"note": note, "rules": [plain(r) for r in rules]},
    }
