"""A served process sets its start-up heap aside from the garbage collector's full scans."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

import shared.service
from shared.service import settle_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_only_a_served_process_freezes_its_heap_once_ready() -> None:
    assert shared.service.SETTLE_HEAP is False  # tests start many APIs in one process


def test_what_exists_when_ready_is_no_longer_scanned_and_young_objects_get_longer(
    restored_gc: None,
) -> None:
    kept = [[i] for i in range(1_000)]  # stands for what a service builds as it starts
    before = len(gc.get_objects())

    settle_heap()

    assert gc.get_freeze_count() >= len(kept)
    assert len(gc.get_objects()) < before - len(kept)  # a full collection no longer sees them
    assert gc.get_threshold()[0] == 10_000
