"""Erasure that keeps the proof, on the in-memory stores: a petitioner's personal data is
sealed under a key of their own, and once erased reads as erased from every API and from
the stored events — also what an earlier release stored unsealed — while every case's
history still verifies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import orjson

from services.intake.application import IntakeApplication
from services.intake.commands import Classify, DecideAcceptance
from services.intake.domain import ERASED_NAME, AcceptanceDecision, Case
from services.intake.erasure import MemoryPersonKeys
from services.intake.index import Query
from shared.domain import Actor, Trace, replayed
from shared.vocabulary import Decision, LegalClass
from tests.territory import seeded
from tests.unit.test_intake_application import submission
from tests.unit.test_intake_stored_events import GROUP_OF_TWO, V4, store, stored_case
from tests.unit.test_policy_matrix import ACCUSER, auth, centre  # noqa: F401 — the fixture

SECRETS = (ACCUSER["name"], ACCUSER["id_number"], "13800138000", ACCUSER["address"])


def raw_events(app: IntakeApplication) -> bytes:
    """Every stored event of intake, as the store holds it."""
    return b"".join(e.state for e in app.recorder.select_notifications(start=1, limit=10**6))


def readable(app: IntakeApplication) -> str:
    """Every stored event of intake as the service reads it (decoded, keys applied)."""
    events = [
        app.mapper.to_domain_event(n)
        for n in app.recorder.select_notifications(start=1, limit=10**6)
    ]
    return orjson.dumps([vars(e) for e in events], default=str).decode()


def erase(hub, basis="request", reference="个人信息删除申请 2026-118号", role="supervisor"):
    return hub.clients["intake"].post(
        f"/v1/petitioners/{hub.petitioner_id}/erasure",
        json={"basis": basis, "reference": reference},
        headers=auth(role, user="zhou"),
    )


def test_personal_data_is_stored_sealed_and_an_erased_petitioner_is_gone_from_every_api_and_event(
    centre,  # noqa: F811
):
    hub = centre
    intake = hub.intake
    stored = raw_events(intake)
    assert not any(secret.encode() in stored for secret in SECRETS)  # sealed, not plain
    assert ACCUSER["name"] in readable(intake)  # but readable by the service

    scan = b"\xff\xd8\xff\xe0 an ID card scan"
    attached = hub.clients["followup"].post(
        f"/v1/cases/{hub.case_id}/attachments",
        files={"file": ("身份证.jpg", scan, "image/jpeg")},
        data={"kind": "identity-document", "petitioner_id": hub.petitioner_id},
        headers=auth("clerk", user="alice"),
    )
    assert attached.status_code == 201, attached.text
    digest = attached.json()["attachment"]["sha256"]

    answer = erase(hub)
    assert answer.status_code == 200, answer.text
    assert answer.json()["erased"] is True and hub.case_id in answer.json()["case_ids"]
    hub.settle()

    clerk = auth("clerk", user="alice")
    case = hub.clients["intake"].get(f"/v1/cases/{hub.case_id}", headers=clerk).json()
    [person] = case["petitioners"]
    assert person["name"] == ERASED_NAME and person["erased"] is True
    assert person["phone"] is None and person["id_number"] is None
    registry = hub.clients["intake"].get(f"/v1/petitioners/{hub.petitioner_id}", headers=clerk)
    assert registry.json()["name"] == ERASED_NAME
    for service in ("intake", "routing", "followup"):
        for path in (f"/v1/cases/{hub.case_id}", f"/v1/cases/{hub.case_id}/history"):
            text = hub.clients[service].get(path, headers=clerk).text
            assert not any(secret in text for secret in SECRETS), (service, path)

    # a fresh process, nothing cached: the stored events read as erased too
    fresh = IntakeApplication(person_keys=intake.person_keys)
    for notification in intake.recorder.select_notifications(start=1, limit=10**6):
        fresh.recorder.insert_events([notification])
    assert not any(secret in readable(fresh) for secret in SECRETS)
    assert fresh.get_case(UUID(hub.case_id)).petitioners[0].details.name == ERASED_NAME

    history = (
        hub.clients["followup"]
        .get(f"/v1/cases/{hub.case_id}/history", headers=auth("auditor"))
        .json()
    )
    assert history["integrity"]["verified"]
    erased = [e for e in history["events"] if e["type"].endswith("petitioner-erased.v1")]
    assert erased[0]["data"]["basis"] == "request"
    assert erased[0]["actor"]["user"] == "zhou"
    # the scan's bytes are destroyed; its hash stays in the chain
    assert digest not in hub.followup.blobs.blobs
    gone = hub.clients["followup"].get(
        f"/v1/cases/{hub.case_id}/attachments/{digest}", headers=auth("supervisor")
    )
    assert gone.status_code == 410
    assert any(e["data"].get("sha256") == digest for e in history["events"])
    assert "身份证" not in str(history)  # a petitioner's file is kept by its kind, not its name


def test_an_erasure_is_refused_naming_the_field_when_it_lacks_its_ground(centre):  # noqa: F811
    assert erase(centre, reference=" ").json()["errors"][0]["field"] == "reference"
    centre.intake.retention = timedelta(days=1)
    refused = erase(centre, basis="retention")
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "basis"
    bad = erase(centre, basis="forgotten")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "basis"
    nul = erase(centre, reference="申请\x00")
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "reference"
    assert erase(centre, role="clerk").status_code == 403
    clerk = auth("clerk", user="alice")
    case = centre.clients["intake"].get(f"/v1/cases/{centre.case_id}", headers=clerk).json()
    assert case["petitioners"][0]["name"] == ACCUSER["name"]  # nothing half-done


def test_what_an_earlier_release_stored_unsealed_is_sealed_then_erased():
    app = seeded(IntakeApplication())
    case_id = stored_case(app, {**V4, "petitioners": [GROUP_OF_TWO[0]]})
    wang = UUID(GROUP_OF_TWO[0]["petitioner_id"])
    store(
        app,
        wang,
        (
            "services.intake.domain:Petitioner.Registered",
            {
                "timestamp": {"_type_": "datetime_iso", "_data_": "2026-11-21T01:30:00+00:00"},
                "originator_topic": "services.intake.domain:Petitioner",
                "name": "王建国",
                "id_number": "120117198503150016",
                "phone": "13800138000",
                "address": "芦台街道3号楼",
            },
        ),
        (
            "services.intake.domain:Petitioner.CaseAdded",
            {
                "timestamp": {"_type_": "datetime_iso", "_data_": "2026-11-21T01:30:00+00:00"},
                "case_id": str(case_id),
                "repeat": False,
            },
        ),
    )
    assert b"120117198503150016" in raw_events(app)  # as that release stored it

    from services.intake.commands import ErasePetitioner
    from services.intake.domain import ErasureBasis

    app.erase_petitioner(
        ErasePetitioner(wang, ErasureBasis.REQUEST, "申请 1"),
        Actor("zhou", "supervisor"),
        Trace("t"),
    )
    stored = raw_events(app)
    for secret in ("王建国", "120117198503150016", "13800138000", "芦台街道3号楼"):
        assert secret.encode() not in stored
        assert secret not in readable(app)
    assert app.petitioner(wang).details.name == ERASED_NAME
    assert app.get_case(case_id).petitioners[0].details.name == ERASED_NAME


def test_retention_erases_a_petitioner_once_every_case_of_theirs_ended_long_enough_ago():
    now = [datetime.now(UTC)]  # events are dated by the real clock
    app = seeded(IntakeApplication(clock=lambda: now[0], retention=timedelta(days=30)))
    clerk, trace = Actor("alice", "clerk", "window-3"), Trace("t")
    outcome = app.register(submission(), clerk, trace)
    case: Case = outcome.case
    assert app.erase_expired() == 0  # still open
    app.classify(Classify(case.id, LegalClass.CLAIM), clerk, trace)
    decline = AcceptanceDecision(Decision.DECLINE, "not a matter for the centre")
    app.decide_acceptance(DecideAcceptance(case.id, decline), clerk, trace)
    now[0] += timedelta(days=10)
    assert app.erase_expired() == 0  # ended, but only ten days ago
    now[0] += timedelta(days=25)
    due = Query(retention_due=now[0] - timedelta(days=30))
    assert [r["case_id"] for r in app.index.search(due)[0]] == [case.id]  # the one candidate
    assert app.erase_expired() == 1
    assert app.get_case(case.id).petitioners[0].details.name == ERASED_NAME
    # it holds no one's data now: the sweep does not even read it again
    assert app.index.search(due) == ([], 0)
    assert app.erase_expired() == 0  # once


def test_an_erased_petitioners_name_and_number_are_taken_out_of_the_cases_free_text_too():
    app = seeded(IntakeApplication())
    clerk, trace = Actor("alice", "clerk", "window-3"), Trace("t")
    case = app.register(
        submission(
            subject="王建国反映工资被拖欠",
            description="王建国称三个月未发工资，联系电话 138 0013 8000，身份证120117198503150016",
        ),
        clerk,
        trace,
    ).case
    [person] = [p for p in case.petitioner_ids]
    from services.intake.commands import ErasePetitioner
    from services.intake.domain import ErasureBasis

    app.erase_petitioner(
        ErasePetitioner(UUID(person), ErasureBasis.REQUEST, "申请 9"),
        Actor("zhou", "supervisor"),
        trace,
    )
    again = app.get_case(case.id)
    assert again.subject == "〔姓名〕反映工资被拖欠"
    assert "王建国" not in again.description and "〔电话〕" in again.description
    for secret in ("王建国", "138 0013 8000", "120117198503150016"):
        assert secret not in readable(app)


class FindsCounted(MemoryPersonKeys):
    """Person keys that count how often a key is asked for by its id."""

    found: int = 0

    def find(self, key_id: str) -> bytes | None:
        self.found += 1
        return super().find(key_id)


def test_the_sealer_keeps_only_its_latest_keys_and_asks_the_store_for_the_rest():
    """A long-running intake seals and opens the data of ever more people: it keeps the keys
    it used last, not one per person ever seen, and a key it let go is read again."""
    from services.intake.erasure import Sealer

    keys = FindsCounted()
    sealer = Sealer(keys)
    sealer.KEPT = 3
    sealed = [sealer.seal(f"person-{i}", f"王{i}".encode(), "name") for i in range(5)]
    assert len(sealer._current) == 3 and len(sealer._open) == 3
    opened = [sealer.open(s) for s in reversed(sealed)]  # the newest three are at hand
    assert opened == [f"王{i}".encode() for i in reversed(range(5))]
    assert keys.found == 2 and len(sealer._open) == 3  # the two let go were read again
    # a destroyed key is not opened from memory either
    keys.destroy("person-4", datetime.now(UTC))
    sealer.forget("person-4")
    assert sealer.open(sealed[4]) is None and sealer.open(sealed[0]) == "王0".encode()


def test_what_was_just_sealed_opens_without_asking_the_store_for_its_key():
    """The relay reads every registration back to publish it: the key it was sealed with
    a moment ago is at hand (it was a query per petitioner), until the person is forgotten."""
    from services.intake.erasure import Sealer

    keys = FindsCounted()
    sealer = Sealer(keys)
    sealer.prepare(["person-a", "person-b"])
    plain = [f"{p}:{n}" for p in ("person-a", "person-b", "person-c") for n in (1, 2)]
    sealed = [sealer.seal(text.split(":")[0], text.encode(), "name") for text in plain]
    assert [sealer.open(s) for s in sealed] == [text.encode() for text in plain]
    assert keys.found == 0
    keys.destroy("person-a", datetime.now(UTC))
    sealer.forget("person-a")
    assert sealer.open(sealed[0]) is None and keys.found == 1


def test_a_key_another_process_destroyed_is_forgotten_here_within_a_check():
    """Two intake processes, one store of keys: one erases a person; the other, which kept
    their key from sealing and opening their details, reads them as erased after its next
    look at the store (`CHECK_SECONDS`), and seals the details they give when they come
    back under a new key — not the destroyed one it kept."""
    from services.intake.erasure import MemoryPersonKeys, Sealer

    keys = MemoryPersonKeys()
    here, there = Sealer(keys), Sealer(keys)
    sealed = there.seal("person-a", "王一".encode(), "name")
    other = there.seal("person-b", "李二".encode(), "name")
    assert there.open(sealed) == "王一".encode()  # kept, from sealing

    keys.destroy("person-a", datetime.now(UTC))  # `here` erases person-a
    here.forget("person-a")
    assert here.open(sealed) is None
    there._checked_at = -float("inf")  # its next look at the store is due
    assert there.open(sealed) is None  # no longer opened from memory
    assert there.open(other) == "李二".encode()  # the others read as before
    again = there.seal("person-a", "王一".encode(), "name")
    assert again.key_id != sealed.key_id and keys.find(again.key_id) is not None
    assert here.open(again) == "王一".encode()


def test_a_group_of_registrations_of_new_people_makes_their_keys_at_once():
    """Registrations saved together (intake's group commit) make the keys of the people new
    to the centre in one go, before the group is stored — not one at a time while each is
    sealed — and each person's details read back under their own key."""
    from services.intake.commands import PersonGiven
    from services.intake.erasure import MemoryPersonKeys

    class Counted(MemoryPersonKeys):
        def __init__(self) -> None:
            super().__init__()
            self.asked: list[object] = []

        def current(self, subject: str) -> tuple[str, bytes]:
            self.asked.append(subject)
            return super().current(subject)

        def current_many(self, subjects: list[str]) -> dict[str, tuple[str, bytes]]:
            self.asked.append(tuple(subjects))
            return {s: super(Counted, self).current(s) for s in subjects}

    class Held:
        """Stands in for the group committer: holds what requests save, for one group."""

        def __init__(self) -> None:
            self.events: list[object] = []

        def save(self, *aggregates: object) -> None:
            self.events += [e for a in aggregates for e in a.collect_events()]  # type: ignore[attr-defined]

    keys = Counted()
    app = seeded(IntakeApplication(person_keys=keys))
    held = Held()
    app.committer = held  # type: ignore[assignment]
    names = ["王一", "李二", "张三", "赵四"]
    cases = [
        app.register(
            submission(
                petitioners=(PersonGiven(name=n, phone=f"1390000000{i}"),), fingerprint=f"g-{i}"
            ),
            Actor("alice", "clerk"),
            Trace("t"),
        ).case
        for i, n in enumerate(names)
    ]
    assert keys.asked == []  # nothing sealed yet: nothing stored yet
    app.save_group(*held.events)
    [together] = keys.asked
    assert isinstance(together, tuple) and len(together) == len(names)
    app.sealer._current.clear()  # read with the keys the store has
    stored = [replayed(None, app.events.get(c.id)) for c in cases]  # from the store
    assert [c.petitioners[0].details.name for c in stored] == names
    assert len({key_id for key_id, (_, key) in keys.keys.items() if key}) == len(names)
