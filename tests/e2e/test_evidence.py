"""End to end, evidence an outsider can verify: a case's dossier exported from the running
services verifies offline with `onestop verify` and a one-byte change fails naming where;
an attachment whose bytes change on disk is caught; an erased petitioner is gone from
intake while the history, the checkpoints and a new dossier still verify."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ROOT, as_user, wait_for
from tests.unit.test_api import EXAMPLE

pytestmark = pytest.mark.e2e
PDF = b"%PDF-1.4\n% a signed mediation agreement\n%%EOF\n"


def verify(stack, path: Path, fingerprint: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "verify", str(path), "--fingerprint", fingerprint],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin"},  # no settings, no database, no broker: offline
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_dossier_verifies_offline_and_survives_erasure_while_tampering_is_caught(stack, tmp_path):
    settings = stack.settings
    intake, followup = settings.url_of("intake"), settings.url_of("followup")
    clerk = as_user(settings, "clerk", "window-1", user="alice")
    auditor = as_user(settings, "auditor", user="carol")
    supervisor = as_user(settings, "supervisor", user="zhou")
    made = httpx.post(f"{intake}/v1/cases", json=EXAMPLE, headers=clerk, timeout=10)
    assert made.status_code == 201, made.text
    case_id = made.json()["case_id"]
    wait_for(
        lambda: httpx.get(f"{followup}/v1/cases/{case_id}", headers=clerk).status_code == 200,
        "follow-up knows the case",
    )
    attached = httpx.post(
        f"{followup}/v1/cases/{case_id}/attachments",
        files={"file": ("调解协议.pdf", PDF, "application/pdf")},
        data={"kind": "agreement", "description": "双方签字"},
        headers=clerk,
        timeout=10,
    )
    assert attached.status_code == 201, attached.text
    digest = attached.json()["attachment"]["sha256"]

    def checkpointed() -> bytes | None:
        answer = httpx.get(f"{followup}/v1/cases/{case_id}/dossier", headers=auditor, timeout=10)
        dossier = answer.json()
        covered = dossier["checkpoint"] and dossier["checkpoint"]["leaf"]["entries"]
        types = [e["type"] for e in dossier["entries"]]
        done = covered == len(types) and any(t.endswith("attachment-added.v1") for t in types)
        return answer.content if done else None

    raw = wait_for(checkpointed, "a signed checkpoint covering the whole history")
    key = httpx.get(f"{followup}/v1/evidence/public-key").json()["fingerprint"]
    path = tmp_path / "dossier.json"
    path.write_bytes(raw)
    checked = verify(stack, path, key)
    assert checked.returncode == 0 and "VERIFIED" in checked.stdout, checked.stdout + checked.stderr

    entries = raw.index(b'"entries":[')  # the registration's subject, in the history
    at = raw.index(b'"subject":"', entries) + len(b'"subject":"') + 1
    path.write_bytes(raw[:at] + bytes([raw[at] ^ 0x01]) + raw[at + 1 :])
    failed = verify(stack, path, key)
    assert failed.returncode == 1 and "FAILED: entry 1 (" in failed.stdout, failed.stdout

    # the attachment's bytes changed on disk are caught, never served
    url = f"{followup}/v1/cases/{case_id}/attachments/{digest}"
    assert httpx.get(url, headers=supervisor).content == PDF
    stored = stack.logs / "attachments" / digest[:2] / digest[2:4] / digest
    stored.write_bytes(PDF.replace(b"signed", b"forged"))
    damaged = httpx.get(url, headers=supervisor)
    assert damaged.status_code == 500 and damaged.json()["type"].endswith("attachment-damaged")

    # erasure: gone from intake; the history, the checkpoints and a new dossier still verify
    case = httpx.get(f"{intake}/v1/cases/{case_id}", headers=clerk).json()
    petitioner = case["petitioners"][0]["petitioner_id"]
    erased = httpx.post(
        f"{intake}/v1/petitioners/{petitioner}/erasure",
        json={"basis": "request", "reference": "删除申请 2026-7"},
        headers=supervisor,
    )
    assert erased.status_code == 200, erased.text
    shown = httpx.get(f"{intake}/v1/cases/{case_id}", headers=clerk).json()["petitioners"][0]
    assert shown["erased"] and shown["name"] == "〔已删除〕" and shown["phone"] is None
    person = httpx.get(f"{intake}/v1/petitioners/{petitioner}", headers=clerk).text
    for secret in (EXAMPLE["petitioner"]["name"], EXAMPLE["petitioner"]["id_number"]):
        assert (
            secret not in person
            and secret not in httpx.get(f"{intake}/v1/cases/{case_id}", headers=clerk).text
        )

    def erasure_heard() -> bytes | None:
        again = checkpointed()
        return again if again and b"petitioner-erased.v1" in again else None

    after = wait_for(erasure_heard, "the erasure in the history and a checkpoint over it")
    path.write_bytes(after)
    checked = verify(stack, path, key)
    assert checked.returncode == 0, checked.stdout
    store = httpx.get(f"{followup}/v1/checkpoints/verification", headers=auditor).json()
    assert store["verified"] and store["cases_checked"] >= 1
