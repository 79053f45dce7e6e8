"""The queue at the centre: the board of lines, windows and today's tickets, its waiting
figures, and the kiosks' and windows' commands."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import Field

from services.intake import commands
from services.intake.api.deps import CurrentActor, Intake
from services.intake.api.views import Strict, figures_view, ticket_view, windows_view
from services.intake.queue import TicketState
from shared.http import example

router = APIRouter(prefix="/v1/queue", tags=["queue"])


class TicketIn(Strict):
    model_config = example({"line": "B"})
    line: Annotated[str, Field(min_length=1, max_length=1)]


class TransferIn(Strict):
    model_config = example({"to_window": "W03", "reason": "涉及拆迁补偿，由住建窗口接待"})
    to_window: Annotated[str, Field(min_length=1, max_length=10)]
    reason: Annotated[str, Field(min_length=1, max_length=200)]


class FinishIn(Strict):
    model_config = example({"outcome": "served", "case_id": "0b7d3f7e-5a52-4c1e-9d55-4a3f1f6a0c11"})
    outcome: Literal["served", "no-show"]
    case_id: UUID | None = None


@router.get("", summary="Lines, windows and today's tickets, with waiting figures")
def queue_board(app: Intake, actor: CurrentActor) -> dict[str, Any]:
    layout, today = app.layout(), app.queue_today()
    return {
        "lines": dict(layout.lines),
        "windows": windows_view(layout),
        "tickets": [ticket_view(t) for t in today.tickets.values()],
        "figures": figures_view(today.figures(app.clock(), layout)),
    }


@router.get("/figures", summary="Waiting-time figures per line, today (the centre's local day)")
def queue_figures(app: Intake, actor: CurrentActor) -> dict[str, Any]:
    return figures_view(app.queue_today().figures(app.clock(), app.layout()))


@router.post("/tickets", status_code=201, summary="A visitor takes a ticket for a line")
def take_ticket(body: TicketIn, app: Intake, actor: CurrentActor) -> dict[str, Any]:
    return ticket_view(app.issue_ticket(commands.IssueTicket(body.line), actor))


@router.post(
    "/windows/{code}/call",
    summary="The window calls its next visitor (the one it served is done)",
    responses={204: {"description": "Nobody is waiting for this window"}},
)
def call_next(code: str, app: Intake, actor: CurrentActor) -> Any:
    ticket = app.call_next(commands.CallNext(code), actor)
    return ticket_view(ticket) if ticket is not None else Response(status_code=204)


@router.post("/tickets/{number}/transfer", summary="Send the visitor to another window")
def transfer_ticket(
    number: str, body: TransferIn, app: Intake, actor: CurrentActor
) -> dict[str, Any]:
    command = commands.TransferTicket(number, body.to_window, body.reason)
    return ticket_view(app.transfer_ticket(command, actor))


@router.post("/tickets/{number}/finish", summary="The visitor was served, or did not come")
def finish_ticket(number: str, body: FinishIn, app: Intake, actor: CurrentActor) -> dict[str, Any]:
    command = commands.FinishTicket(number, TicketState(body.outcome), body.case_id)
    return ticket_view(app.finish_ticket(command))
