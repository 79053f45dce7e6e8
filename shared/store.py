"""PostgreSQL specifics: where each service's events live and how its application is configured."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    InterfaceError,
    Notification,
    OperationalError,
    PersistenceError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresFactory,
    PostgresProcessRecorder,
)
from eventsourcing.utils import retry
from psycopg import sql
from psycopg.rows import tuple_row
from psycopg_pool import ConnectionPool, PoolTimeout

from shared.keys import Keys
from shared.settings import ServiceName, Settings

log = logging.getLogger(__name__)


def conninfo(settings: Settings) -> str:
    return psycopg.conninfo.make_conninfo(
        host=settings.pg_address(),
        port=settings.pg_port,
        user=settings.pg_user,
        password=settings.pg_password.get_secret_value(),
        dbname=settings.pg_dbname,
        connect_timeout=2,
        # No JIT compilation: it pays off on queries that run for seconds, and the planner
        # chose it for short ones by their estimates — the statistics' repeats and breaches
        # query spent 171 ms compiling to run 35 ms (100,000 cases).
        options="-c jit=off",
    )


@contextmanager
def connect(settings: Settings, autocommit: bool = True) -> Iterator[psycopg.Connection]:
    with psycopg.connect(conninfo(settings), autocommit=autocommit) as conn:
        yield conn


@contextmanager
def schema_lock(conn: psycopg.Connection[Any], schema: str) -> Iterator[None]:
    """Holds the advisory lock under which `schema`'s tables are made and migrated, for this
    connection's session; another process doing the same to the same schema waits here until
    it is released (see `shared.migrations`, and the recorders below)."""
    key = "hashtext('onestop-migrations'), hashtext(%s)"
    cursor = conn.cursor(row_factory=tuple_row)  # whatever rows the connection makes
    got = cursor.execute(f"SELECT pg_try_advisory_lock({key})", (schema,)).fetchone()
    if not (got and got[0]):
        log.info("%s: waiting for another process to finish migrating", schema)
        conn.execute(f"SELECT pg_advisory_lock({key})", (schema,))
    try:
        yield
    finally:
        if not conn.closed:  # a lost connection has released it already
            conn.execute(f"SELECT pg_advisory_unlock({key})", (schema,))


def eventsourcing_env(
    settings: Settings, service: ServiceName, *, encrypt: bool = False
) -> dict[str, str]:
    """Environment for an `eventsourcing` application stored in the service's own schema.

    With `encrypt`, event bodies are sealed with AES-GCM (the data keyring, see `shared.keys`
    and `shared.cipher`); ids, versions and event topics stay readable so the log can still be
    audited and relayed.
    """
    env = {
        "PERSISTENCE_MODULE": "shared.store:Factory",
        "POSTGRES_DBNAME": settings.pg_dbname,
        "POSTGRES_HOST": settings.pg_address(),
        "POSTGRES_PORT": str(settings.pg_port),
        "POSTGRES_USER": settings.pg_user,
        "POSTGRES_PASSWORD": settings.pg_password.get_secret_value(),
        "POSTGRES_SCHEMA": service,
        "POSTGRES_POOL_SIZE": str(settings.pg_pool_size),
        "POSTGRES_MAX_OVERFLOW": str(settings.pg_pool_size),
        "POSTGRES_LOCK_TIMEOUT": "5",
        # while the database is unreachable a request fails within 2 s (a 503 to retry),
        # and a connection the server dropped (a restart) is found out before it is used
        "POSTGRES_CONNECT_TIMEOUT": "2",
        "POSTGRES_PRE_PING": "y",
    }
    if encrypt:
        keyring = Keys.of(settings).data_keyring
        env.update({"CIPHER_TOPIC": "shared.cipher:FastAESCipher", "CIPHER_KEY": keyring})
    return env


def _binary(statement: sql.Composed) -> sql.Composed:
    """eventsourcing's insert of stored events, sent in PostgreSQL's binary format.

    eventsourcing passes them as one array of its `stored_event` composite type with a `%s`
    placeholder, which psycopg dumps as text: every event's state is hex-escaped and quoted
    in Python, about half of a save's CPU in our services. With `%b` psycopg dumps the same
    array with the binary dumper that eventsourcing's `register_composite` also registers.
    """
    return sql.Composed(
        [
            sql.SQL(part.as_string().replace("%s", "%b")) if isinstance(part, sql.SQL) else part
            for part in statement
        ]
    )


CommitObserver = Callable[[float], None]


def _tables_in_turn(datastore: PostgresDatastore, create: Callable[[], None]) -> None:
    """eventsourcing makes its tables (`CREATE TABLE IF NOT EXISTS`, `CREATE TYPE`…) when an
    application starts. Two copies of a service starting at once on a fresh schema raced at
    it, and PostgreSQL refused the second (`duplicate key value violates unique constraint
    "pg_type_typname_nsp_index"`): that copy exited. They take turns instead, under the lock
    the schema's migrations take turns under; the second finds everything made."""
    with datastore.get_connection() as conn, schema_lock(conn, datastore.schema):
        create()


def _writers_take_turns(recorder: Any) -> None:
    """Writers of an events table take turns under an advisory lock of the table's own, not
    eventsourcing's `LOCK TABLE … IN EXCLUSIVE MODE`: either way one transaction at a time is
    given notification ids and commits (readers of the log never pass a gap filled later),
    but the table lock also conflicts with autovacuum's. A vacuum of the table made the next
    insert wait the second PostgreSQL waits before cancelling it: a one-second stall of
    registrations or assignments, and again at each retry of a vacuum that never finished.
    Every writer of the table is a recorder of this module, so all take the same lock."""
    name = f"onestop-events:{recorder.datastore.schema}.{recorder.events_table_name}"
    recorder.lock_table_statements = [
        sql.SQL("SET LOCAL lock_timeout = '{}s'").format(
            sql.Literal(recorder.datastore.lock_timeout)
        ),
        sql.SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(sql.Literal(name)),
    ]


class _SelectsMany:
    """Reads events as eventsourcing's recorders do, with less work per read: the events of
    many aggregates in one round trip; and one aggregate's events or a page of the log with
    statements composed once (eventsourcing composes each anew, every read) into plain rows
    (not a dict per row) — the reads every consumer batch, relay and projection makes."""

    datastore: PostgresDatastore
    events_table_name: str
    _statements: dict[tuple[Any, ...], bytes]

    def _statement(self, shape: tuple[Any, ...], make: Callable[[], sql.Composable]) -> bytes:
        statements: dict[tuple[Any, ...], bytes] = self.__dict__.setdefault("_statements", {})
        found = statements.get(shape)
        if found is None:
            found = statements[shape] = make().as_bytes(None)
        return found

    def _table(self) -> sql.Composable:
        return sql.SQL("{}.{}").format(
            sql.Identifier(self.datastore.schema), sql.Identifier(self.events_table_name)
        )

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        params: list[Any] = [originator_id]
        params += [v for v in (gt, lte, limit) if v is not None]

        def make() -> sql.Composable:
            return sql.SQL(
                "SELECT originator_id, originator_version, topic, state FROM {} "
                "WHERE originator_id = %s{}{} ORDER BY originator_version {}{}"
            ).format(
                self._table(),
                sql.SQL(" AND originator_version > %s" if gt is not None else ""),
                sql.SQL(" AND originator_version <= %s" if lte is not None else ""),
                sql.SQL("DESC" if desc else "ASC"),
                sql.SQL(" LIMIT %s" if limit is not None else ""),
            )

        shape = ("events", gt is None, lte is None, desc, limit is None)
        statement = self._statement(shape, make)
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(statement, params, prepare=True)
            return [StoredEvent(i, v, t, bytes(s)) for i, v, t, s in cur.fetchall()]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        conditions: list[str] = []
        params: list[Any] = []
        if start is not None:
            conditions.append(
                "notification_id >= %s" if inclusive_of_start else "notification_id > %s"
            )
            params.append(start)
        if stop is not None:
            conditions.append("notification_id <= %s")
            params.append(stop)
        if topics:
            conditions.append("topic = ANY(%s)")
            params.append(list(topics))
        params.append(limit)
        where = " WHERE " + " AND ".join(conditions) if conditions else ""

        def make() -> sql.Composable:
            return sql.SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM {}" + where + " ORDER BY notification_id LIMIT %s"
            ).format(self._table())

        statement = self._statement(("notifications", where), make)
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
            cur.execute(statement, params, prepare=True)
            return [
                Notification(id=n, originator_id=i, originator_version=v, topic=t, state=bytes(s))
                for n, i, v, t, s in cur.fetchall()
            ]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_events_after(self, after: Mapping[UUID, int]) -> dict[UUID, list[StoredEvent]]:
        """Each aggregate's events after the version given for it (0: all of them)."""
        found: dict[UUID, list[StoredEvent]] = {i: [] for i in after}
        if not after:
            return found
        ids = list(after)
        statement = sql.SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state "
            "FROM {}.{} e JOIN unnest(%s::uuid[], %s::bigint[]) AS w(id, version) "
            "ON e.originator_id = w.id AND e.originator_version > w.version "
            "ORDER BY e.originator_id, e.originator_version"
        ).format(sql.Identifier(self.datastore.schema), sql.Identifier(self.events_table_name))
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(statement, (ids, [after[i] for i in ids]))
            for row in cursor.fetchall():
                found[row["originator_id"]].append(
                    StoredEvent(
                        originator_id=row["originator_id"],
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=bytes(row["state"]),
                    )
                )
        return found


class _InsertsInTurn:
    """How both our recorders write: the events' insert in binary (`_binary`), in turn with
    other writers (`_writers_take_turns`), tables made in turn (`_tables_in_turn`), and
    eventsourcing's insert of events statement after statement, not in pipeline mode, each
    commit's duration told to `commit_observer`.

    eventsourcing sends the statements of an insert (trackings, the table's lock, NOTIFY,
    the events) in pipeline mode. psycopg 3.3.9 may stop sending before all of them went
    out — it stops when its last command is queued, though the socket took only part of
    the buffer — and then waits for their results: the server waits for the rest
    (`ClientRead`) and both wait for ever. Over TCP loopback the socket's buffers were
    large enough for our batches; through a Unix socket (`Settings.pg_address`) follow-up's
    consumer hung at its first batch of 200 events in `make bench`. One round trip per
    statement instead (through the socket ~0.05 ms each, four to nine per transaction).
    psycopg's own `executemany` (the read models' upserts) ends its pipeline by flushing
    all it holds and did not hang (1,200 rows of 2 kB, five of 600 kB, through the socket):
    only a `Pipeline.sync()` in the middle of a pipeline, eventsourcing's, waits too soon."""

    datastore: PostgresDatastore
    commit_observer: CommitObserver | None = None
    insert_events_statement: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.insert_events_statement = _binary(self.insert_events_statement)  # see _binary
        _writers_take_turns(self)

    def create_table(self) -> None:
        _tables_in_turn(self.datastore, super().create_table)  # type: ignore[misc]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        started = time.perf_counter()
        try:
            recorder: Any = self  # eventsourcing's recorder, whose steps these are
            with (
                self.datastore.get_connection() as conn,
                conn.transaction(),
                conn.cursor() as curs,
            ):
                recorder._insert_events(curs, stored_events, **kwargs)
                if not stored_events:
                    return None
                recorder._insert_stored_events(curs, stored_events, **kwargs)
                ids: Sequence[int] = recorder._fetch_ids_after_insert_events(
                    curs, stored_events, **kwargs
                )
            return ids
        finally:
            if self.commit_observer is not None:
                self.commit_observer(time.perf_counter() - started)


class ApplicationRecorder(_InsertsInTurn, _SelectsMany, PostgresApplicationRecorder):
    """Inserts in binary (`_binary`), in turn with other writers and not in pipeline mode
    (`_InsertsInTurn`)."""


class ProcessRecorder(_InsertsInTurn, _SelectsMany, PostgresProcessRecorder):
    """The same for an application that also records where it consumed from — from one
    partition (`tracking`) or from several (`trackings`) in the same transaction."""

    def _insert_events(
        self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        for tracking in kwargs.get("trackings", ()):
            self._insert_tracking(curs, tracking)
        super()._insert_events(curs, stored_events, **kwargs)


IDLE_CHECK_SECONDS = 2.0
"""A pooled connection used within this long is taken as alive; an older one is checked."""


def check_when_idle(conn: Any) -> None:
    """The pool's check of a connection before it is handed out: one round trip, but only for
    a connection not used for `IDLE_CHECK_SECONDS`. That is the one a server restart or a
    network cut killed while it sat in the pool; checking every checkout cost a quarter of
    intake's time under load (a round trip per read and write). A connection that breaks
    while in use fails its statement and the pool drops it."""
    now = time.monotonic()
    if now - getattr(conn, "_onestop_used_at", float("-inf")) > IDLE_CHECK_SECONDS:
        ConnectionPool.check_connection(conn)
    conn._onestop_used_at = now


class LazyPool:
    """The services' one way of pooling PostgreSQL connections beside the event store's:
    autocommit, made on first use (thread-safe), waiting at most 2 s for a connection (a 503
    within seconds while the database is down, not a hang) and checking one only when it
    sat idle (`check_when_idle`: what a server restart killed is dropped, without a round
    trip before every statement)."""

    def __init__(
        self, settings: Any, name: str, max_size: int, session: Mapping[str, str] | None = None
    ) -> None:
        self.settings, self.name, self.max_size = settings, name, max_size
        self.kwargs: dict[str, Any] = {"autocommit": True}
        if session:  # server settings for every connection, sent once when it is made
            self.kwargs["options"] = " ".join(f"-c {k}={v}" for k, v in session.items())
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()

    def connection(self) -> Any:
        """A pooled connection (psycopg's context manager gives it back)."""
        with self._lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    conninfo(self.settings),
                    min_size=1,
                    max_size=self.max_size,
                    kwargs=self.kwargs,
                    open=True,
                    name=self.name,
                    timeout=2,
                    check=check_when_idle,
                )
        return self._pool.connection()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()


class DatabaseUnavailable(PersistenceError):
    """No connection to the database could be had within the pool's timeout: it is down or
    unreachable. Not one of the errors eventsourcing retries, so a request fails within
    that timeout (a 503 to try again) instead of ten times it."""


class FailFastDatastore(PostgresDatastore):
    """eventsourcing's datastore, but a pool timeout is not retried.

    eventsourcing retries every read and write that raises its OperationalError ten times,
    0.2 s apart; a pool that cannot connect raises one after its 2 s timeout, so a request
    waited ~22 s for its 503 while PostgreSQL was down (`make faults`). A connection that
    breaks mid-statement (a server restart) is still retried: that one is worth it."""

    @contextmanager
    def get_connection(self) -> Iterator[Any]:
        try:
            with super().get_connection() as conn:
                yield conn
        except OperationalError as error:
            if isinstance(error.__cause__, PoolTimeout):
                raise DatabaseUnavailable(str(error)) from error
            raise


class Factory(PostgresFactory):
    """eventsourcing's PostgreSQL persistence with the binary insert above, failing fast
    while the database is unreachable."""

    application_recorder_class = ApplicationRecorder
    process_recorder_class = ProcessRecorder

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        # eventsourcing builds its datastore inline; this subclass only changes how a
        # connection is got, so the instance takes its class
        self.datastore.__class__ = FailFastDatastore
        if self.datastore.pre_ping:  # eventsourcing's pool checks every checkout; see above
            self.datastore.pool._check = check_when_idle
