"""The one registry of the centre's territory and the dispatch catalogue: read by every
caller with a token, changed by an `admin` — one entry at a time, or a whole territory file
at once (`PUT /v1/territory`, what `onestop territory import` sends)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from services.routing.api.deps import CurrentActor, Routing
from services.routing.organisation import CatalogueVersion
from shared.http import NotFound, example
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
    Tier,
    Window,
    retired,
)
from shared.territory_file import (
    Code,
    GridIn,
    Name,
    RuleIn,
    StatisticsIn,
    TerritoryFile,
    TierIn,
    export,
)
from shared.vocabulary import LegalChannel, Stationing

router = APIRouter(prefix="/v1", tags=["registry"])


# --- the whole territory -----------------------------------------------------------------


@router.get("/territory", summary="The whole territory as a file (what the import reads)")
def get_territory(app: Routing, actor: CurrentActor) -> dict[str, Any]:
    current = app.catalogue().current
    if current is None:
        return export(app.territory(), (), "")
    return export(app.territory(), current.rules, current.note)


@router.put(
    "/territory",
    summary="Import a territory file (admin): checked in full — every problem listed, nothing "
    "written unless there are none — then applied at once; the same file again changes nothing",
)
def put_territory(
    body: TerritoryFile,
    app: Routing,
    actor: CurrentActor,
    dry_run: Annotated[bool, Query(description="Check only; record nothing.")] = False,
) -> dict[str, Any]:
    return app.import_territory(body.document(), actor, dry_run=dry_run)


# --- tiers, grid levels and statistics definitions --------------------------------------


class LayoutIn(BaseModel):
    model_config = example(
        {
            "grids": [{"code": "large", "name": "大网格"}, {"code": "small", "name": "小网格"}],
            "tiers": [
                {"code": "district", "name": "区", "grid": "large"},
                {"code": "community", "name": "社区", "grid": "small"},
            ],
        }
    )
    grids: list[GridIn] = []
    tiers: list[TierIn] = Field(min_length=1)


def _layout(t: Territory) -> dict[str, Any]:
    return {"tiers": [asdict(x) for x in t.tiers], "grids": [asdict(g) for g in t.layout.grids]}


@router.get("/tiers", summary="The locality's tiers, top first, and its grid levels")
def get_tiers(app: Routing, actor: CurrentActor) -> dict[str, Any]:
    return _layout(app.territory())


@router.put("/tiers", summary="Define the tiers and grid levels (admin)")
def put_tiers(body: LayoutIn, app: Routing, actor: CurrentActor) -> dict[str, Any]:
    layout = Layout(
        tuple(Tier(t.code, t.name, t.grid) for t in body.tiers),
        tuple(GridLevel(g.code, g.name) for g in body.grids),
    )
    return _layout(app.define_layout(layout, actor))


@router.get("/statistics-definitions", summary="The locality's 办结率, 化解率 and 息访率")
def get_statistics(app: Routing, actor: CurrentActor) -> dict[str, Any]:
    found = app.territory().statistics
    return asdict(found or Statistics())


@router.put("/statistics-definitions", summary="Define how the rates are counted (admin)")
def put_statistics(body: StatisticsIn, app: Routing, actor: CurrentActor) -> dict[str, Any]:
    statistics = Statistics(**body.model_dump())
    app.define_statistics(statistics, actor)
    return asdict(statistics)


# --- places, departments, lines, windows, categories --------------------------------------


def place_view(territory: Territory, place: Place) -> dict[str, Any]:
    """A place with what people need to read it: its path of names and its grid level."""
    path = territory.path(place.code)
    return {
        **asdict(place),
        "grid": territory.grid(place),
        "grid_name": territory.grid_name(territory.grid(place)),
        "path": [p.code for p in path],
        "label": " ".join(p.name for p in path),
    }


class PlaceBody(BaseModel):
    model_config = example({"name": "裕和社区", "tier": "community", "parent": "lutai"})
    name: Name
    tier: Code
    parent: Code | None = None
    grid: Code | None = None
    active: bool = True


class DepartmentBody(BaseModel):
    model_config = example(
        {
            "name": "宁河区生态环境局",
            "place": "ninghe",
            "stationing": "rotation",
            "rotation_days": [1, 3, 5],
        }
    )
    name: Name
    place: Code
    stationing: Stationing = Stationing.PERMANENT
    rotation_days: list[int] = Field(default=[], max_length=7)
    active: bool = True


class LineBody(BaseModel):
    model_config = example({"name": "劳动社保"})
    name: Name
    active: bool = True


class WindowBody(BaseModel):
    model_config = example({"departments": ["ninghe-hrss", "qiaocheng-hrss"], "lines": ["B", "A"]})
    departments: list[Code] = Field(min_length=1, max_length=2)
    lines: list[Code] = Field(min_length=1, max_length=26)
    active: bool = True


class CategoryBody(BaseModel):
    model_config = example({"name": "邻里纠纷", "description": "disputes between neighbours"})
    name: Name
    description: Annotated[str, Field(max_length=500)] = ""
    legal_channel: LegalChannel | None = None
    active: bool = True


def _entries(
    path: str,
    what: str,
    table: Callable[[Territory], dict[str, Any]],
    body: type[BaseModel],
    build: Callable[[str, Any], Entity],
    show: Callable[[Territory, Any], dict[str, Any]] = lambda _, item: asdict(item),
) -> None:
    """GET the list, GET one, PUT (define or change) and DELETE (retire) for one kind."""

    def one(territory: Territory, code: str) -> Any:
        found = table(territory).get(code)
        if found is None:
            raise NotFound(f"{what} {code!r}")
        return found

    def listing(
        app: Routing,
        actor: CurrentActor,
        retired: Annotated[bool, Query(description="Include retired entries.")] = False,
    ) -> list[dict[str, Any]]:
        territory = app.territory()
        return [show(territory, x) for x in table(territory).values() if retired or x.active]

    def read(code: str, app: Routing, actor: CurrentActor) -> dict[str, Any]:
        territory = app.territory()
        return show(territory, one(territory, code))

    def put(code: str, app: Routing, actor: CurrentActor, data: Any) -> dict[str, Any]:
        territory = app.define(build(code, data), actor)
        return show(territory, one(territory, code))

    def retire(code: str, app: Routing, actor: CurrentActor) -> dict[str, Any]:
        item = one(app.territory(), code)
        territory = app.define(retired(item), actor)
        return show(territory, one(territory, code))

    put.__annotations__["data"] = body  # the body model FastAPI validates and documents
    # each route named for its operation in the visibility policy (`shared.policy`)
    router.add_api_route(
        f"/{path}", listing, methods=["GET"], summary=f"Every {what}", name=f"list_{path}"
    )
    router.add_api_route(
        f"/{path}/{{code}}", read, methods=["GET"], summary=f"One {what}", name=f"read_{path}"
    )
    router.add_api_route(
        f"/{path}/{{code}}",
        put,
        methods=["PUT"],
        summary=f"Define or change a {what} (admin)",
        name=f"put_{path}",
    )
    router.add_api_route(
        f"/{path}/{{code}}",
        retire,
        methods=["DELETE"],
        name=f"retire_{path}",
        summary=f"Retire a {what} (admin): kept for what refers to it, offered for nothing new",
    )


_entries(
    "places",
    "place",
    lambda t: t.places,
    PlaceBody,
    lambda code, b: Place(code, b.name, b.tier, b.parent, b.grid, b.active),
    place_view,
)
_entries(
    "departments",
    "department",
    lambda t: t.departments,
    DepartmentBody,
    lambda code, b: Department(
        code, b.name, b.place, b.stationing, tuple(b.rotation_days), b.active
    ),
)
_entries("lines", "queue line", lambda t: t.lines, LineBody, lambda c, b: Line(c, b.name, b.active))
_entries(
    "windows",
    "window",
    lambda t: t.windows,
    WindowBody,
    lambda code, b: Window(code, tuple(b.departments), tuple(b.lines), b.active),
)
_entries(
    "categories",
    "category",
    lambda t: t.categories,
    CategoryBody,
    lambda code, b: Category(code, b.name, b.description, b.legal_channel, b.active),
)


# --- the dispatch catalogue ---------------------------------------------------------------


def _version(found: CatalogueVersion | None, versions: int) -> dict[str, Any]:
    if found is None:
        return {"version": "none", "rules": [], "versions": versions}
    return {**asdict(found), "versions": versions}


@router.get("/dispatch-rules", summary="The dispatch catalogue (派单目录) in force, or a past one")
def dispatch_rules(
    app: Routing,
    actor: CurrentActor,
    version: Annotated[str | None, Query(pattern=r"^v\d+$")] = None,
) -> dict[str, Any]:
    catalogue = app.catalogue()
    chosen = catalogue.release(version) if version else catalogue.current
    return _version(chosen, len(catalogue.versions))


class CatalogueBody(BaseModel):
    model_config = example(
        {
            "note": "neighbour disputes in Jinxiu go to the residents' committee",
            "rules": [
                {
                    "rule_id": "R-15",
                    "category": "neighbour-dispute",
                    "scope": "jinxiu",
                    "lead": "jinxiu-committee",
                }
            ],
        }
    )
    note: Annotated[str, Field(min_length=1, max_length=2000)]
    rules: list[RuleIn] = Field(min_length=1, max_length=5000)


@router.post(
    "/dispatch-rules",
    status_code=201,
    summary="Publish a new version of the whole catalogue (admin); old versions stay readable",
)
def publish_rules(body: CatalogueBody, app: Routing, actor: CurrentActor) -> dict[str, Any]:
    rules = [
        DispatchRule(r.rule_id, r.category, r.scope, r.lead, tuple(r.co_handlers), r.legal_class)
        for r in body.rules
    ]
    catalogue = app.publish_catalogue(rules, body.note, actor)
    return _version(catalogue.current, len(catalogue.versions))
