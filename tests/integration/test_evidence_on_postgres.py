"""Evidence on the real PostgreSQL and Kafka: a stored event rewritten in follow-up's schema,
with every hash after it recomputed, is caught against the last signed checkpoint; the
checkpoint reaches its own topic; an erased petitioner's data is gone from intake's stored
events as PostgreSQL holds them, and their key with it."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from itertools import count
from pathlib import Path
from uuid import UUID

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.utils import Environment
from kafka import KafkaConsumer

from services.followup.application import FollowUpApplication
from services.followup.bootstrap import MIGRATIONS as FOLLOWUP_MIGRATIONS
from services.followup.checkpoints import (
    Checkpoints,
    KafkaPublisher,
    PostgresHeads,
    advisory_lock,
)
from services.followup.domain import history_id
from services.followup.domain.history import entry_hash
from services.followup.dossier import build, exported
from services.intake import wire as intake_wire
from services.intake.application import IntakeApplication
from services.intake.bootstrap import build_application
from services.intake.commands import ErasePetitioner
from services.intake.domain import ERASED_NAME, ErasureBasis
from services.routing import wire as routing_wire
from services.routing.application import RoutingApplication
from shared.cipher import FastAESCipher
from shared.domain import Actor, Trace
from shared.evidence import Leaf, Signer, verify_dossier
from shared.kafka import client_options
from shared.keys import Keys
from shared.migrations import migrate
from shared.settings import Settings
from shared.store import connect, eventsourcing_env
from tests.conftest import fresh
from tests.integration.test_keys import with_ring
from tests.territory import seeded
from tests.unit.test_flow import published
from tests.unit.test_intake_application import submission

pytestmark = pytest.mark.integration
CLERK = Actor("alice", "clerk", "window-3")
OFFSETS = count()


def followup_on_postgres(settings: Settings) -> FollowUpApplication:
    migrate(settings, "followup", *FOLLOWUP_MIGRATIONS)
    return seeded(FollowUpApplication(eventsourcing_env(settings, "followup")))


def a_case_heard_by(followup: FollowUpApplication) -> UUID:
    """A case registered and routed in memory, its events heard by follow-up on PostgreSQL
    as its consumer would hear them."""
    from eventsourcing.persistence import Tracking

    intake, routing = seeded(IntakeApplication()), seeded(RoutingApplication())
    case = intake.register(submission(), CLERK, Trace("c1")).case
    for event in published(intake, intake_wire):
        offset = next(OFFSETS)
        routing.handle(event, Tracking("kafka:intake:0", offset))
        followup.handle(event, Tracking("kafka:intake:0", offset))
    for event in published(routing, routing_wire):
        followup.handle(event, Tracking("kafka:routing:0", next(OFFSETS)))
    return case.id


def test_an_event_rewritten_in_postgresql_and_its_chain_recomputed_is_caught_by_the_checkpoint(
    infra: Settings, tmp_path: Path
) -> None:
    settings = fresh(infra)
    followup = followup_on_postgres(settings)
    case_id = a_case_heard_by(followup)
    other = a_case_heard_by(followup)
    signer = Signer(Ed25519PrivateKey.generate())
    checkpoints = Checkpoints(
        followup,
        tmp_path,
        signer,
        publisher=KafkaPublisher(settings),
        lock=advisory_lock(settings),
        heads=PostgresHeads(settings),
    )
    signed = checkpoints.sign_if_changed()
    assert signed is not None and signed["checkpoint"]["cases"] == 2
    assert checkpoints.sign_if_changed() is None  # nothing moved since
    # the heads are kept in PostgreSQL: a start finds them as they were, nothing to re-sign
    restarted = Checkpoints(followup, tmp_path, signer, heads=PostgresHeads(settings))
    assert restarted.proof_for(str(case_id)) == checkpoints.proof_for(str(case_id))
    assert restarted.sign_if_changed() is None
    assert checkpoints.verify_store().verified

    # someone with the database rewrites the subject of the registration and recomputes
    # every hash after it, so the chain alone still holds together
    table = "followup.followup_events"
    with connect(settings) as conn:
        rows = conn.execute(
            f"SELECT originator_version, topic, state FROM {table} WHERE originator_id = %s "
            "ORDER BY originator_version",
            (history_id(case_id),),
        ).fetchall()
        previous = "0" * 64
        for version, topic, state in rows:
            from eventsourcing.persistence import StoredEvent

            event = followup.mapper.to_domain_event(
                StoredEvent(history_id(case_id), version, topic, bytes(state))
            )
            if not hasattr(event, "entry"):
                continue
            entry = event.entry
            if entry.type.endswith("case.registered.v2"):
                entry = replace(entry, data={**entry.data, "subject": "装修公司已付清工资"})
            digest = entry_hash(previous, entry)
            vars(event).update(entry=entry, previous_hash=previous, hash=digest)
            previous = digest
            again = followup.mapper.to_stored_event(event)
            conn.execute(
                f"UPDATE {table} SET state = %s WHERE originator_id = %s "
                "AND originator_version = %s",
                (again.state, history_id(case_id), version),
            )

    reread = FollowUpApplication(eventsourcing_env(settings, "followup"))  # nothing cached
    entries, verification = reread.history(case_id)
    assert verification.verified  # the chain was recomputed: on its own it proves nothing
    assert any(e.entry.data.get("subject") == "装修公司已付清工资" for e in entries)

    caught = Checkpoints(reread, tmp_path, signer).verify_store()
    assert not caught.verified and caught.cases_checked == 2
    [discrepancy] = caught.discrepancies
    assert discrepancy.case_id == str(case_id)
    assert "rewritten" in discrepancy.problem

    # and a dossier exported from the rewritten store fails offline against the checkpoint
    history = reread.load(history_id(case_id))
    dossier = build(
        case_id=str(case_id),
        case={"status": "assigned"},
        chain=list(history.entries),
        attachments=[],
        checkpoint=Checkpoints(reread, tmp_path, signer).proof_for(str(case_id)),
        signer=signer,
        exported_by=Actor("carol", "auditor"),
        exported_at=reread.clock(),
    )
    failures = verify_dossier(exported(dossier), signer.fingerprint).failures
    assert any(f.startswith("checkpoint 1") and "rewritten" in f for f in failures), failures
    assert other  # the other case is untouched and not reported

    # the signed checkpoint is on follow-up's own topic, for auditors to archive
    consumer = KafkaConsumer(
        settings.checkpoint_topic(),
        **client_options(settings, "admin"),
        auto_offset_reset="earliest",
        consumer_timeout_ms=10_000,
    )
    try:
        records = [json.loads(r.value) for r in consumer]
    finally:
        consumer.close()
    assert [r["checkpoint"]["root"] for r in records] == [signed["checkpoint"]["root"]]
    assert records[0]["signature"] == signed["signature"]
    reread.close()
    followup.close()


def test_an_erased_petitioners_data_is_gone_from_the_stored_events_and_their_key_destroyed(
    infra: Settings,
) -> None:
    settings = with_ring(fresh(infra), "k1:" + "A" * 43 + "=")
    intake = seeded(build_application(settings))
    outcome = intake.register(submission(), CLERK, Trace("c1"))
    [person] = outcome.petitioners
    keyring = FastAESCipher(Environment(env={"CIPHER_KEY": Keys.of(settings).data_keyring}))

    def plaintext() -> bytes:
        with connect(settings) as conn:
            rows = conn.execute("SELECT state FROM intake.intake_events").fetchall()
        return b"".join(keyring.decrypt(bytes(r[0])) for r in rows)

    assert b"120117198503150016" not in plaintext()  # sealed under the person's own key
    intake.erase_petitioner(
        ErasePetitioner(person.id, ErasureBasis.REQUEST, "申请 7"),
        Actor("zhou", "supervisor"),
        Trace("e"),
    )
    with connect(settings) as conn:
        keys = conn.execute(
            "SELECT wrapped IS NULL, destroyed_at IS NOT NULL FROM intake.person_keys "
            "WHERE subject = %s",
            (str(person.id),),
        ).fetchall()
    assert keys and all(destroyed and when for destroyed, when in keys)
    intake.close()

    again = build_application(settings)  # another process: nothing in memory
    try:
        case = again.get_case(outcome.case.id)
        assert case.petitioners[0].details.name == ERASED_NAME
        assert again.petitioner(person.id).details.name == ERASED_NAME
        for secret in ("王建国", "120117198503150016", "13800138000"):
            assert secret.encode() not in plaintext()
    finally:
        again.close()


def test_proofs_stream_from_the_signed_leaves_in_postgresql_and_fall_back_to_the_file(
    infra: Settings, tmp_path: Path
) -> None:
    """Each case's leaf of the latest checkpoint is kept beside its head: a dossier's proof
    is made from them in one pass (never from every case's leaves in memory) and proves
    inclusion under the signed root; a case that moved since keeps the leaf signed for it;
    marks lost (a rebuild) are made again from the heads without a new checkpoint; marks
    that do not make the signed root are not trusted: the proof comes from the file."""
    from shared.evidence import root_from_proof

    settings = fresh(infra)
    followup = followup_on_postgres(settings)
    cases = [str(a_case_heard_by(followup)) for _ in range(5)]
    signer = Signer(Ed25519PrivateKey.generate())
    heads = PostgresHeads(settings)
    checkpoints = Checkpoints(followup, tmp_path, signer, heads=heads)
    first = checkpoints.sign_if_changed()
    assert first is not None and first["checkpoint"]["cases"] == 5
    with open(tmp_path / "leaves" / "00000001.json", "rb") as file:
        assert [leaf[0] for leaf in json.load(file)] == sorted(cases)  # streamed, in order

    def proven(case_id: str) -> dict:
        proof = checkpoints.proof_for(case_id)
        assert proof is not None
        leaf = proof["leaf"]
        leaf_hash = Leaf(case_id, leaf["entries"], leaf["head"]).hash()
        path = [base64.b64decode(p) for p in proof["proof"]]
        signed = proof["checkpoint"]
        root = root_from_proof(leaf_hash, leaf["index"], signed["cases"], path)
        assert root is not None and root.hex() == signed["root"], case_id
        return proof

    assert [proven(c)["leaf"]["index"] for c in sorted(cases)] == list(range(5))
    newcomer = str(a_case_heard_by(followup))  # not signed yet: no proof, no mark
    assert checkpoints.proof_for(newcomer) is None
    assert heads.signed(history_id(UUID(newcomer))) is None
    second = checkpoints.sign_if_changed()
    assert second is not None and second["checkpoint"]["cases"] == 6
    (tmp_path / "leaves").rename(tmp_path / "away")  # only what PostgreSQL holds
    assert proven(newcomer)["checkpoint"]["sequence"] == 2
    assert all(proven(c)["checkpoint"]["root"] == second["checkpoint"]["root"] for c in cases)
    (tmp_path / "away").rename(tmp_path / "leaves")

    # a rebuild loses the marks: after it, the first round, with nothing moved, marks the
    # heads again
    heads.clear()
    assert heads.signed(history_id(UUID(cases[0]))) is None
    checkpoints = Checkpoints(followup, tmp_path, signer, heads=PostgresHeads(settings))
    assert checkpoints.sign_if_changed() is None
    assert heads.signed(history_id(UUID(cases[0]))) is not None
    assert proven(cases[0])["checkpoint"]["sequence"] == 2

    # marks that do not add up to the signed root: the proof is the file's
    with connect(settings) as conn:
        conn.execute(
            "UPDATE followup.chain_heads SET signed_head = repeat('0', 64) WHERE case_id = %s",
            (cases[1],),
        )
    assert proven(cases[0])["leaf"]["head"] != "0" * 64
    assert proven(cases[1])["leaf"]["head"] != "0" * 64
    followup.close()


def test_a_proof_reads_one_run_of_signed_leaves_and_the_runs_roots_not_every_leaf(
    infra: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint keeps the root of each run of `RUN` leaves beside it; a dossier's proof
    is made from the case's run (one range read) and those roots — the same proof the pass
    over every leaf makes, proving inclusion under the signed root. Runs that do not make
    the signed root are not trusted: the proof is made the long way."""
    from services.followup import checkpoints as module
    from shared.evidence import root_from_proof

    monkeypatch.setattr(module, "RUN", 2)
    settings = fresh(infra)
    followup = followup_on_postgres(settings)
    cases = sorted(str(a_case_heard_by(followup)) for _ in range(7))
    heads = PostgresHeads(settings)
    signer = Signer(Ed25519PrivateKey.generate())
    checkpoints = Checkpoints(followup, tmp_path, signer, heads=heads)
    signed = checkpoints.sign_if_changed()
    assert signed is not None
    runs_file = tmp_path / "runs" / "00000001.json"
    runs = json.loads(runs_file.read_bytes())
    assert runs["size"] == 2 and [first for first, _ in runs["runs"]] == cases[::2]  # 4 runs

    runs_file.rename(tmp_path / "runs.json")  # an older checkpoint: no runs, the long way
    long_way = {c: checkpoints.proof_for(c) for c in cases}
    (tmp_path / "runs.json").rename(runs_file)

    def no_pass_over_every_leaf():
        raise AssertionError("the proof read every signed leaf")

    monkeypatch.setattr(heads, "signed_leaves", no_pass_over_every_leaf)
    (tmp_path / "leaves").rename(tmp_path / "away")
    for index, case_id in enumerate(cases):
        proof = checkpoints.proof_for(case_id)
        assert proof == long_way[case_id] and proof is not None
        leaf = Leaf(case_id, proof["leaf"]["entries"], proof["leaf"]["head"]).hash()
        path = [base64.b64decode(p) for p in proof["proof"]]
        root = root_from_proof(leaf, index, 7, path)
        assert proof["leaf"]["index"] == index and root is not None
        assert root.hex() == signed["checkpoint"]["root"]
    newcomer = str(a_case_heard_by(followup))  # its run says it is not signed yet
    assert checkpoints.proof_for(newcomer) is None
    runs_file.rename(tmp_path / "runs.json")  # read and checked once: not needed again
    assert checkpoints.proof_for(cases[3]) == long_way[cases[3]]
    (tmp_path / "runs.json").rename(runs_file)

    # a run's root changed on disk: not trusted by a process reading it, the proof comes the
    # long way (here: none)
    runs["runs"][1][1] = "00" * 32
    runs_file.write_bytes(json.dumps(runs).encode())
    again = Checkpoints(followup, tmp_path, signer, heads=heads)
    with pytest.raises(AssertionError, match="read every signed leaf"):
        again.proof_for(cases[2])
    monkeypatch.undo()
    (tmp_path / "away").rename(tmp_path / "leaves")
    assert again.proof_for(cases[2]) == long_way[cases[2]]
    followup.close()
