"""Group commit: many requests' events saved in one transaction.

An application's save takes a table lock so that notification order equals commit order,
which caps one application at roughly a thousand saves a second whatever the number of
threads. Saving what several concurrent requests produced together lifts that cap; each
caller still waits until its own events are durable.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

_Item = tuple[Sequence[Any], "Future[None]"]


class GroupCommitter:
    def __init__(
        self,
        save: Callable[..., Any],
        max_batch: int = 256,
        after_save: Callable[[], None] = lambda: None,
    ) -> None:
        self._save = save
        self._after_save = after_save
        self._max_batch = max_batch
        self._queue: queue.Queue[_Item] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def save(self, *aggregates: Any, timeout: float = 30.0) -> None:
        """Durably save the aggregates' pending events; raises what the save raised."""
        events = [e for a in aggregates for e in a.collect_events()]
        done: Future[None] = Future()
        self._queue.put((events, done))
        done.result(timeout)

    def _run(self) -> None:
        while not self._stop.is_set() or not self._queue.empty():
            try:
                batch = [self._queue.get(timeout=0.1)]
            except queue.Empty:
                continue
            while len(batch) < self._max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._flush(batch)
            self._after_save()

    def _flush(self, batch: list[_Item]) -> None:
        try:
            self._save(*[e for events, _ in batch for e in events])
        except Exception as error:
            if len(batch) == 1:
                batch[0][1].set_exception(error)
                return
            for item in batch:  # one bad request must not fail the others: isolate it
                self._flush([item])
            return
        for _, done in batch:
            done.set_result(None)
