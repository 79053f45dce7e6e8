"""A served process sets its start-up heap aside from the garbage collector's full scans."""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
import time
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


def test_what_a_process_freed_between_the_pages_it_still_uses_is_given_back() -> None:
    """~90 MB of mid-sized objects freed but for every 64th: the allocator keeps the pages
    (nothing to trim at the top of the heap); a trim hands them back to the system."""
    script = """
import sys
from shared.service import _malloc_trim
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
blocks = [bytes(1500) + i.to_bytes(4, "little") for i in range(60_000)]
kept = blocks[::64]
del blocks
before = rss()
_malloc_trim()(0)
print(before, rss())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    before, after = map(int, done.stdout.split())
    assert after < before - 40, (before, after)


def test_the_heap_is_trimmed_at_its_interval_and_less_often_when_a_trim_is_slow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shared.service, "TRIM_SECONDS", 0.01)
    stop = threading.Event()
    calls: list[float] = []

    def trim(pad: int) -> int:
        calls.append(time.monotonic())
        if len(calls) == 3:
            time.sleep(0.005)  # 100 × 5 ms: the next waits ~0.5 s, not 0.01 s
        if len(calls) == 4:
            stop.set()
        return 1

    worker = threading.Thread(target=shared.service.trim_heap, args=(stop, trim, lambda: 0))
    worker.start()
    worker.join(5)
    assert len(calls) == 4
    assert calls[1] - calls[0] < 0.2
    assert calls[3] - calls[2] >= 0.45


def test_allocations_no_longer_start_a_full_collection_the_heap_worker_makes_them(
    restored_gc: None,
) -> None:
    settle_heap()
    old = [[] for _ in range(10_000)]
    for a in old:
        a.append(a)  # a cycle: only a collection of its generation frees it
    gc.collect(1)  # they have lived long: the oldest generation holds them
    del old, a
    full = gc.get_stats()[2]["collections"]
    for _ in range(300):  # ~3 million allocations: 15 full collections at (10,000, 20, 20)
        young = [[] for _ in range(10_000)]
        del young
    assert gc.get_stats()[2]["collections"] == full

    stop = threading.Event()
    collected: list[int] = []

    def collect() -> int:
        collected.append(gc.collect())
        stop.set()
        return collected[-1]

    before = shared.service.TRIM_SECONDS, shared.service.FULL_SECONDS
    shared.service.TRIM_SECONDS = shared.service.FULL_SECONDS = 0.01
    try:
        shared.service.trim_heap(stop, lambda pad: 1, collect)
    finally:
        shared.service.TRIM_SECONDS, shared.service.FULL_SECONDS = before
    assert gc.get_stats()[2]["collections"] == full + 1
    assert collected[0] >= 10_000  # the old cycles, which no young collection reached


def test_the_heap_is_collected_in_full_only_every_full_seconds_and_trimmed_between(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A full collection holds the whole process (50–110 ms each under load, finding a few
    hundred objects): made every trim, it was the slowest requests; now one per
    `FULL_SECONDS`, the trims as often as before."""
    monkeypatch.setattr(shared.service, "TRIM_SECONDS", 0.001)
    monkeypatch.setattr(shared.service, "FULL_SECONDS", 100.0)
    now = [0.0]
    stop = threading.Event()
    trims: list[float] = []
    collections: list[float] = []

    def trim(pad: int) -> int:
        trims.append(now[0])
        now[0] += 30.0  # each trim half a minute after the one before, on this clock
        if len(trims) == 10:
            stop.set()
        return 1

    shared.service.trim_heap(stop, trim, lambda: collections.append(now[0]), lambda: now[0])
    assert trims == [30.0 * i for i in range(10)]
    assert collections == [120.0, 240.0]  # at the first trims 100 s past the last


def test_every_collection_is_timed_and_what_it_freed_counted_in_the_metrics() -> None:
    from shared.metrics import Metrics

    metrics = Metrics()
    timed = metrics.time_collections()
    cycles = [[] for _ in range(500)]
    for cycle in cycles:
        cycle.append(cycle)
    del cycles, cycle
    gc.callbacks.append(timed)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(timed)
    page = metrics.render().decode()
    assert 'onestop_gc_pause_seconds_count{generation="2"} 1.0' in page
    freed = next(
        line
        for line in page.splitlines()
        if line.startswith('onestop_gc_freed_objects_total{generation="2"}')
    )
    assert float(freed.split()[-1]) >= 500
