"""The case index: a read model of intake's cases for searching (duplicates, listings, Open311).

It is a projection of intake's own event log: each row is computed from the case aggregate
as it stands, so re-applying is harmless, and the position in the log is stored with the
rows in one transaction. It holds no personal data — petitioners appear only by their
registry ids, which are keyed hashes. Queries catch up with the log first, so a clerk
always finds what was registered a moment ago.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from psycopg import sql
from psycopg.rows import dict_row

from services.intake.domain import CLOSED_STATES, Case
from shared.guard import safe_text
from shared.listing import count_matches
from shared.projection import Projected, Projector
from shared.settings import Settings
from shared.store import LazyPool
from shared.territory import Location


def row_of(case: Case) -> dict[str, Any]:
    """The case's row. Its one free text, the progress summary another service wrote, is
    kept without control characters: PostgreSQL's text cannot hold a NUL, and a row that
    cannot be written stops the whole projection."""
    loc = case.location
    return {
        "case_id": case.id,
        "registered_at": case.created_on,
        "updated_at": case.updated_at or case.created_on,
        "channel": case.channel.value,
        "category": case.category,
        "place": loc.place,
        "path": list(loc.path),
        "lat": loc.lat,
        "long": loc.long,
        "petitioner_ids": case.petitioner_ids,
        "legal_class": case.legal_class.value if case.legal_class else None,
        "status": case.status.value,
        "open": not case.ended,
        "personal_data": bool(set(case.subjects) - case.erased_subjects),
        "lead": safe_text(case.progress.summary) if case.progress else None,
        "repeat_count": case.repeat_count,
        "external_system": case.external.system if case.external else None,
        "barred": sorted(case.barred),
    }


@dataclass(frozen=True)
class Query:
    """A listing: every given criterion must hold; newest first."""

    case_ids: list[UUID] | None = None
    categories: list[str] | None = None
    open: bool | None = None
    registered_from: datetime | None = None
    registered_to: datetime | None = None
    external_system: str | None = None
    hidden_from: str | None = None
    """A department that may not see a case barred to it (an accusation against it)."""
    within: str | None = None
    """Cases at this place or anywhere within it."""
    open311_public: bool = False
    retention_due: datetime | None = None
    """Ended cases, last changed at or before this moment, that still hold someone's
    personal data: what the retention sweep looks at."""
    """Only what may be shown to anyone: filed through Open311 and not an accusation."""
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class Likeness:
    """What an earlier case has in common with a new submission."""

    petitioner_ids: list[str]
    category: str
    location: Location
    since: datetime

    @property
    def around(self) -> list[str]:
        """The places whose cases count as at the same place: the case's own and those it
        lies within, below the top tier (a whole district is not one place)."""
        return list(self.location.path[1:] or self.location.path)

    def same_place(self, place: str, path: list[str]) -> bool:
        """One case's place lies within the other's (see `around`)."""
        return place in self.around or (len(self.location.path) > 1 and self.location.place in path)


class IndexStore(Protocol):
    def close(self) -> None: ...

    def position(self) -> int: ...

    def upsert(self, rows: list[dict[str, Any]], position: int) -> None: ...

    def clear(self) -> None: ...

    def search(self, query: Query) -> tuple[list[dict[str, Any]], int]: ...

    def alike(self, likeness: Likeness, limit: int) -> list[dict[str, Any]]: ...


class _IndexTables:
    """The index store as the tables of a projection (shared/projection.py)."""

    def __init__(self, store: IndexStore) -> None:
        self.store = store

    def position(self) -> int:
        return self.store.position()

    def apply(self, projected: list[Projected], position: int) -> None:
        self.store.upsert([{**p.row, "version": p.version} for p in projected], position)

    def clear(self) -> None:
        self.store.clear()


class CaseIndex:
    """Follows intake's notification log into an `IndexStore`."""

    def __init__(self, app: Any, store: IndexStore) -> None:
        self.store = store
        self.projector = Projector(
            "case index",
            app,
            Case,
            lambda case: Projected(case.id, case.version, row_of(case)),
            _IndexTables(store),
        )

    def catch_up(self, wait: bool = True) -> int | None:
        """Project everything logged so far (see `Projector.catch_up`)."""
        return self.projector.catch_up(wait)

    def unready(self) -> str | None:
        """Why the index cannot serve now (nothing: it can): its last projection failed —
        the table is gone, a row cannot be written, its database went away — so listings,
        duplicate search and Open311 fail or fall behind until one succeeds."""
        return self.projector.unready()

    def wake(self) -> None:
        self.projector.wake()

    def run(self, stop: threading.Event) -> None:
        self.projector.run(stop)

    def search(self, query: Query) -> tuple[list[dict[str, Any]], int]:
        self.catch_up()
        return self.store.search(query)

    def alike(self, likeness: Likeness, limit: int = 10) -> list[dict[str, Any]]:
        """Earlier cases like a new submission. Under load the newest few milliseconds of
        registrations may not be searched yet; a retried submission is caught by its
        idempotency key, not here."""
        self.catch_up(wait=False)
        return self.store.alike(likeness, limit)


def _reasons(row: dict[str, Any], likeness: Likeness) -> list[str]:
    reasons = []
    if set(row["petitioner_ids"]) & set(likeness.petitioner_ids):
        reasons.append("same petitioner")
    if row["category"] == likeness.category:
        if likeness.same_place(row["place"], row["path"]):
            reasons.append("same place and category")
        elif reasons:
            reasons.append("same category")
    return reasons


def _is_alike(row: dict[str, Any], likeness: Likeness) -> bool:
    reasons = _reasons(row, likeness)
    if "same petitioner" in reasons:
        return row["registered_at"] >= likeness.since or row["category"] == likeness.category
    return (
        bool(reasons)
        and row["registered_at"] >= likeness.since
        and row["status"] not in (CLOSED_STATES)
    )


OPEN311_SYSTEMS = "open311:"
"""The prefix of the `external.system` of every case filed through Open311."""


def open311_public(row: dict[str, Any]) -> bool:
    system = row["external_system"] or ""
    return system.startswith(OPEN311_SYSTEMS) and row["legal_class"] != "accusation"


class MemoryIndexStore:
    """For fast unit tests: the same queries over a dict."""

    def __init__(self) -> None:
        self.rows: dict[UUID, dict[str, Any]] = {}
        self._position = 0

    def close(self) -> None:
        pass

    def position(self) -> int:
        return self._position

    def upsert(self, rows: list[dict[str, Any]], position: int) -> None:
        for row in rows:
            held = self.rows.get(row["case_id"])
            if held is None or held["version"] < row["version"]:
                self.rows[row["case_id"]] = row
        self._position = max(self._position, position)

    def clear(self) -> None:
        self.rows.clear()
        self._position = 0

    def search(self, query: Query) -> tuple[list[dict[str, Any]], int]:
        def fits(r: dict[str, Any]) -> bool:
            return (
                (query.case_ids is None or r["case_id"] in query.case_ids)
                and (query.categories is None or r["category"] in query.categories)
                and (query.open is None or r["open"] == query.open)
                and (
                    query.retention_due is None
                    or (
                        not r["open"]
                        and r["personal_data"]
                        and r["updated_at"] <= query.retention_due
                    )
                )
                and (query.registered_from is None or r["registered_at"] >= query.registered_from)
                and (query.registered_to is None or r["registered_at"] <= query.registered_to)
                and (query.external_system in (None, r["external_system"]))
                and (query.within is None or query.within in r["path"])
                and (query.hidden_from is None or query.hidden_from not in r["barred"])
                and (not query.open311_public or open311_public(r))
            )

        found = sorted(
            (r for r in self.rows.values() if fits(r)),
            key=lambda r: r["registered_at"],
            reverse=True,
        )
        return found[query.offset : query.offset + query.limit], len(found)

    def alike(self, likeness: Likeness, limit: int) -> list[dict[str, Any]]:
        found = [
            {**r, "reasons": _reasons(r, likeness)}
            for r in self.rows.values()
            if _is_alike(r, likeness)
        ]
        return sorted(found, key=lambda r: r["registered_at"], reverse=True)[:limit]


_COLUMNS = [
    *("case_id", "registered_at", "updated_at", "channel", "category", "place", "path"),
    *("lat", "long", "petitioner_ids", "legal_class", "status", "open", "personal_data"),
    "lead",
    *("repeat_count", "external_system", "barred"),
]
_CANDIDATE_COLUMNS = [
    *("case_id", "registered_at", "category", "status", "place", "path"),
    "petitioner_ids",
]
"""What a duplicate candidate shows the clerk, and what its reasons are worked out from."""


@dataclass
class PostgresIndexStore:
    """The index as a table in intake's schema, with its log position beside it (both made
    by `migrations/0001_case_index.sql`)."""

    settings: Settings
    schema: str = "intake"
    _pool: LazyPool = field(init=False)
    _alike: dict[bool, bytes] = field(init=False, default_factory=dict)
    """The duplicate search, with and without known petitioners, composed for psycopg."""

    def __post_init__(self) -> None:
        # Its queries are lookups by index: prepared, the duplicate search got a generic plan
        # with a parallel worker, a process started at every registration (4.2 ms of
        # PostgreSQL against 0.5 ms without). Set once per connection, not per statement.
        self._pool = LazyPool(
            self.settings,
            "intake-index",
            self.settings.pg_pool_size,
            session={"max_parallel_workers_per_gather": "0"},
        )

    def _connection(self) -> Any:
        return self._pool.connection()

    def close(self) -> None:
        self._pool.close()

    def _table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    def position(self) -> int:
        with self._connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT notification_id FROM {} WHERE name = 'cases'").format(
                    self._table("index_position")
                )
            ).fetchone()
        return int(row[0]) if row else 0

    def upsert(self, rows: list[dict[str, Any]], position: int) -> None:
        """The rows, each only over an older version of its case, and the position, in one
        transaction; in case id order, so two processes writing the same cases wait for each
        other rather than deadlock (they did: a registration answered 503)."""
        columns = [*_COLUMNS, "version"]
        insert = sql.SQL(
            "INSERT INTO {} AS t ({}) VALUES ({}) ON CONFLICT (case_id) DO UPDATE SET {} "
            "WHERE t.version < EXCLUDED.version"
        ).format(
            self._table("case_index"),
            sql.SQL(", ").join(map(sql.Identifier, columns)),
            sql.SQL(", ").join(sql.Placeholder(c) for c in columns),
            sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in columns[1:]
            ),
        )
        with self._connection() as conn, conn.transaction(), conn.cursor() as cursor:
            if rows:
                cursor.executemany(insert, sorted(rows, key=lambda r: str(r["case_id"])))
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {} AS p VALUES ('cases', %s) ON CONFLICT (name) DO UPDATE "
                    "SET notification_id = GREATEST(p.notification_id, EXCLUDED.notification_id)"
                ).format(self._table("index_position")),
                (position,),
            )

    def clear(self) -> None:
        with self._connection() as conn, conn.transaction():
            conn.execute(sql.SQL("TRUNCATE {}").format(self._table("case_index")))
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE name = 'cases'").format(self._table("index_position"))
            )

    def search(self, query: Query) -> tuple[list[dict[str, Any]], int]:
        where: list[str] = ["TRUE"]
        params: dict[str, Any] = {}
        if query.case_ids is not None:
            where.append("case_id = ANY(%(case_ids)s)")
            params["case_ids"] = query.case_ids
        if query.categories is not None:
            where.append("category = ANY(%(categories)s)")
            params["categories"] = query.categories
        if query.open is not None:
            where.append("open" if query.open else "NOT open")
        if query.retention_due is not None:
            where.append("NOT open AND personal_data AND updated_at <= %(retention_due)s")
            params["retention_due"] = query.retention_due
        for name, op, value in (
            ("registered_from", ">=", query.registered_from),
            ("registered_to", "<=", query.registered_to),
        ):
            if value is not None:
                where.append(f"registered_at {op} %({name})s")
                params[name] = value
        if query.open311_public:
            where.append(
                "external_system LIKE %(open311)s AND legal_class IS DISTINCT FROM 'accusation'"
            )
            params["open311"] = OPEN311_SYSTEMS + "%"
        if query.external_system is not None:
            where.append("external_system = %(external_system)s")
            params["external_system"] = query.external_system
        if query.within is not None:
            where.append("path @> ARRAY[%(within)s]::text[]")
            params["within"] = query.within
        if query.hidden_from is not None:
            where.append("NOT (%(hidden_from)s = ANY(barred))")
            params["hidden_from"] = query.hidden_from
        condition = sql.SQL(" AND ".join(where))
        table = self._table("case_index")
        with self._connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            found = cursor.execute(
                sql.SQL(
                    "SELECT * FROM {} WHERE {} ORDER BY registered_at DESC LIMIT %(limit)s "
                    "OFFSET %(offset)s"
                ).format(table, condition),
                {**params, "limit": query.limit, "offset": query.offset},
            ).fetchall()
            total = count_matches(cursor, sql.SQL("{} WHERE {}").format(table, condition), params)
        return found, total

    def alike(self, likeness: Likeness, limit: int) -> list[dict[str, Any]]:
        # Each branch takes only its newest `limit` rows (index-ordered, so it stops early):
        # a busy street and category has thousands of earlier cases, sorting them all was
        # ~20 ms a registration. The petitioner's own cases are found through their index
        # first (MATERIALIZED), whatever plan the statement gets; UNION ALL and not UNION,
        # which made planning cost more than running it (a case in both comes once below).
        # Only the columns a candidate shows are read; with no known petitioner, only the
        # place is searched.
        place = """
            (SELECT {columns} FROM {cases} WHERE category = %(category)s
              AND (place = ANY(%(around)s) OR (%(deep)s AND path @> ARRAY[%(place)s]::text[]))
              AND registered_at >= %(since)s
              AND NOT (status = ANY(%(closed)s))
             ORDER BY registered_at DESC LIMIT %(limit)s)"""
        mine = """
            WITH mine AS MATERIALIZED (
              SELECT {columns} FROM {cases} WHERE petitioner_ids && %(ids)s)
            (SELECT * FROM mine WHERE registered_at >= %(since)s OR category = %(category)s
             ORDER BY registered_at DESC LIMIT %(limit)s)
            UNION ALL"""
        statement = self._alike.get(bool(likeness.petitioner_ids))
        if statement is None:  # composed once, not at every registration (~4 % of intake)
            statement = self._alike[bool(likeness.petitioner_ids)] = (
                sql.SQL(mine + place if likeness.petitioner_ids else place)
                .format(
                    cases=self._table("case_index"),
                    columns=sql.SQL(", ").join(map(sql.Identifier, _CANDIDATE_COLUMNS)),
                )
                .as_bytes(None)
            )
        # one round trip (autocommit): it was four with a transaction for a SET LOCAL
        with self._connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(
                statement,
                {
                    "ids": likeness.petitioner_ids,
                    "since": likeness.since,
                    "category": likeness.category,
                    "around": likeness.around,
                    "deep": len(likeness.location.path) > 1,
                    "place": likeness.location.place,
                    "closed": [state.value for state in CLOSED_STATES],
                    "limit": limit,
                },
            ).fetchall()
        unique = {r["case_id"]: r for r in rows}.values()
        newest = sorted(unique, key=lambda r: r["registered_at"], reverse=True)[:limit]
        return [{**r, "reasons": _reasons(r, likeness)} for r in newest]
