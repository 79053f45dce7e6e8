"""Keys rotate on the real store: a new data key seals new events, `onestop keys reencrypt`
seals the old ones again — and wraps each petitioner's own key again — and then the old key
can go: nothing is unreadable on the way."""

from __future__ import annotations

import pytest
from eventsourcing.cipher import AESCipher
from pydantic import SecretStr

from services.cli import main
from services.intake.bootstrap import build_application
from shared.domain import Actor, Trace
from shared.settings import Settings
from shared.store import connect
from tests.conftest import fresh
from tests.territory import seeded
from tests.unit.test_intake_application import submission

pytestmark = pytest.mark.integration


def with_ring(settings: Settings, ring: str) -> Settings:
    return settings.model_copy(
        update={
            "data_keys": SecretStr(ring),
            "petitioner_id_secret": SecretStr("p" * 40),
            "case_code_secret": SecretStr("c" * 40),
        }
    )


def test_a_rotated_key_seals_new_events_and_reencrypt_lets_the_old_one_go(
    infra: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    k1, k2 = AESCipher.create_key(32), AESCipher.create_key(32)
    base = fresh(infra)
    first = seeded(build_application(with_ring(base, f"k1:{k1}")))
    old = first.register(submission(), Actor("alice", "clerk"), Trace("c1")).case.id
    first.close()

    rotated = with_ring(base, f"k2:{k2},k1:{k1}")
    second = build_application(rotated)  # reads what k1 sealed, seals with k2
    assert len(second.get_case(old).petitioners) == 1
    second.close()

    for name, value in {
        "ONESTOP_DATA_KEYS": f"k2:{k2},k1:{k1}",
        "ONESTOP_PETITIONER_ID_SECRET": "p" * 40,
        "ONESTOP_CASE_CODE_SECRET": "c" * 40,
        "ONESTOP_PG_DBNAME": base.pg_dbname,
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["keys", "reencrypt"]) == 0
    with connect(base) as conn:
        states = [bytes(r[0]) for r in conn.execute("SELECT state FROM intake.intake_events")]
    assert states and all(s.startswith(b"\xa5OK\x02k2") for s in states)

    with connect(base) as conn:
        wrapped = [bytes(r[0]) for r in conn.execute("SELECT wrapped FROM intake.person_keys")]
    assert wrapped and all(w.startswith(b"\xa5OK\x02k2") for w in wrapped)  # the persons' keys

    only_new = build_application(with_ring(base, f"k2:{k2}"))
    try:
        assert only_new.get_case(old).id == old
        assert only_new.get_case(old).petitioners[0].details.name == "王建国"
    finally:
        only_new.close()
