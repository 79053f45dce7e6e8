"""The event store on the real PostgreSQL: what is saved is read back byte for byte."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import (
    InfrastructureFactory,
    IntegrityError,
    StoredEvent,
    Tracking,
)
from eventsourcing.utils import Environment

from services.intake.bootstrap import MIGRATIONS
from shared.migrations import migrate
from shared.store import connect, eventsourcing_env
from tests.conftest import fresh

pytestmark = pytest.mark.integration

# every byte value, and the characters a text-format composite would have to quote or escape
AWKWARD = bytes(range(256)) + b'",\\() \t\n{}'


_recorders: list[Any] = []


@pytest.fixture(autouse=True, scope="module")
def _close_recorders() -> Iterator[None]:
    """The recorders' pools closed here, not finalised later from one of their threads."""
    yield
    for recorder in _recorders:
        recorder.datastore.close()


def intake_recorder(infra: Any, name: str) -> Any:
    """A process recorder of intake's events table in a fresh database of its own."""
    settings = fresh(infra)
    migrate(settings, "intake", *MIGRATIONS)
    env = Environment(name, eventsourcing_env(settings, "intake") | {"CREATE_TABLE": "y"})
    recorder = InfrastructureFactory.construct(env=env).process_recorder()
    _recorders.append(recorder)
    return recorder


def test_states_of_every_byte_value_are_stored_and_read_back_unchanged(infra) -> None:
    recorder = intake_recorder(infra, "bytes")
    assert "%b" in recorder.insert_events_statement.as_string()  # the binary path under test

    a, b = uuid4(), uuid4()
    events = [
        StoredEvent(a, 1, "t.Created", AWKWARD),
        StoredEvent(a, 2, "t.Changed", b""),
        StoredEvent(b, 1, "t.Créé 标题", AWKWARD[::-1]),
    ]
    ids = recorder.insert_events(events, tracking=Tracking("upstream", 7))

    assert ids is not None and len(ids) == 3
    assert [e.state for e in recorder.select_events(a)] == [AWKWARD, b""]
    [read] = recorder.select_events(b)
    assert (read.topic, read.state) == ("t.Créé 标题", AWKWARD[::-1])
    assert recorder.max_tracking_id("upstream") == 7
    assert [n.id for n in recorder.select_notifications(start=None, limit=10)] == ids


def test_a_batch_from_several_partitions_records_each_position_or_nothing(infra) -> None:
    """A consumer's poll from several partitions is saved with the position reached in each,
    in the one transaction; a redelivery of any of them saves nothing of the batch."""
    recorder = intake_recorder(infra, "parts")
    a, b = uuid4(), uuid4()
    recorder.insert_events(
        [StoredEvent(a, 1, "t.Created", b"a")],
        trackings=[Tracking("kafka:intake:0", 4), Tracking("kafka:routing:3", 9)],
    )
    assert recorder.max_tracking_id("kafka:intake:0") == 4
    assert recorder.max_tracking_id("kafka:routing:3") == 9

    with pytest.raises(IntegrityError):  # routing:3 at 9 again, beside a new position
        recorder.insert_events(
            [StoredEvent(b, 1, "t.Created", b"b")],
            trackings=[Tracking("kafka:intake:0", 5), Tracking("kafka:routing:3", 9)],
        )
    assert recorder.select_events(b) == [] and recorder.max_tracking_id("kafka:intake:0") == 4

    recorder.insert_events([], trackings=[Tracking("kafka:intake:0", 6)])  # positions alone
    assert recorder.max_tracking_id("kafka:intake:0") == 6
    with pytest.raises(IntegrityError):
        recorder.insert_events([], trackings=[Tracking("kafka:intake:0", 6)])


def test_a_large_batch_is_saved_through_the_socket_where_pipeline_mode_hung(infra) -> None:
    """1,000 events of 1.5 kB with six partitions' positions, ten times: sent in pipeline
    mode (eventsourcing's way) through the Unix socket, the first such batch hung for ever,
    client and server each waiting for the other."""
    recorder = intake_recorder(infra, "large")
    saved: list[int] = []

    def save() -> None:
        for n in range(1, 11):
            events = [StoredEvent(uuid4(), 1, "t.Created", os.urandom(1500)) for _ in range(1000)]
            positions = [Tracking(f"kafka:intake:{p}", n) for p in range(6)]
            saved.extend(recorder.insert_events(events, trackings=positions) or [])

    saver = threading.Thread(target=save, daemon=True)
    saver.start()
    saver.join(60)
    assert not saver.is_alive(), f"hung after {len(saved):,} events"
    assert len(saved) == 10_000 and saved == sorted(saved)
    assert recorder.max_tracking_id("kafka:intake:5") == 10


def test_the_events_of_many_aggregates_are_read_in_one_go_each_after_its_version(infra) -> None:
    recorder = intake_recorder(infra, "many")
    a, b, c, unknown = uuid4(), uuid4(), uuid4(), uuid4()
    recorder.insert_events(
        [StoredEvent(x, v, f"t.E{v}", AWKWARD[:v]) for x in (a, b, c) for v in (1, 2, 3)],
        tracking=Tracking("upstream", 1),
    )

    found = recorder.select_events_after({a: 0, b: 2, c: 3, unknown: 0})

    assert {x: [e.originator_version for e in found[x]] for x in found} == {
        a: [1, 2, 3],
        b: [3],
        c: [],
        unknown: [],
    }
    assert found[a] == recorder.select_events(a)  # the same events, byte for byte


def test_our_reads_of_one_aggregate_and_of_the_log_are_eventsourcings_reads(infra) -> None:
    """`select_events` and `select_notifications` are ours (statements composed once, plain
    rows): for every combination of their arguments they answer what eventsourcing's own
    answer, in the same order."""
    from itertools import product

    from eventsourcing.postgres import PostgresApplicationRecorder as Theirs

    recorder = intake_recorder(infra, "reads")
    a, b = uuid4(), uuid4()
    recorder.insert_events(
        [StoredEvent(x, v, f"t.E{v % 3}", AWKWARD[:v]) for v in range(1, 8) for x in (a, b)],
        tracking=Tracking("upstream", 1),
    )
    compared = 0
    for gt, lte, desc, limit in product((None, 0, 3), (None, 2, 6), (False, True), (None, 2)):
        ours = recorder.select_events(a, gt=gt, lte=lte, desc=desc, limit=limit)
        theirs = Theirs.select_events(recorder, a, gt=gt, lte=lte, desc=desc, limit=limit)
        assert ours == theirs, (gt, lte, desc, limit)
        compared += len(ours)
    for start, stop, topics, inclusive in product(
        (None, 1, 5), (None, 9), ((), ("t.E1", "t.E2")), (True, False)
    ):
        args = {"stop": stop, "topics": topics, "inclusive_of_start": inclusive}
        ours_n = recorder.select_notifications(start, 6, **args)
        theirs_n = Theirs.select_notifications(recorder, start, 6, **args)
        assert ours_n == theirs_n, (start, stop, topics, inclusive)
        compared += len(ours_n)
    assert compared > 100


def _inserting(recorder: Any, aggregate: UUID) -> threading.Thread:
    """Saves one event in a thread of its own (it may have to wait for a lock)."""
    thread = threading.Thread(
        target=recorder.insert_events, args=([StoredEvent(aggregate, 1, "t.Created", b"{}")],)
    )
    thread.start()
    return thread


def test_a_vacuum_of_the_events_table_does_not_hold_up_a_save_but_writers_take_turns(
    infra,
) -> None:
    settings = fresh(infra)
    migrate(settings, "intake", *MIGRATIONS)
    env = Environment("turns", eventsourcing_env(settings, "intake") | {"CREATE_TABLE": "y"})
    recorder = InfrastructureFactory.construct(env=env).process_recorder()
    table = f"{recorder.datastore.schema}.{recorder.events_table_name}"

    # the lock a (auto)vacuum holds on the table for as long as it runs
    with connect(settings, autocommit=False) as vacuum:
        vacuum.execute(f"LOCK TABLE {table} IN SHARE UPDATE EXCLUSIVE MODE")
        saving = _inserting(recorder, uuid4())
        saving.join(10)
        assert not saving.is_alive(), "a save waited for the vacuum to end"

    # another writer in the middle of its transaction: the save waits for its commit
    with connect(settings, autocommit=False) as writer:
        writer.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"onestop-events:{table}",))
        waiting = _inserting(recorder, uuid4())
        waiting.join(1.0)
        assert waiting.is_alive(), "a save did not wait for the writer before it"
    waiting.join(10)
    assert not waiting.is_alive()

    # a copy of an earlier release (eventsourcing's table lock) and this one take turns too
    with connect(settings, autocommit=False) as earlier:
        earlier.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")
        behind = _inserting(recorder, uuid4())
        behind.join(1.0)
        assert behind.is_alive(), "a save did not wait for an earlier release's writer"
    behind.join(10)
    assert not behind.is_alive()
    assert len(recorder.select_notifications(start=None, limit=10)) == 3


def test_the_server_the_scripts_manage_is_reached_through_its_socket(infra) -> None:
    """`make up`/`make test` run PostgreSQL on this host: the pools and the event store
    connect through its Unix socket (no client address), not over TCP loopback."""
    if os.environ.get("ONESTOP_PG_MANAGED", "true") == "false":
        pytest.skip("an external server (ONESTOP_PG_MANAGED=false) may be on another host")
    assert infra.pg_address() == infra.pg_socket_dir
    who = (
        "SELECT client_addr, inet_server_addr() FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    )
    with connect(infra) as conn:
        assert conn.execute(who).fetchone() == (None, None)
    recorder = intake_recorder(infra, "intake")
    with recorder.datastore.get_connection() as conn:
        assert tuple(conn.execute(who).fetchone().values()) == (None, None)
