"""Who saw whose personal data: every answer that shows a petitioner unmasked is recorded —
who (user, role, department), when, through which operation, which case and which
petitioners, with the request's correlation id — before the answer leaves, and an auditor
can query it (个人信息保护法: access to personal information is accountable).

An append-only table in intake's schema (`migrations/0004_personal_data_reads.sql`), written
in the request's own thread: an answer with personal data is never sent unrecorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from psycopg import sql
from psycopg.rows import dict_row

from shared.domain import Actor
from shared.listing import count_matches
from shared.settings import Settings
from shared.store import LazyPool


@dataclass(frozen=True)
class PersonalDataRead:
    at: datetime
    user: str
    role: str
    department: str | None
    operation: str
    case_id: str | None
    petitioner_ids: tuple[str, ...]
    correlation_id: str | None

    @classmethod
    def of(
        cls,
        actor: Actor,
        at: datetime,
        operation: str,
        case_id: str | None,
        petitioner_ids: Sequence[str],
        correlation_id: str | None,
    ) -> PersonalDataRead:
        return cls(
            at,
            actor.user,
            actor.role,
            actor.department,
            operation,
            case_id,
            tuple(petitioner_ids),
            correlation_id,
        )


@dataclass(frozen=True)
class ReadQuery:
    petitioner_id: str | None = None
    user: str | None = None
    case_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    offset: int = 0


class ReadLog(Protocol):
    def record(self, reads: Sequence[PersonalDataRead]) -> None: ...

    def search(self, query: ReadQuery) -> tuple[list[PersonalDataRead], int]: ...

    def close(self) -> None: ...


@dataclass
class MemoryReadLog:
    """For fast unit tests: the same answers from a list."""

    reads: list[PersonalDataRead] = field(default_factory=list)

    def record(self, reads: Sequence[PersonalDataRead]) -> None:
        self.reads.extend(reads)

    def search(self, query: ReadQuery) -> tuple[list[PersonalDataRead], int]:
        found = [r for r in reversed(self.reads) if _fits(r, query)]
        return found[query.offset : query.offset + query.limit], len(found)

    def close(self) -> None:
        pass


def _fits(read: PersonalDataRead, query: ReadQuery) -> bool:
    return (
        (query.petitioner_id is None or query.petitioner_id in read.petitioner_ids)
        and (query.user is None or read.user == query.user)
        and (query.case_id is None or read.case_id == query.case_id)
        and (query.since is None or read.at >= query.since)
        and (query.until is None or read.at < query.until)
    )


@dataclass
class PostgresReadLog:
    settings: Settings
    schema: str = "intake"
    _pool: LazyPool = field(init=False)

    def __post_init__(self) -> None:
        self._pool = LazyPool(self.settings, "intake-reads", 4)

    def _connection(self) -> Any:
        return self._pool.connection()

    def _table(self) -> sql.Identifier:
        return sql.Identifier(self.schema, "personal_data_reads")

    def record(self, reads: Sequence[PersonalDataRead]) -> None:
        if not reads:
            return
        statement = sql.SQL(
            "INSERT INTO {} (at, username, role, department, operation, case_id, "
            "petitioner_ids, correlation_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        ).format(self._table())
        rows = [
            (r.at, r.user, r.role, r.department, r.operation, r.case_id,
             list(r.petitioner_ids), r.correlation_id)
            for r in reads
        ]  # fmt: skip
        with self._connection() as conn, conn.transaction(), conn.cursor() as cursor:
            cursor.executemany(statement, rows)

    def search(self, query: ReadQuery) -> tuple[list[PersonalDataRead], int]:
        where: list[str] = ["TRUE"]
        params: dict[str, Any] = {}
        if query.petitioner_id is not None:
            where.append("%(petitioner)s = ANY(petitioner_ids)")
            params["petitioner"] = query.petitioner_id
        for column, name, op, value in (
            ("username", "user", "=", query.user),
            ("case_id", "case_id", "=", query.case_id),
            ("at", "since", ">=", query.since),
            ("at", "until", "<", query.until),
        ):
            if value is not None:
                where.append(f"{column} {op} %({name})s")
                params[name] = value
        condition = sql.SQL(" AND ".join(where))
        with self._connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            rows = cursor.execute(
                sql.SQL(
                    "SELECT * FROM {} WHERE {} ORDER BY at DESC, id DESC "
                    "LIMIT %(limit)s OFFSET %(offset)s"
                ).format(self._table(), condition),
                {**params, "limit": query.limit, "offset": query.offset},
            ).fetchall()
            total = count_matches(
                cursor, sql.SQL("{} WHERE {}").format(self._table(), condition), params
            )
        found = [
            PersonalDataRead(
                r["at"], r["username"], r["role"], r["department"], r["operation"],
                r["case_id"], tuple(r["petitioner_ids"]), r["correlation_id"],
            )
            for r in rows
        ]  # fmt: skip
        return found, total

    def close(self) -> None:
        self._pool.close()
