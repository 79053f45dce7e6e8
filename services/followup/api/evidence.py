"""Evidence an outsider can verify: attachments (stored by their hash, the chain covers
it), a case's dossier (JSON or PDF in Chinese) with the inclusion proof against a signed
checkpoint, the checkpoints themselves, and the public key that checks them."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Annotated, Any, Literal
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from services.followup import dossier as dossiers
from services.followup.api.deps import CurrentActor, FollowUp, RequestTrace
from services.followup.api.views import case_status
from services.followup.application import FollowUpApplication
from services.followup.attachments import Damaged, Missing
from services.followup.commands import AttachFile
from services.followup.domain import Attachment, history_id
from services.followup.domain.vocabulary import AttachmentKind
from shared.domain import Actor, DomainError, Forbidden, Problem
from shared.guard import problems_in
from shared.http import NotFound, problem
from shared.policy import Sight, sight

log = logging.getLogger("onestop.followup")
router = APIRouter(prefix="/v1", tags=["evidence"])

Digest = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="The file's SHA-256")]


def _sight(app: FollowUpApplication, case_id: UUID, actor: Actor) -> Sight:
    return sight(actor, app.case_access(case_id))


def _shown(attachment: Attachment, seen: Sight) -> Any:
    """Only those who need to know the petitioner read a file's name (a scan's name is
    often the person's): others see what it is and its hash."""
    if seen is Sight.FULL:
        return attachment
    extension = attachment.media_type.rsplit("/", 1)[-1].replace("plain", "txt")
    return type(attachment)(
        **{**asdict(attachment), "name": f"{attachment.kind.value}.{extension}"}
    )


# --- attachments --------------------------------------------------------------------------------


@router.post(
    "/cases/{case_id}/attachments",
    status_code=201,
    summary="Attach a file (letter, ID scan, agreement, photo): stored by its SHA-256, which "
    "the case's hash chain records",
)
async def add_attachment(
    case_id: UUID,
    app: FollowUp,
    actor: CurrentActor,
    trace: RequestTrace,
    file: Annotated[UploadFile, File(description="PDF, JPEG, PNG, WebP or UTF-8 text")],
    kind: Annotated[AttachmentKind, Form()],
    description: Annotated[str | None, Form(max_length=2000)] = None,
    petitioner_id: Annotated[str | None, Form(max_length=64)] = None,
) -> dict[str, Any]:
    fields = {
        "file.filename": file.filename or "",
        "description": description,
        "petitioner_id": petitioner_id,
    }
    bad = [Problem(f, m) for f, m in problems_in({k: v for k, v in fields.items() if v})]
    if bad:
        raise DomainError.listing(bad)
    data = await file.read(app.attachment_limit + 1)
    command = AttachFile(
        case_id=case_id,
        data=data,
        name=file.filename or "",
        declared_type=file.content_type,
        kind=kind,
        description=description,
        petitioner_id=petitioner_id or None,
        actor=actor,
        trace=trace,
    )
    case = await run_in_threadpool(app.attach, command)
    added = case.attachments[-1]
    return {"case_id": str(case_id), "attachment": dossiers.attachment_view(added)}


@router.get("/cases/{case_id}/attachments", summary="The case's attachments and their hashes")
def list_attachments(case_id: UUID, app: FollowUp, actor: CurrentActor) -> dict[str, Any]:
    seen = _sight(app, case_id, actor)
    attachments = app.get_case(case_id).attachments
    return {
        "case_id": str(case_id),
        "attachments": [dossiers.attachment_view(_shown(a, seen)) for a in attachments],
    }


@router.get(
    "/cases/{case_id}/attachments/{sha256}",
    summary="An attachment's bytes, checked against its hash before they are sent",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
def get_attachment(case_id: UUID, sha256: Digest, app: FollowUp, actor: CurrentActor) -> Response:
    if _sight(app, case_id, actor) is not Sight.FULL:
        raise Forbidden("only those who need to know the petitioner open the case's files")
    try:
        attachment, data = app.attachment_file(case_id, sha256)
    except Damaged as damaged:
        log.error("%s (case %s)", damaged, case_id)
        return problem(500, "attachment-damaged", "Attachment damaged", str(damaged))
    except Missing:
        return problem(
            500,
            "attachment-missing",
            "Attachment missing",
            f"the bytes of attachment sha256:{sha256} are not in the store",
        )
    if data is None:
        return problem(
            410,
            "erased",
            "Erased",
            f"the attachment's bytes were erased with the petitioner's personal data on "
            f"{attachment.erased_at.isoformat()}; its hash stays in the history",
        )
    return Response(
        data,
        media_type=attachment.media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(attachment.name)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


# --- the dossier --------------------------------------------------------------------------------


def build_dossier(app: FollowUpApplication, case_id: UUID, actor: Actor) -> dict[str, Any]:
    history = app.load(history_id(case_id))
    if history is None:
        raise NotFound(f"case {case_id}")
    case = app.get_case(case_id)
    now = app.clock()
    seen = _sight(app, case_id, actor)
    checkpoints = app.checkpoints
    if checkpoints is None:
        raise NotFound("the evidence key of this service (not configured)")
    return dossiers.build(
        case_id=str(case_id),
        case=case_status(case, now).model_dump(mode="json"),
        chain=list(history.entries),
        attachments=[_shown(a, seen) for a in case.attachments],
        checkpoint=checkpoints.proof_for(str(case_id)),
        signer=checkpoints.signer,
        exported_by=actor,
        exported_at=now,
    )


@router.get(
    "/cases/{case_id}/dossier",
    summary="The case's dossier: full history, clocks met or not, outcomes, return visits, "
    "attachments' hashes, and the inclusion proof against a signed checkpoint — JSON "
    "(check it offline: onestop verify FILE) or PDF in Chinese",
    response_class=Response,
    responses={200: {"content": {"application/json": {}, "application/pdf": {}}}},
)
def get_dossier(
    case_id: UUID,
    app: FollowUp,
    actor: CurrentActor,
    format: Annotated[Literal["json", "pdf"], Query(description="json or pdf")] = "json",
) -> Response:
    dossier = build_dossier(app, case_id, actor)
    name = f"dossier-{case_id}"
    if format == "pdf":
        from services.followup.dossier_pdf import render

        return Response(
            render(dossier),
            media_type="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
        )
    return Response(
        dossiers.exported(dossier),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
    )


# --- checkpoints and the key ---------------------------------------------------------------------


@router.get(
    "/evidence/public-key",
    summary="The Ed25519 public key that signs checkpoints and dossiers, and its fingerprint",
)
def evidence_key(app: FollowUp) -> dict[str, str]:
    if app.checkpoints is None:
        raise NotFound("the evidence key of this service (not configured)")
    signer = app.checkpoints.signer
    return {"algorithm": "Ed25519", "pem": signer.public_pem, "fingerprint": signer.fingerprint}


@router.get("/checkpoints", summary="The signed checkpoints, newest first (without leaves)")
def list_checkpoints(
    app: FollowUp, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    checkpoints = app.checkpoints
    if checkpoints is None:
        return {"checkpoints": []}
    found = []
    for sequence in reversed(checkpoints.sequences()[-limit:]):
        document = checkpoints.load(sequence)
        if document is not None:
            found.append(checkpoints.signed_part(document))
    return {"checkpoints": found}


@router.get(
    "/checkpoints/verification",
    summary="Every case's stored chain checked against the latest signed checkpoint",
)
def verify_checkpoint(app: FollowUp) -> JSONResponse:
    if app.checkpoints is None:
        raise NotFound("checkpoints (not configured)")
    result = app.checkpoints.verify_store()
    return JSONResponse(
        {
            "verified": result.verified,
            "checkpoint": result.checkpoint,
            "signed_at": result.signed_at,
            "cases_checked": result.cases_checked,
            "discrepancies": [asdict(d) for d in result.discrepancies],
        }
    )


@router.get(
    "/checkpoints/{sequence}",
    summary="One signed checkpoint with its leaves (every case's entries and head hash; "
    "null once no longer kept)",
)
def get_checkpoint(app: FollowUp, sequence: Annotated[int, Path(ge=1)]) -> dict[str, Any]:
    document = app.checkpoints.load(sequence) if app.checkpoints is not None else None
    if document is None:
        raise NotFound(f"checkpoint {sequence}")
    return document
