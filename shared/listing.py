"""How a listing counts what matches: exactly up to `COUNT_CAP`, and "at least that many"
beyond.

A page of 50 comes off an index in a millisecond whatever the size of the store, but an
exact count of a department's deadlines or of every case ever registered reads every
matching row: 180,000 of them at a million cases, a quarter of a second on each request.
Listings therefore count their matches only as far as `COUNT_CAP` and say whether the count
is exact (`total_exact`); a screen shows "10,000+". The exact figures people compare by
department and status are the statistics' and the metrics', which count in the database
for that purpose.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

COUNT_CAP = 10_000
"""Listings count their matches exactly up to this many."""


def count_matches(cursor: Any, matching: sql.Composable, params: Any) -> int:
    """How many rows `matching` (a `FROM … WHERE …` clause) selects, counted no further
    than one past `COUNT_CAP`."""
    row = cursor.execute(
        sql.SQL("SELECT count(*) AS n FROM (SELECT 1 FROM {} LIMIT {}) AS matching").format(
            matching, sql.Literal(COUNT_CAP + 1)
        ),
        params,
    ).fetchone()
    if row is None:
        return 0
    return int(row["n"] if isinstance(row, dict) else row[0])


def page_total(counted: int) -> dict[str, Any]:
    """A listing's `total` and whether it is exact, from a count of its matches (one made
    by `count_matches`, or any exact count)."""
    return {"total": min(counted, COUNT_CAP), "total_exact": counted <= COUNT_CAP}
