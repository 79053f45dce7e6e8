"""The auditor's pages: a case's timeline — every hand-off with who, why and when, the
causal links, any past moment (`as_of`) and the hash chain's verification — and the
statistics with charts, as CSV and Excel too (统计报表)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.cli import event_summary
from services.console.charts import PALETTE, Bar, bar_chart
from services.console.export import INDICATORS, as_csv, as_xlsx, table
from services.console.web import Page

router = APIRouter()


@router.get("/cases/{case_id}/timeline")
async def timeline(
    request: Request,
    case_id: UUID,
    as_of: Annotated[datetime | None, Query()] = None,
    at: Annotated[int | None, Query(ge=0, le=100_000)] = None,
) -> Response:
    """`at` picks the moment of the n-th event (the slider); `as_of` any moment."""
    page = Page(request)
    path = f"/v1/cases/{case_id}/history"
    whole = await page.services.get("followup", path, page.token)
    if not whole.ok:
        return page.failed(whole)
    events = whole.body["events"]
    if at is not None and events:
        as_of = datetime.fromisoformat(events[min(at, len(events) - 1)]["time"])
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=page.console.zone)
    shown = whole
    if as_of is not None:
        shown = await page.services.get("followup", path, page.token, as_of=as_of.isoformat())
        if not shown.ok:
            return page.failed(shown)
    position = sum(1 for e in events if as_of is None or datetime.fromisoformat(e["time"]) <= as_of)
    return page.render(
        "timeline.html",
        case_id=str(case_id),
        history=shown.body,
        entries=entries(page, shown.body["events"]),
        moments=[page.local(e["time"], seconds=True) for e in events],
        position=max(position - 1, 0),
        total=len(events),
        as_of=page.local(as_of, seconds=True) if as_of else None,
    )


def entries(page: Page, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each event numbered, with the event it was caused by and those it caused."""
    numbers = {e["event_id"]: i for i, e in enumerate(events, 1)}
    caused: dict[int, list[int]] = {}
    for i, event in enumerate(events, 1):
        cause = numbers.get(event.get("causation_id"))
        if cause:
            caused.setdefault(cause, []).append(i)
    found = []
    for i, event in enumerate(events, 1):
        kind = ".".join(event["type"].split(".")[2:-1]) or event["type"]
        by_clock = str(event.get("correlation_id", "")).startswith("clock:")
        found.append(
            {
                "number": i,
                "time": page.local(event["time"], seconds=True),
                "service": event["service"],
                "kind": kind,
                "label": page.t("event:" + kind),
                "actor": event["actor"],
                "cause": numbers.get(event.get("causation_id")),
                "cause_text": page.t("the clock") if by_clock else page.t("a request"),
                "effects": caused.get(i, []),
                "summary": event_summary(event, page.console.zone),
                "hash": event["hash"],
                "previous_hash": event["previous_hash"],
            }
        )
    return found


# --- statistics -----------------------------------------------------------------------------

Day = Annotated[date | None, Query()]
By = Annotated[str, Query(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


def _period(page: Page, start: date | None, end: date | None) -> tuple[date, date]:
    """Default: this month so far, to tomorrow (the API's `to` is the day after the last)."""
    today = page.console.clock().astimezone(page.console.zone).date()
    return start or today.replace(day=1), end or today + timedelta(days=1)


async def _statistics(
    page: Page, start: date | None, end: date | None, by: str
) -> tuple[Any, date, date]:
    begin, until = _period(page, start, end)
    answer = await page.services.get(
        "followup",
        "/v1/statistics",
        page.token,
        **{"from": begin.isoformat(), "to": until.isoformat(), "by": by},
    )
    return answer, begin, until


@router.get("/statistics")
async def statistics(
    request: Request,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    by: By = "department",
) -> Response:
    page = Page(request)
    (answer, begin, until), tiers = (
        await _statistics(page, start, end, by),
        await page.services.get("routing", "/v1/tiers", page.token),
    )
    groupings = [("all", page.t("Whole centre")), ("department", page.t("Department"))] + [
        (t["code"], t["name"]) for t in (tiers.body.get("tiers", []) if tiers.ok else [])
    ]
    if answer.status == 422:
        return page.render(
            "statistics.html",
            status=422,
            stats=None,
            charts=[],
            errors=answer.field_errors(),
            begin=begin,
            until=until,
            by=by,
            groupings=groupings,
            indicators=INDICATORS,
            query="",
        )
    if not answer.ok:
        return page.failed(answer)
    names = await _department_names(page) if by == "department" else {}
    for group in answer.body["groups"]:
        group["label"] = names.get(group["group"], group["group"])
    charts = [
        bar_chart(
            page.t("indicator:" + name),
            [
                Bar(g["label"], g[name]["rate"], f"{g[name]['numerator']}/{g[name]['denominator']}")
                for g in answer.body["groups"]
            ],
            colour=PALETTE[i % len(PALETTE)],
        )
        for i, name in enumerate(("closure", "resolution", "satisfaction", "on_time_completion"))
    ]
    return page.render(
        "statistics.html",
        stats=answer.body,
        charts=charts,
        errors={},
        begin=begin,
        until=until,
        by=by,
        groupings=groupings,
        indicators=INDICATORS,
        query=f"from={begin.isoformat()}&to={until.isoformat()}&by={by}",
    )


async def _department_names(page: Page) -> dict[str, str]:
    answer = await page.services.get("routing", "/v1/departments", page.token)
    return {d["code"]: d["name"] for d in answer.body} if answer.ok else {}


async def _report(page: Page, start: date | None, end: date | None, by: str) -> Any:
    answer, begin, until = await _statistics(page, start, end, by)
    if not answer.ok:
        return page.failed(answer), "", []
    names = await _department_names(page) if by == "department" else {}
    for group in answer.body["groups"]:
        group["group"] = names.get(group["group"], group["group"])
    name = f"onestop-statistics-{by}-{begin.isoformat()}-{until.isoformat()}"
    return None, name, table(answer.body, page.t)


@router.get("/statistics.csv")
async def statistics_csv(
    request: Request,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    by: By = "department",
) -> Response:
    page = Page(request)
    refused, name, rows = await _report(page, start, end, by)
    if refused is not None:
        return refused
    return Response(
        as_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get("/statistics.xlsx")
async def statistics_xlsx(
    request: Request,
    start: Annotated[date | None, Query(alias="from")] = None,
    end: Annotated[date | None, Query(alias="to")] = None,
    by: By = "department",
) -> Response:
    page = Page(request)
    refused, name, rows = await _report(page, start, end, by)
    if refused is not None:
        return refused
    return Response(
        as_xlsx(rows, page.t("Statistics report") + f" {name[19:]}", page.t("Statistics")),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'},
    )
