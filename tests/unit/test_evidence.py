"""Evidence an outsider can verify, on the in-memory stores: attachments stored by their hash
and checked on every read, a case's dossier that `onestop verify` checks offline, and the
Merkle proofs and signatures underneath."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.cli import main as cli
from services.cli import render_timeline
from services.followup.checkpoints import Checkpoints
from services.followup.domain import HistoryEntry, entry_hash
from shared.domain import Actor
from shared.evidence import (
    Leaf,
    Signer,
    inclusion_proof,
    merkle_root,
    root_from_proof,
    verify_dossier,
)
from shared.evidence import entry_hash as offline_entry_hash
from tests.unit.test_policy_matrix import LEAD, SETTINGS, auth, centre  # noqa: F401

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13])
def test_every_leaf_proves_its_inclusion_and_a_changed_leaf_does_not(size):
    leaves = [Leaf(f"case-{i}", i + 1, f"{i:064x}").hash() for i in range(size)]
    root = merkle_root(leaves)
    for index, leaf in enumerate(leaves):
        proof = inclusion_proof(leaves, index)
        assert root_from_proof(leaf, index, size, proof) == root
        forged = hashlib.sha256(b"\x00forged").digest()
        assert root_from_proof(forged, index, size, proof) != root


def reference_root(hashes):
    """RFC 9162 §2.1.1 as written: MTH(D[n]) = HASH(0x01 || MTH(D[0:k]) || MTH(D[k:n]))."""
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return hashlib.sha256(
        b"\x01" + reference_root(hashes[:k]) + reference_root(hashes[k:])
    ).digest()


def test_the_streamed_root_and_proofs_are_rfc_9162s_for_every_size_up_to_70():
    for size in range(71):
        leaves = [Leaf(f"case-{i}", i + 1, f"{i:064x}").hash() for i in range(size)]
        root = merkle_root(iter(leaves))  # one pass, as the heads stream from the database
        assert root == reference_root(leaves), size
        for index in range(size):
            proof = inclusion_proof(iter(leaves), index, size)
            assert root_from_proof(leaves[index], index, size, proof) == root, (size, index)


def test_a_proof_is_the_proof_within_its_run_then_the_runs_proof_among_the_runs_roots():
    """What a checkpoint's runs rest on (services/followup/checkpoints.py): with runs of a
    power of two leaves, every split of the tree above a run falls between runs, so the runs'
    roots make the root and a leaf's proof is its run's proof followed by the run's."""
    for run in (1, 2, 4, 8):
        for size in range(1, 40):
            leaves = [Leaf(f"case-{i}", i + 1, f"{i:064x}").hash() for i in range(size)]
            runs = [leaves[start : start + run] for start in range(0, size, run)]
            roots = [merkle_root(each) for each in runs]
            assert merkle_root(roots) == merkle_root(leaves), (run, size)
            for index in range(size):
                at, where = divmod(index, run)
                assert inclusion_proof(runs[at], where) + inclusion_proof(roots, at) == (
                    inclusion_proof(leaves, index)
                ), (run, size, index)


def test_the_offline_hash_of_an_entry_is_the_one_the_history_chains():
    entry = HistoryEntry(
        event_id="e1",
        service="intake",
        type="onestop.intake.case.registered.v2",
        time=datetime(2026, 11, 21, 15, 1, 6, 963000, tzinfo=UTC),
        actor=Actor("alice", "clerk", "window-3"),
        correlation_id="c1",
        causation_id=None,
        data={"subject": "装修公司拖欠工资", "n": 1.5, "list": [1, None]},
    )
    fields = {
        "event_id": "e1",
        "service": "intake",
        "type": entry.type,
        "time": entry.time.isoformat(),
        "actor": entry.actor.as_dict(),
        "correlation_id": "c1",
        "causation_id": None,
        "data": entry.data,
    }
    assert offline_entry_hash("0" * 64, fields) == entry_hash("0" * 64, entry)


@pytest.fixture
def evidence(centre, tmp_path):  # noqa: F811 — the fixture imported above
    signer = Signer(Ed25519PrivateKey.generate())
    checkpoints = Checkpoints(centre.followup, tmp_path / "checkpoints", signer)
    centre.followup.checkpoints = checkpoints
    centre.followup.attachment_limit = 1024
    return centre, checkpoints, signer


def attach(hub, data, name="协议书.pdf", kind="agreement", content_type="application/pdf", **extra):
    return hub.clients["followup"].post(
        f"/v1/cases/{hub.case_id}/attachments",
        files={"file": (name, data, content_type)},
        data={"kind": kind, **extra},
        headers=auth("handler", LEAD, user="li"),
    )


def attachments(hub):
    answer = hub.clients["followup"].get(
        f"/v1/cases/{hub.case_id}/attachments", headers=auth("supervisor")
    )
    return answer.json()["attachments"]


def test_an_attachment_is_stored_by_its_hash_recorded_in_the_chain_and_checked_on_reading(
    evidence,
):
    hub, _, _ = evidence
    added = attach(hub, PDF, description="调解协议（双方签字）")
    assert added.status_code == 201, added.text
    digest = hashlib.sha256(PDF).hexdigest()
    assert added.json()["attachment"]["sha256"] == digest
    hub.settle()  # follow-up hears its own event: the chain covers the hash
    history = (
        hub.clients["followup"]
        .get(f"/v1/cases/{hub.case_id}/history", headers=auth("auditor"))
        .json()
    )
    [entry] = [e for e in history["events"] if e["type"].endswith("attachment-added.v1")]
    assert entry["data"]["sha256"] == digest and history["integrity"]["verified"]

    url = f"/v1/cases/{hub.case_id}/attachments/{digest}"
    got = hub.clients["followup"].get(url, headers=auth("supervisor"))
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    # an auditor sees what it is and its hash, but opens no petitioner's papers
    assert hub.clients["followup"].get(url, headers=auth("auditor")).status_code == 403

    hub.followup.blobs.blobs[digest] = PDF.replace(b"1.4", b"1.5")  # altered on disk
    damaged = hub.clients["followup"].get(url, headers=auth("supervisor"))
    assert damaged.status_code == 500
    assert damaged.json()["type"].endswith("attachment-damaged") and digest in damaged.text


@pytest.mark.parametrize(
    ("upload", "status", "field"),
    [
        ({"data": b"x" * 2048}, 422, "file"),
        ({"data": b"PK\x03\x04zipzipzip", "content_type": "application/zip"}, 422, "file"),
        ({"data": PDF, "content_type": "image/png", "name": "photo.png"}, 422, "file.content_type"),
        (
            {"data": PNG, "name": "../../etc/passwd", "content_type": "image/png"},
            422,
            "file.filename",
        ),
        ({"data": PDF, "description": "签字\x00"}, 422, "description"),
        ({"data": PDF, "kind": "identity-document"}, 422, "petitioner_id"),
        ({"data": PDF, "petitioner_id": "someone-else"}, 422, "petitioner_id"),
        ({"data": b""}, 422, "file"),
    ],
)
def test_a_bad_file_is_refused_naming_the_field_and_nothing_is_recorded(
    evidence, upload, status, field
):
    hub, _, _ = evidence
    data = upload.pop("data")
    extra = {k: v for k, v in upload.items() if k in ("description", "petitioner_id")}
    answer = attach(
        hub,
        data,
        name=upload.get("name", "协议书.pdf"),
        kind=upload.get("kind", "agreement"),
        content_type=upload.get("content_type", "application/pdf"),
        **extra,
    )
    assert answer.status_code == status, answer.text
    assert field in {e["field"] for e in answer.json().get("errors", [])}, answer.text
    assert attachments(hub) == []
    assert hub.followup.blobs.blobs == {}


def test_a_nul_in_a_raw_multipart_name_is_refused(evidence):
    """Clients escape control characters in a file's name; a hostile one sends them raw."""
    hub, _, _ = evidence
    body = (
        b'--b\r\nContent-Disposition: form-data; name="kind"\r\n\r\nphoto\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\x00b.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + PNG + b"\r\n--b--\r\n"
    )
    answer = hub.clients["followup"].post(
        f"/v1/cases/{hub.case_id}/attachments",
        content=body,
        headers={
            **auth("handler", LEAD, user="li"),
            "content-type": "multipart/form-data; boundary=b",
        },
    )
    assert answer.status_code == 422, answer.text
    assert "file.filename" in {e["field"] for e in answer.json()["errors"]}
    assert attachments(hub) == []


def test_a_body_over_the_upload_limit_is_a_413_naming_the_file(evidence):
    hub, _, _ = evidence
    big = b"%PDF-" + b"0" * (SETTINGS.attachment_max_bytes + 100 * 1024)
    answer = attach(hub, big)
    assert answer.status_code == 413 and answer.json()["errors"][0]["field"] == "file"
    assert attachments(hub) == []


def export(hub, role="auditor"):
    answer = hub.clients["followup"].get(f"/v1/cases/{hub.case_id}/dossier", headers=auth(role))
    assert answer.status_code == 200, answer.text
    return answer.content


def test_a_dossier_verifies_offline_and_a_one_byte_change_fails_naming_where(
    evidence, tmp_path, capsys
):
    hub, checkpoints, signer = evidence
    assert attach(hub, PDF).status_code == 201
    hub.settle()
    signed = checkpoints.sign_if_changed()
    assert signed is not None and signed["checkpoint"]["cases"] == 1
    raw = export(hub)
    dossier = json.loads(raw)
    assert dossier["checkpoint"]["leaf"]["entries"] == len(dossier["entries"])
    assert {c["kind"] for c in dossier["clocks"]} and dossier["attachments"][0]["sha256"]

    check = verify_dossier(raw, signer.fingerprint)
    assert check.verified, check.failures
    path = tmp_path / "dossier.json"
    path.write_bytes(raw)
    assert cli(["verify", str(path), "--fingerprint", signer.fingerprint]) == 0
    assert "VERIFIED" in capsys.readouterr().out

    # one byte of the third entry's data
    third = dossier["entries"][2]
    text = json.dumps(third["data"], sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    at = raw.index(text.encode()) + 5
    changed = raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1 :]
    failures = verify_dossier(changed, signer.fingerprint).failures
    assert any(f.startswith("entry 3 (") and "altered" in f for f in failures), failures
    path.write_bytes(changed)
    assert cli(["verify", str(path)]) == 1
    assert "FAILED: entry 3 (" in capsys.readouterr().out

    # one byte of a clock
    due = dossier["clocks"][0]["due_at"].encode()
    at = raw.index(due) + len(due) - 8
    clock = raw[:at] + (b"8" if raw[at : at + 1] != b"8" else b"7") + raw[at + 1 :]
    failures = verify_dossier(clock, signer.fingerprint).failures
    assert any(f.startswith("clocks.0:") for f in failures), failures

    # a byte that breaks the JSON
    broken = raw[:10] + b"\x00" + raw[11:]
    [failure] = verify_dossier(broken).failures
    assert "line 1 column 11" in failure

    # a key other than the published one
    assert verify_dossier(raw, "sha256:" + "0" * 64).failures


def rewrite_and_recompute(app, case_id: str, position: int) -> None:
    """What someone with the database could do: change one entry of a case's history in
    the stored events and recompute every hash after it, so the chain holds together."""
    from dataclasses import replace

    from eventsourcing.persistence import StoredEvent

    from services.followup.domain import history_id

    stored = app.recorder._stored_events
    previous = "0" * 64
    for i, old in enumerate(stored):
        if old.originator_id != history_id(UUID(case_id)):
            continue
        event = app.mapper.to_domain_event(old)
        if not hasattr(event, "entry"):
            continue
        entry = event.entry
        if old.originator_version - 1 == position:  # version 1 started the history
            entry = replace(entry, data={**entry.data, "rewritten": True})
        digest = entry_hash(previous, entry)
        vars(event).update(entry=entry, previous_hash=previous, hash=digest)
        previous = digest
        again = app.mapper.to_stored_event(event)
        stored[i] = StoredEvent(old.originator_id, old.originator_version, old.topic, again.state)
    app.repository.cache.get(history_id(UUID(case_id)), evict=True)


def test_a_chain_rewritten_and_recomputed_is_caught_and_placed_between_two_checkpoints(evidence):
    hub, checkpoints, _ = evidence
    first = checkpoints.sign_if_changed()
    covered = checkpoints.latest()["leaves"][0][1]
    plan = hub.clients["followup"].post(
        f"/v1/cases/{hub.case_id}/plan",
        json={"summary": "周二约见用人单位"},
        headers=auth("handler", LEAD, user="li"),
    )
    assert plan.status_code == 200, plan.text
    hub.settle()
    second = checkpoints.sign_if_changed()
    assert first and second and second["checkpoint"]["previous"]
    total = checkpoints.latest()["leaves"][0][1]
    assert total > covered and checkpoints.verify_store().verified

    rewrite_and_recompute(hub.followup, hub.case_id, covered + 1)
    assert hub.followup.history(UUID(hub.case_id))[1].verified  # the chain alone: fine
    found = checkpoints.verify_store()
    [discrepancy] = found.discrepancies
    assert discrepancy.entry == covered + 1
    assert f"among {covered + 1}–{total}" in discrepancy.problem
    # and the case's own history says so, beside its chain that verifies
    history = (
        hub.clients["followup"]
        .get(f"/v1/cases/{hub.case_id}/history", headers=auth("auditor"))
        .json()
    )
    assert history["integrity"]["verified"] is True
    assert history["integrity"]["checkpoint"]["matches"] is False
    assert "DO NOT MATCH" in render_timeline(history, ZoneInfo("Asia/Shanghai"))


def test_a_history_is_checked_against_its_signed_leaf_without_reading_every_case(evidence):
    """The history reads the case's own leaf of the latest checkpoint (one row), never the
    checkpoint's file of every case's leaves — gone here — and a change since is unsigned."""
    hub, checkpoints, _ = evidence

    def checked():
        answer = hub.clients["followup"].get(
            f"/v1/cases/{hub.case_id}/history", headers=auth("auditor")
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["integrity"]["checkpoint"]

    assert checked() is None  # nothing signed yet
    signed = checkpoints.sign_if_changed()
    assert signed is not None
    for leaves in (checkpoints.folder / "leaves").glob("*.json"):
        leaves.unlink()
    found = checked()
    assert found["matches"] and found["sequence"] == signed["checkpoint"]["sequence"]
    covered = found["entries"]
    plan = hub.clients["followup"].post(
        f"/v1/cases/{hub.case_id}/plan",
        json={"summary": "周二约见用人单位"},
        headers=auth("handler", LEAD, user="li"),
    )
    assert plan.status_code == 200, plan.text
    hub.settle()
    # the chain grew past the signed leaf: still matches it (its first entries end there)
    assert checked()["entries"] == covered and checked()["matches"]
    second = checkpoints.sign_if_changed()
    assert second is not None
    assert checked()["entries"] > covered and checked()["sequence"] == 2


def test_the_public_key_is_published_without_a_token(evidence):
    hub, _, signer = evidence
    key = hub.clients["followup"].get("/v1/evidence/public-key").json()
    assert key["fingerprint"] == signer.fingerprint and "BEGIN PUBLIC KEY" in key["pem"]
    assert base64.b64decode(signer.sign({"a": 1}))


def test_a_dossier_renders_as_a_pdf_in_chinese(evidence):
    hub, checkpoints, _ = evidence
    checkpoints.sign_if_changed()
    answer = hub.clients["followup"].get(
        f"/v1/cases/{hub.case_id}/dossier?format=pdf", headers=auth("auditor")
    )
    assert answer.status_code == 200 and answer.content.startswith(b"%PDF-")
    assert answer.headers["content-type"] == "application/pdf"


def test_a_dossier_is_checked_against_the_checkpoints_an_auditor_archived(
    evidence, tmp_path, capsys
):
    """Whoever holds the signing key could rewrite a chain and sign a new checkpoint 1 over
    it: the one the auditor archived when it was published tells."""
    hub, checkpoints, signer = evidence
    first = checkpoints.sign_if_changed()
    assert first is not None
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "00000001.json").write_bytes(json.dumps(first).encode())
    raw = export(hub)
    check = verify_dossier(raw, signer.fingerprint, [first])
    assert check.verified, check.failures
    assert "checkpoint 1 is the one in your archive" in check.notes
    dossier_file = tmp_path / "dossier.json"
    dossier_file.write_bytes(raw)
    assert cli(["verify", str(dossier_file), "--checkpoints", str(archive)]) == 0
    capsys.readouterr()

    # the key's holder rewrites the case's history, recomputes the chain and signs the
    # checkpoints again from the start: every signature holds, the dossier on its own too
    rewrite_and_recompute(hub.followup, hub.case_id, 2)
    forged_folder = tmp_path / "forged"
    forger = Checkpoints(hub.followup, forged_folder, signer)
    hub.followup.checkpoints = forger
    assert forger.sign_if_changed() is not None
    forged = export(hub)
    assert verify_dossier(forged, signer.fingerprint).verified
    failures = verify_dossier(forged, signer.fingerprint, [first]).failures
    assert any(f.startswith("checkpoint 1: not the checkpoint 1 you archived") for f in failures)
    dossier_file.write_bytes(forged)
    assert cli(["verify", str(dossier_file), "--checkpoints", str(archive)]) == 1
    assert "FAILED: checkpoint 1: not the checkpoint 1 you archived" in capsys.readouterr().out

    # an archive whose files were not signed by the dossier's key, or do not follow each other
    other = Signer(Ed25519PrivateKey.generate())
    stranger = {"checkpoint": first["checkpoint"], "signature": other.sign(first["checkpoint"])}
    failures = verify_dossier(raw, signer.fingerprint, [stranger]).failures
    assert "archive: checkpoint 1 is not signed by the dossier's key" in failures
    unlinked = {**first["checkpoint"], "sequence": 2, "previous": "0" * 64}
    second = {"checkpoint": unlinked, "signature": signer.sign(unlinked)}
    failures = verify_dossier(raw, signer.fingerprint, [first, second]).failures
    assert any(f.startswith("archive: checkpoint 2 does not name checkpoint 1") for f in failures)


def test_a_checkpoint_folder_ahead_of_the_store_is_reported_not_signed_over_in_silence(
    evidence, caplog
):
    """A store restored from before the latest checkpoint, or a folder of another store:
    nothing is signed until the log passes the checkpoint, and the operator is told why."""
    from services.followup.application import FollowUpApplication

    hub, checkpoints, signer = evidence
    hub.settle()
    assert checkpoints.sign_if_changed() is not None
    empty = Checkpoints(FollowUpApplication(), checkpoints.folder, signer)
    with caplog.at_level("ERROR", logger="onestop.followup.checkpoints"):
        assert empty.sign_if_changed() is None
    assert "beyond this store's 0" in caplog.text


def test_a_checkpoint_that_takes_long_is_signed_less_often(evidence, monkeypatch):
    """On a large store a checkpoint reads and hashes every case's head: it waits 20 times
    as long as the last one took before the next, so it never takes more than 5 % of the
    time; a quick one waits the configured interval."""
    _, checkpoints, _ = evidence
    now = [0.0]
    took = iter([5.0, 0.1])

    def sign() -> None:
        now[0] += next(took)

    monkeypatch.setattr(checkpoints, "sign_if_changed", sign)

    class Stop:
        def __init__(self) -> None:
            self.waits: list[float] = []

        def wait(self, seconds: float) -> bool:
            self.waits.append(seconds)
            return len(self.waits) == 2

    stop = Stop()
    checkpoints.run(stop, 60.0, clock=lambda: now[0])  # type: ignore[arg-type]
    assert stop.waits == [100.0, 60.0]
