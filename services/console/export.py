"""统计报表: the statistics as a table to take away — CSV (UTF-8 with a byte-order mark, so
Excel opens the Chinese headings correctly) and an Excel workbook."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import xlsxwriter

INDICATORS = (
    "timely_acceptance",
    "on_time_completion",
    "closure",
    "resolution",
    "cessation",
    "satisfaction",
    "participation",
    "first_visit_resolution",
)
"""The rates each group carries, in the order the report shows them."""


def table(statistics: dict[str, Any], t: Callable[[str], str]) -> list[list[Any]]:
    """The heading row and one row per group: each rate with its numerator and denominator,
    then the overdue count and the repeat petitions."""
    heading: list[Any] = [t("Group"), t("Cases")]
    for name in INDICATORS:
        label = t("indicator:" + name)
        heading += [label, f"{label} {t('numerator')}", f"{label} {t('denominator')}"]
    heading += [t("Overdue"), t("Repeat petitions")]
    rows: list[list[Any]] = [heading]
    for group in statistics["groups"]:
        row: list[Any] = [group["group"], group["cases"]]
        for name in INDICATORS:
            figure = group[name]
            row += [figure["rate"], figure["numerator"], figure["denominator"]]
        row += [
            group["overdue"].get("total", 0),
            sum(group["repeat_petitions_by_month"].values()),
        ]
        rows.append(row)
    return rows


def as_csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def as_xlsx(rows: list[list[Any]], title: str, sheet: str) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    page = book.add_worksheet(sheet[:31])
    bold = book.add_format({"bold": True, "bg_color": "#EEF2F7", "border": 1, "text_wrap": True})
    percent = book.add_format({"num_format": "0.0%"})
    page.write(0, 0, title, book.add_format({"bold": True, "font_size": 14}))
    for c, value in enumerate(rows[0]):
        page.write(2, c, value, bold)
    rate_columns = {c for c, h in enumerate(rows[0]) if c >= 2 and (c - 2) % 3 == 0} - {
        len(rows[0]) - 2,
        len(rows[0]) - 1,
    }
    for r, row in enumerate(rows[1:], start=3):
        for c, value in enumerate(row):
            if value is None:
                page.write_blank(r, c, None)
            elif c in rate_columns:
                page.write_number(r, c, value, percent)
            else:
                page.write(r, c, value)
    page.set_column(0, 0, 28)
    page.set_column(1, len(rows[0]), 12)
    page.freeze_panes(3, 1)
    book.close()
    return out.getvalue()
