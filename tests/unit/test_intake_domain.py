import pytest

from services.intake.domain import Case, InvalidCase, normalise_phone
from shared.domain import Actor, Trace

CLERK = Actor("alice", "clerk", "window-3")


def register(**overrides):
    fields = dict(
        channel="visit",
        petitioner_name="王建国",
        petitioner_phone="138 0013 8000",
        subject="拖欠工资",
        description="三个月未发",
        category="labour-wages",
        location={"district": "ninghe", "street": "lutai", "community": "jinxiu"},
        actor=CLERK,
        trace=Trace("corr-1"),
    )
    fields.update(overrides)
    return Case.register(**fields)


def test_the_clerk_who_registers_a_case_is_its_first_receiver():
    case = register()
    assert case.first_receiver == "alice"
    assert case.registered_by == {"user": "alice", "role": "clerk", "department": "window-3"}
    [event] = case.collect_events()
    assert isinstance(event, Case.Registered)
    assert event.correlation_id == "corr-1"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("138 0013 8000", "13800138000"),
        ("+86-138-0013-8000", "13800138000"),
        ("(022) 6959 1234", "02269591234"),
    ],
)
def test_phone_numbers_are_normalised(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"petitioner_phone": "12345"}, "petitioner.phone"),
        ({"category": "weather"}, "category"),
        ({"location": {"district": "atlantis", "street": "x"}}, "location.district"),
        ({"location": {"district": "ninghe", "street": "huaihua"}}, "location.street"),
        (
            {"location": {"district": "ninghe", "street": "lutai", "community": "xinhua"}},
            "location.community",
        ),
        ({"petitioner_name": "  "}, "petitioner.name"),
        ({"subject": " "}, "subject"),
    ],
)
def test_an_invalid_submission_names_the_field(overrides, field):
    with pytest.raises(InvalidCase) as error:
        register(**overrides)
    assert error.value.field == field


def test_personal_data_is_masked_for_roles_not_entitled_to_it():
    case = register()
    assert case.petitioner_for(Actor("carol", "auditor")) == {
        "name": "王**",
        "phone": "138****8000",
        "masked": True,
    }
    assert case.petitioner_for(CLERK)["phone"] == "13800138000"
