"""The territory as data: a file checked in full before anything is recorded, imported
idempotently, exported as it imports, merged with another centre's tiers; the registry's
changes replicated to intake and follow-up; a registry from an earlier release published."""

from pathlib import Path

import pytest

from services.followup.application import FollowUpApplication
from services.intake.application import IntakeApplication
from services.routing import wire
from services.routing.application import RoutingApplication
from services.routing.organisation import InvalidOrganisation, Organisation
from shared.messages import RegistryChanged
from shared.registry import hears_registry
from shared.territory import Layout, Place, Tier
from shared.territory_file import TerritoryFile, export
from tests.territory import ADMIN, ROOT, SEED, document, seeded, territory_file
from tests.unit.test_flow import deliver
from tests.unit.test_routing import register

ZHUANQIAO = ROOT / "deploy" / "territories" / "zhuanqiao-grid.yaml"


def imported(*paths: Path) -> RoutingApplication:
    app = RoutingApplication()
    for path in paths:
        app.import_territory(document(path), ADMIN)
    return app


def test_a_bad_file_is_refused_with_every_problem_and_nothing_is_recorded():
    data = territory_file(SEED)
    data["places"][0]["places"][0]["places"][0]["tier"] = "planet"  # jinxiu
    data["departments"].append({**data["departments"][1]})  # ninghe-hrss twice
    data["windows"][1]["departments"] = ["ghost", "ninghe-hrss"]
    data["catalogue"]["rules"].append(
        {"rule_id": "R-99", "category": "weather", "scope": "atlantis", "lead": "nobody"}
    )
    app = RoutingApplication()
    before = app.recorder.max_notification_id()
    with pytest.raises(InvalidOrganisation) as refused:
        app.import_territory(TerritoryFile.model_validate(data).document(), ADMIN)
    fields = [p.field for p in refused.value.problems]
    assert fields == [
        "departments.19.code",
        "places.0.places.0.places.0.tier",
        "windows.1.departments.0",
        "catalogue.rules.19.category",
        "catalogue.rules.19.scope",
        "catalogue.rules.19.lead",
    ]
    assert app.recorder.max_notification_id() == before  # nothing half-applied
    assert not app.territory().places


def test_importing_the_same_file_again_changes_nothing_and_the_export_imports_as_itself():
    app = imported(SEED)
    again = app.import_territory(document(SEED), ADMIN)
    assert again == {
        "changed": 0,
        "catalogue_version": "v1",
        "catalogue_changed": False,
        "dry_run": False,
    }
    current = app.catalogue().current
    assert current is not None
    exported = export(app.territory(), current.rules, current.note)
    fresh = RoutingApplication()
    fresh.import_territory(TerritoryFile.model_validate(exported).document(), ADMIN)
    assert fresh.territory() == app.territory()
    assert fresh.catalogue().rules()[1] == app.catalogue().rules()[1]
    dry = fresh.import_territory(
        TerritoryFile.model_validate(territory_file(ZHUANQIAO)).document(), ADMIN, dry_run=True
    )
    assert dry["changed"] > 30 and dry["catalogue_changed"]
    assert "zq" not in fresh.territory().places  # a dry run records nothing


def test_a_second_centres_tiers_join_the_registered_ones_in_an_order_keeping_each():
    app = imported(SEED, ZHUANQIAO)
    territory = app.territory()
    assert [t.code for t in territory.tiers] == [
        "district",
        "street",
        "community",
        "town",
        "neighbourhood",
        "building-group",
    ]
    assert territory.grid(territory.places["zq-yindu-b12"]) == "building-grid"
    assert territory.path("zq-yindu-b12")[0].code == "zq"
    contrary = Layout((Tier("community", "社区"), Tier("district", "区")))
    merged, problems = territory.layout.merged_with(contrary)
    assert merged == territory.layout
    assert [p.field for p in problems] == ["tiers"]


def test_routing_chooses_the_lowest_capable_tier_and_names_its_place_and_grid():
    app = imported(SEED, ZHUANQIAO)
    small = app.get_assignment(register(app, "leaking-ceiling", ("zq", "zq-yindu", "zq-yindu-b12")))
    medium = app.get_assignment(
        register(app, "leaking-ceiling", ("zq", "zq-yindu", "zq-yindu-b15"))
    )
    large = app.get_assignment(register(app, "leaking-ceiling", ("zq", "zq-beiqiao")))
    assert [(a.rule_id, a.handled_at.grid) for a in (small, medium, large)] == [
        ("ZQ-01", "building-grid"),
        ("ZQ-02", "neighbourhood-grid"),
        ("ZQ-10", "town-grid"),
    ]


def test_intake_and_follow_up_hold_what_routings_registry_published_and_hear_changes():
    intake, followup = seeded(IntakeApplication()), seeded(FollowUpApplication())
    routing = seeded(RoutingApplication())
    assert intake.territory() == followup.territory() == routing.territory()
    before = routing.recorder.max_notification_id()
    routing.define(Place("xinyuan", "新苑社区", "community", "qiaobei"), ADMIN)
    new = [
        wire.to_cloudevent(routing.mapper.to_domain_event(n))
        for n in routing.recorder.select_notifications(start=before, limit=10)
        if n.id > before
    ]
    assert [e.type for e in new if e] == [RegistryChanged.TYPE]
    deliver(intake, "routing", new)
    assert intake.territory().places["xinyuan"].parent == "qiaobei"
    assert intake.territory() == routing.territory()


def test_a_registry_an_earlier_release_recorded_is_published_once_for_the_replicas():
    old = RoutingApplication()
    org = Organisation.start()
    for code, name, tier, parent in (
        ("ninghe", "宁河区", "district", None),
        ("lutai", "芦台街道", "street", "ninghe"),
    ):
        org.trigger_event(
            Organisation.JurisdictionDefined,
            jurisdiction={"code": code, "name": name, "tier": tier, "parent": parent},
            by="seed",
        )
    old.save(org)
    assert old.organisation().unpublished

    old.seed()  # what starting the new release does
    published = [
        e
        for n in old.recorder.select_notifications(start=0, limit=100)
        if (e := wire.to_cloudevent(old.mapper.to_domain_event(n))) and hears_registry(e)
    ]
    assert [e.data["layout"] is not None for e in published[:1]] == [True]
    assert {e.data["place"]["code"] for e in published[1:]} == {"ninghe", "lutai"}
    assert not old.organisation().unpublished
    recorded = old.recorder.max_notification_id()
    old.seed()  # the next start: nothing more to publish
    assert old.recorder.max_notification_id() == recorded
