"""A case's full history: every event about it from every service, in causal order, with
the hash chain checked — and, now, against the latest signed checkpoint — or as of a past
moment."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from uuid import UUID

from fastapi import APIRouter

from services.followup.api.deps import CurrentActor, FollowUp
from services.followup.api.views import AsOf, case_status, history_event_json
from services.followup.domain import causal_order
from shared.http import LargeJSON, NotFound, as_json

router = APIRouter(prefix="/v1", tags=["follow-up"])


@router.get(
    "/cases/{case_id}/history",
    summary="Every event about the case from all services, in causal order, verified",
    response_model=dict[str, Any],
)
def get_history(case_id: UUID, app: FollowUp, actor: CurrentActor, as_of: AsOf = None) -> LargeJSON:
    checkpoint = None
    if as_of is None:
        # read from the store, not the cache, once: the chain shown is the chain checked by
        # itself and against the latest signed checkpoint (the chain alone proves nothing
        # against someone who recomputed it: the signed checkpoint does)
        stored = app.stored_history(case_id)
        if stored is None:
            raise NotFound(f"history of case {case_id}")
        chain = list(stored.entries)
        verification = stored.verify()
        entries = causal_order(chain)
        if app.checkpoints is not None:
            checkpoint = app.checkpoints.check_case(str(case_id), chain, verification.verified)
    else:
        entries, verification = app.history(case_id, as_of)
    case = None
    if entries and as_of is None:
        now = app.clock()
        case = app.read_case(case_id, lambda c: as_json(case_status(c, now)))
    elif entries and as_of is not None:
        case = as_json(case_status(app.get_case(case_id, as_of), as_of))
    integrity = asdict(verification)
    if app.checkpoints is not None and as_of is None:
        integrity["checkpoint"] = checkpoint
    return LargeJSON(
        {
            "case_id": str(case_id),
            "as_of": as_of.isoformat() if as_of else None,
            "case": case,
            "integrity": integrity,
            "events": [history_event_json(link) for link in entries],
        }
    )
