from datetime import UTC, datetime, timedelta

import orjson
import pytest

from shared.auth import Unauthenticated, issue_token, verify_token
from shared.domain import Actor
from shared.envelope import CloudEvent, MalformedEvent
from shared.messages import CaseAssigned, parse
from shared.settings import Settings

SETTINGS = Settings(jwt_secret="k" * 40)
VALID = {
    "specversion": "1.0",
    "id": "intake:abc:1",
    "source": "/onestop/intake",
    "type": "onestop.intake.case.registered.v1",
    "subject": "abc",
    "time": "2026-11-21T08:00:00+00:00",
    "correlationid": "c1",
    "causationid": "x",
    "actor": "alice",
    "actorrole": "clerk",
    "data": {"case_id": "abc"},
}


def test_a_cloudevent_survives_the_wire_with_its_trace_and_actor():
    event = CloudEvent.from_json(orjson.dumps(VALID))
    again = CloudEvent.from_json(event.to_json())
    assert again == event
    assert (again.service, again.correlation_id, again.causation_id) == ("intake", "c1", "x")
    assert again.actor == Actor("alice", "clerk")


@pytest.mark.parametrize(
    "raw, reason",
    [
        (b"", "empty"),
        (b"{not json", "not JSON"),
        (b"[1]", "not a JSON object"),
        (orjson.dumps({**VALID, "correlationid": None}), "correlationid"),
        (orjson.dumps({**VALID, "time": "2026-11-21T08:00:00"}), "timezone"),
        (orjson.dumps({**VALID, "actorrole": "king"}), "role"),
        (orjson.dumps({**VALID, "specversion": "0.3"}), "specversion"),
    ],
)
def test_a_malformed_record_is_refused_with_the_reason(raw, reason):
    with pytest.raises(MalformedEvent, match=reason):
        CloudEvent.from_json(raw)


def test_data_that_does_not_fit_its_contract_names_the_field():
    with pytest.raises(ValueError, match="lead"):
        parse(
            CaseAssigned.TYPE,
            {
                "case_id": "x",
                "rule_id": "R",
                "rule_version": "v",
                "reason": "r",
                "assigned_at": "2026-11-21T08:00:00Z",
            },
        )


def test_a_token_carries_user_role_and_department():
    token = issue_token(SETTINGS, "bob", "handler", "ninghe-hrss")
    assert verify_token(SETTINGS, token) == Actor("bob", "handler", "ninghe-hrss")


@pytest.mark.parametrize(
    "token",
    [
        issue_token(SETTINGS, "bob", "clerk", ttl=timedelta(seconds=-5)),
        issue_token(Settings(jwt_secret="z" * 40), "bob", "clerk"),
        "not-a-token",
    ],
)
def test_expired_foreign_or_garbled_tokens_are_refused(token):
    with pytest.raises(Unauthenticated):
        verify_token(SETTINGS, token)


def test_a_token_already_accepted_is_refused_once_it_expires(monkeypatch):
    token = issue_token(SETTINGS, "bob", "clerk", ttl=timedelta(seconds=60))
    assert verify_token(SETTINGS, token).user == "bob"
    later = datetime.now(UTC) + timedelta(seconds=61)
    monkeypatch.setattr("shared.auth.utcnow", lambda: later)
    monkeypatch.setattr("jwt.api_jwt.datetime", _FrozenDatetime(later))
    with pytest.raises(Unauthenticated, match="expired"):
        verify_token(SETTINGS, token)
    other = Settings(jwt_secret="y" * 40)
    with pytest.raises(Unauthenticated):  # remembered for its own key only
        verify_token(other, token)


class _FrozenDatetime:
    """PyJWT reads the clock as `datetime.now(tz=timezone.utc)`."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self, tz=None):
        return self._now
