"""Reading an aggregate never changes the cached object that a consumer's batch may be
changing at the same time (shared/repository.py)."""

from eventsourcing.domain import Aggregate, event

from shared.processing import TrackedApplication


class Tally(Aggregate):
    def __init__(self) -> None:
        self.count = 0

    @event("Counted")
    def count_up(self) -> None:
        self.count += 1


def stored_elsewhere(app: TrackedApplication, tally: Tally) -> None:
    """What another process does: saves a newer event this process's cache has not seen."""
    theirs = app.repository.get(tally.id)
    theirs.count_up()
    app.events.put(theirs.collect_events())


def test_a_read_brings_a_copy_up_to_date_and_leaves_the_cached_object_as_it_was() -> None:
    app = TrackedApplication()
    tally = Tally()
    app.save(tally)
    app.remember(tally)
    assert app.repository.cache is not None
    held = app.repository.cache.get(tally.id)  # what a batch taking it would be changing
    stored_elsewhere(app, tally)

    read = app.repository.get(tally.id)

    assert (read.version, read.count) == (2, 1)
    assert (held.version, held.count) == (1, 0)  # eventsourcing's own repository moved it to 2
    cached = app.repository.cache.get(tally.id)
    assert cached.version == 2 and cached is not read and cached is not held


def test_an_aggregate_a_batch_took_is_read_from_the_store_and_not_touched() -> None:
    app = TrackedApplication()
    tally = Tally()
    app.save(tally)
    app.remember(tally)
    taken = app.repository.take(tally.id)
    assert taken is not None
    stored_elsewhere(app, tally)

    read = app.repository.get(tally.id)

    assert read.version == 2 and taken.version == 1
    assert app.repository.take(tally.id) is not taken  # the read cached its own copy


def test_a_quick_look_reads_the_cached_object_in_place_only_while_nothing_newer_is_stored() -> None:
    app = TrackedApplication()
    tally = Tally()
    app.save(tally)
    app.remember(tally)
    assert app.repository.cache is not None
    held = app.repository.cache.get(tally.id)

    seen = app.repository.read(tally.id, lambda t: (t, t.count))
    assert seen == (held, 0)  # the cached object itself: nothing copied

    stored_elsewhere(app, tally)
    looked, count = app.repository.read(tally.id, lambda t: (t, t.count))
    assert count == 1 and looked is not held  # newer events: read up to date, not in place
    assert (held.version, held.count) == (1, 0)
