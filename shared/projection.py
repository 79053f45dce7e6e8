"""Read models that follow an application's notification log into tables.

A projection turns each aggregate the log says changed into its rows — one in a main table,
any number in a child table — and stores them with the log position reached, in one
transaction. It lives in PostgreSQL beside the event store, so a process starts with it as
it left it (catching up only on what was logged since), holds none of it in memory, and
several processes can keep it together: each row carries the aggregate version it shows,
and a write never replaces a row with an older version of it. It is never the source of
truth: `onestop projections rebuild` throws it away and makes it again from the log.

Unit tests use the same projection on in-memory tables (`MemoryTables`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.utils import resolve_topic
from psycopg import sql

from shared.settings import Settings
from shared.store import LazyPool

log = logging.getLogger(__name__)


def cached(app: Any, aggregate_id: UUID) -> Any | None:
    """The repository's cached aggregate itself (shared: read it, never change it), if any."""
    cache = app.repository.cache
    try:
        return cache.get(aggregate_id) if cache is not None else None
    except KeyError:
        return None


def current(app: Any, aggregate_id: UUID, version: int) -> Any:
    """The aggregate at `version` or later, for reading only: the repository's cached copy
    when it is that far on (the command or consumer that saved it put it there), else from
    the event store."""
    found = cached(app, aggregate_id)
    if found is not None and found.version >= version:
        return found
    return app.repository.get(aggregate_id)


def touched_aggregates(
    app: Any, notifications: Sequence[Any], kind: type[Aggregate], shared: bool = True
) -> list[Any]:
    """The aggregates of `kind` these notifications changed, as they stand after them (or
    later), in the order of their latest change: with `shared`, the cached aggregate itself
    when it is as far on (the command or consumer that saved it put it there), read and not
    copied; otherwise built from these events, or advanced to them from the cache or the
    store. A stored event is recognised by the class its topic resolves to, so events
    stored under a topic that has since moved are followed too."""
    touched: dict[UUID, list[Any]] = {}
    for n in notifications:
        if issubclass(resolve_topic(n.topic), kind.Event):
            mine = touched.pop(n.originator_id, [])  # keep the order of latest change
            touched[n.originator_id] = [*mine, n]
    found: list[Any] = []
    for aggregate_id, mine in touched.items():
        hit = cached(app, aggregate_id) if shared else None
        if hit is not None and hit.version >= mine[-1].originator_version:
            found.append(hit)
            continue
        events = [app.mapper.to_domain_event(n) for n in mine]
        if events[0].originator_version == 1:
            aggregate: Any = None
            for event in events:
                aggregate = event.mutate(aggregate)
            found.append(aggregate)
        else:
            found.append(_advanced(app, aggregate_id, events))
    return found


def _advanced(app: Any, aggregate_id: UUID, events: list[Any]) -> Any:
    """The aggregate after these events: from the cache when it holds them already or holds
    the version just before them; otherwise read from the event store."""
    hit = cached(app, aggregate_id)
    if hit is not None and hit.version >= events[0].originator_version - 1:
        aggregate: Any = deepcopy(hit)
        for event in events:
            if event.originator_version > aggregate.version:
                aggregate = event.mutate(aggregate)
        return aggregate
    return app.repository.get(aggregate_id)


def _first_line(error: Exception) -> str:
    return (str(error).strip().splitlines() or [""])[0][:300]


class Projected(NamedTuple):
    """What one aggregate looks like in a projection's tables."""

    id: UUID
    version: int
    row: dict[str, Any]
    """Its row in the main table (besides `id` and `version`)."""
    children: Sequence[dict[str, Any]] = ()
    """Its rows in the child table, all of them: they replace the ones it had."""


class Tables(Protocol):
    """Where a projection keeps its rows and its position."""

    def position(self) -> int: ...

    def apply(self, projected: list[Projected], position: int) -> None: ...

    def clear(self) -> None: ...


class Projector:
    """Follows an application's notification log into `Tables`: every aggregate of `kind`
    that changed is projected by `project` and written with the position reached."""

    BATCH = 500
    ROUND_SECONDS = 0.05
    """The background loop's shortest round: under load one round projects what many
    commands saved, not one each (a query brings the projection up to date itself)."""

    def __init__(
        self,
        name: str,
        app: Any,
        kind: type[Aggregate],
        project: Callable[[Any], Projected | None],
        tables: Tables,
    ) -> None:
        self.name = name
        self.app = app
        self.kind = kind
        self.project = project
        self.tables = tables
        self.lock = threading.Lock()
        self._wake = threading.Event()
        self._position: int | None = None
        self._failing: str | None = None

    def catch_up(self, wait: bool = True) -> int | None:
        """Project everything logged so far; returns the position reached.

        Without `wait`, a caller that finds another thread projecting goes on at once (with
        the projection a moment behind) rather than queueing behind it. The position is read
        from the tables once, then kept: another process projecting the same log writes the
        same rows, and never an older version over a newer one. A failure is kept, for
        `unready`, until a projection succeeds.
        """
        if not self.lock.acquire(blocking=wait):
            return None
        try:
            position = self._project()
        except Exception as error:
            failing = f"{self.name} failing: {type(error).__name__}: {_first_line(error)}"
            if failing != self._failing:
                log.warning("%s", failing)
            self._failing = failing
            raise
        finally:
            self.lock.release()
        self._failing = None
        return position

    def unready(self) -> str | None:
        """Why the projection cannot serve now (nothing: it can): its last catch-up failed —
        a table is gone, a row cannot be written, the database went away — so what reads it
        fails or falls behind until one succeeds."""
        return self._failing

    def _project(self) -> int:
        if self._position is None:
            self._position = self.tables.position()
        position = self._position
        while True:
            notifications = self.app.recorder.select_notifications(
                start=position, limit=self.BATCH, inclusive_of_start=False
            )
            if not notifications:
                return position
            try:
                projected = self._rows(touched_aggregates(self.app, notifications, self.kind))
            except RuntimeError:  # a shared aggregate moved on while being read: copies
                projected = self._rows(
                    touched_aggregates(self.app, notifications, self.kind, shared=False)
                )
            position = notifications[-1].id
            self.tables.apply(projected, position)
            self._position = position

    def _rows(self, aggregates: Iterable[Any]) -> list[Projected]:
        return [p for p in map(self.project, aggregates) if p is not None]

    def rebuild(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Throw the projection away and make it again from the whole log."""
        with self.lock:
            self.tables.clear()
            self._position = 0
            last = self.app.recorder.max_notification_id() or 0
            position = 0
            while position < last:
                notifications = self.app.recorder.select_notifications(
                    start=position, limit=self.BATCH, inclusive_of_start=False
                )
                if not notifications:
                    break
                aggregates = touched_aggregates(self.app, notifications, self.kind, shared=False)
                position = notifications[-1].id
                self.tables.apply(self._rows(aggregates), position)
                self._position = position
                if progress:
                    progress(position, last)
            return self._project()

    def wake(self) -> None:
        self._wake.set()

    def run(self, stop: threading.Event) -> None:
        """Background loop: keep the projection close behind the log between queries."""
        while not stop.is_set():
            try:
                self.catch_up()
            except Exception:  # an outage: the next round (or query) catches up
                stop.wait(1.0)
            stop.wait(self.ROUND_SECONDS)
            self._wake.wait(1.0)
            self._wake.clear()


# --- in memory (unit tests) ---------------------------------------------------------------


@dataclass
class MemoryTables:
    """A projection's tables as dictionaries, with the same rule as in PostgreSQL: a row is
    never replaced by an older version of it."""

    main: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    children: dict[UUID, list[dict[str, Any]]] = field(default_factory=dict)
    at: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def position(self) -> int:
        return self.at

    def apply(self, projected: list[Projected], position: int) -> None:
        with self.lock:
            for p in projected:
                if self.main.get(p.id, {}).get("version", 0) >= p.version:
                    continue
                self.main[p.id] = {"id": p.id, "version": p.version, **p.row}
                self.children[p.id] = [{"id": p.id, **child} for child in p.children]
            self.at = max(self.at, position)

    def clear(self) -> None:
        with self.lock:
            self.main.clear()
            self.children.clear()
            self.at = 0

    def rows(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self.main.values())

    def child_rows(self) -> list[dict[str, Any]]:
        with self.lock:
            return [c for rows in self.children.values() for c in rows]


# --- in PostgreSQL ------------------------------------------------------------------------


@dataclass
class PostgresTables:
    """A projection's tables in the service's schema: `main` (id uuid primary key, version,
    then `columns`), optionally `child` (id, then `child_columns`), and its position in
    `projection_position` (shared/migrations)."""

    settings: Settings
    schema: str
    name: str
    main: str
    columns: tuple[str, ...]
    child: str | None = None
    child_columns: tuple[str, ...] = ()
    more: tuple[str, ...] = ()
    """Other tables a subclass writes for each aggregate (`_replace_children`): cleared with
    the rest."""
    _pool: LazyPool = field(init=False)

    def __post_init__(self) -> None:
        size = max(2, self.settings.pg_pool_size // 2)
        self._pool = LazyPool(self.settings, f"{self.schema}-{self.name}", size)

    def connection(self) -> Any:
        """A pooled autocommit connection (psycopg's context manager gives it back)."""
        return self._pool.connection()

    def close(self) -> None:
        self._pool.close()

    def table(self, name: str) -> sql.Identifier:
        return sql.Identifier(self.schema, name)

    def position(self) -> int:
        with self.connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT notification_id FROM {} WHERE name = %s").format(
                    self.table("projection_position")
                ),
                (self.name,),
            ).fetchone()
        return int(row[0]) if row else 0

    def apply(self, projected: list[Projected], position: int) -> None:
        """Write the rows of the aggregates that are newer than what the tables hold, and the
        position, in one transaction. Rows are written in id order, so two processes writing
        the same aggregates wait for each other rather than deadlock."""
        latest: dict[UUID, Projected] = {}
        for p in projected:
            if p.id not in latest or latest[p.id].version < p.version:
                latest[p.id] = p
        names = ("id", "version", *self.columns)
        upsert = sql.SQL(
            "INSERT INTO {table} AS t ({names}) VALUES ({values}) ON CONFLICT (id) DO UPDATE "
            "SET {updates} WHERE t.version < EXCLUDED.version RETURNING id"
        ).format(
            table=self.table(self.main),
            names=sql.SQL(", ").join(map(sql.Identifier, names)),
            values=sql.SQL(", ").join(map(sql.Placeholder, names)),
            updates=sql.SQL(", ").join(
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in names[1:]
            ),
        )
        with self.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            if latest:
                cursor.executemany(
                    upsert,
                    [
                        {"id": i, "version": latest[i].version, **latest[i].row}
                        for i in sorted(latest)
                    ],
                    returning=True,
                )
                written: list[UUID] = []
                while True:
                    written += [row[0] for row in cursor.fetchall()]
                    if not cursor.nextset():
                        break
                if self.child is not None and written:
                    self._replace_children(cursor, [latest[i] for i in written])
            cursor.execute(
                sql.SQL(
                    "INSERT INTO {} AS p VALUES (%s, %s) ON CONFLICT (name) DO UPDATE "
                    "SET notification_id = GREATEST(p.notification_id, EXCLUDED.notification_id)"
                ).format(self.table("projection_position")),
                (self.name, position),
            )

    def _replace_children(self, cursor: Any, written: list[Projected]) -> None:
        assert self.child is not None
        child = self.table(self.child)
        cursor.execute(
            sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(child), ([p.id for p in written],)
        )
        if any(p.children for p in written):
            # one COPY, not a statement per row: a case's six deadlines were six INSERTs,
            # and the ledger's child rows the most frequent statement under load
            names = ("id", *self.child_columns)
            copy = sql.SQL("COPY {} ({}) FROM STDIN").format(
                child, sql.SQL(", ").join(map(sql.Identifier, names))
            )
            with cursor.copy(copy) as rows:
                for p in written:
                    for c in p.children:
                        rows.write_row((p.id, *(c[n] for n in self.child_columns)))

    def clear(self) -> None:
        tables = [self.main, *([self.child] if self.child else []), *self.more]
        with self.connection() as conn, conn.transaction():
            conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(map(self.table, tables))))
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE name = %s").format(self.table("projection_position")),
                (self.name,),
            )
