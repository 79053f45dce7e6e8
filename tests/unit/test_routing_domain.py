from uuid import uuid4

from services.routing.catalogue import CATALOGUE_VERSION, DEPARTMENTS, RULES
from services.routing.domain import Assignment, choose_rule
from shared.domain import Actor, Trace


def route(category, location):
    return Assignment.route(
        case_id=uuid4(),
        category=category,
        location=location,
        rules=RULES,
        departments=DEPARTMENTS,
        rule_version=CATALOGUE_VERSION,
        actor=Actor.service("routing"),
        trace=Trace("c", "intake:x:1"),
    )


def test_small_matters_stay_in_the_small_grid():
    street = choose_rule(RULES, "urban-management", {"district": "ninghe", "street": "lutai"})
    district = choose_rule(RULES, "urban-management", {"district": "ninghe", "street": "fengtai"})
    assert (street.rule_id, street.lead) == ("R-07", "lutai-office")
    assert (district.rule_id, district.lead) == ("R-06", "ninghe-urban")


def test_an_assignment_records_the_rule_and_version_that_chose_it():
    a = route("housing-demolition", {"district": "ninghe", "street": "qiaobei"})
    assert a.status == "assigned"
    assert a.lead == {"code": "ninghe-housing", "name": "宁河区住房和建设委员会"}
    assert [d["code"] for d in a.co_handlers] == ["ninghe-planning"]
    assert (a.rule_id, a.rule_version) == ("R-03", CATALOGUE_VERSION)
    assert "R-03" in a.reason and "ninghe/qiaobei" in a.reason


def test_a_case_no_rule_covers_waits_for_manual_dispatch_instead_of_a_guess():
    a = route("environment", {"district": "qiaocheng", "street": "gucheng"})
    assert a.status == "awaiting-manual-dispatch"
    assert a.lead is None
    assert "environment" in a.reason
