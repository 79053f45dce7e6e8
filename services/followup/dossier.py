"""A case's dossier: everything an auditor needs to take a case away and check it elsewhere.

The full history in chain order, each entry with its hashes; the clocks and whether each
was met; outcomes, return visits, visits, reviews; every attachment's hash; the latest
signed checkpoint covering the case with the inclusion proof of its chain's head; the
public key; and a seal — follow-up's signature over the digest of every part — so a change
anywhere is named by where it is (`shared.evidence.verify_dossier`, `onestop verify`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.followup.domain import ChainLink
from shared.domain import Actor
from shared.evidence import DOSSIER_FORMAT, GENESIS, Signer, canonical, seal_digests

MET = {"met": True, "met-late": False, "overdue": False}
"""Whether a clock was met, by its state: on time, late, or breached and still open; a
clock still running, paused or superseded has no answer yet (None)."""

LISTED = {
    "deadlines": "clocks",
    "outcomes": "outcomes",
    "ratings": "return_visits",
    "visits": "visits",
    "reviews": "reviews",
}
"""The case's lists, as the dossier names its sections."""


def entry_view(position: int, link: ChainLink) -> dict[str, Any]:
    entry = link.entry
    return {
        "position": position,
        "event_id": entry.event_id,
        "service": entry.service,
        "type": entry.type,
        "time": entry.time.isoformat(),
        "actor": entry.actor.as_dict(),
        "correlation_id": entry.correlation_id,
        "causation_id": entry.causation_id,
        "data": entry.data,
        "previous_hash": link.previous_hash,
        "hash": link.hash,
    }


def attachment_view(attachment: Any) -> dict[str, Any]:
    return {
        "sha256": attachment.sha256,
        "name": attachment.name,
        "media_type": attachment.media_type,
        "size": attachment.size,
        "kind": attachment.kind.value,
        "description": attachment.description,
        "petitioner_id": attachment.petitioner_id,
        "added_by": attachment.added_by,
        "added_at": attachment.added_at.isoformat(),
        "erased_at": attachment.erased_at.isoformat() if attachment.erased_at else None,
    }


def build(
    *,
    case_id: str,
    case: dict[str, Any],
    chain: list[ChainLink],
    attachments: list[Any],
    checkpoint: dict[str, Any] | None,
    signer: Signer,
    exported_by: Actor,
    exported_at: datetime,
) -> dict[str, Any]:
    """The dossier of one case: `case` is its status as the API shows it (JSON), `chain`
    its history in chain order, `checkpoint` the latest signed one covering it, with the
    inclusion proof (`Checkpoints.proof_for`)."""
    summary = {k: v for k, v in case.items() if k not in LISTED}
    dossier: dict[str, Any] = {
        "format": DOSSIER_FORMAT,
        "case_id": case_id,
        "exported_at": exported_at.isoformat(),
        "exported_by": exported_by.as_dict(),
        "case": summary,
        "clocks": [{**d, "met": MET.get(d.get("state", ""))} for d in case.get("deadlines", [])],
        "outcomes": case.get("outcomes", []),
        "return_visits": case.get("ratings", []),
        "visits": case.get("visits", []),
        "reviews": case.get("reviews", []),
        "attachments": [attachment_view(a) for a in attachments],
        "entries": [entry_view(i, link) for i, link in enumerate(chain, 1)],
        "checkpoint": checkpoint,
        "public_key": {"pem": signer.public_pem, "fingerprint": signer.fingerprint},
    }
    # the JSON the API answers is the form that is sealed and checked
    dossier = _as_json(dossier)
    body = {
        "case_id": case_id,
        "entries": len(chain),
        "head": chain[-1].hash if chain else GENESIS,
        "digests": seal_digests(dossier),
    }
    dossier["seal"] = {"body": body, "signature": signer.sign(body)}
    return dossier


def _as_json(value: dict[str, Any]) -> dict[str, Any]:
    import json

    loaded: dict[str, Any] = json.loads(canonical(value))
    return loaded


def exported(dossier: dict[str, Any]) -> bytes:
    """The dossier as a file: its canonical JSON (what `onestop verify` checks byte for
    byte), ending in a newline."""
    return canonical(dossier) + b"\n"
