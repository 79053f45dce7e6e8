"""Wrong case codes per client address: the petitioner looks a case up with its code and no
account, so someone guessing codes is slowed down by where they ask from — after `LIMIT`
wrong codes in `WINDOW` seconds, that address waits.

The count is kept where every copy of follow-up sees the same one: in PostgreSQL
(`PostgresAttempts`). Counted in each process's memory, every copy allowed its own ten, so
two copies behind one load balancer let an address guess twenty codes, N copies N × 10.
Unit tests count in memory (`MemoryAttempts`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from psycopg import sql

from shared.http import TooManyRequests
from shared.settings import Settings
from shared.store import LazyPool

LIMIT = 10
WINDOW = 600.0


def refusal(wait: float) -> TooManyRequests:
    seconds = int(wait) + 1
    return TooManyRequests(f"too many wrong case codes; try again in {seconds} s", seconds)


class CodeAttempts(Protocol):
    def check(self, client: str) -> None:
        """Raises TooManyRequests (with how long to wait) if `client` used up its attempts."""
        ...

    def failed(self, client: str) -> None:
        """Count one wrong code from `client`."""
        ...

    def close(self) -> None: ...


class MemoryAttempts:
    """One process's count (unit tests)."""

    def __init__(self, limit: int = LIMIT, window: float = WINDOW) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def check(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            recent = [t for t in self._failures.get(client, []) if now - t < self.window]
            self._failures[client] = recent
            if len(recent) >= self.limit:
                raise refusal(self.window - (now - recent[0]))

    def failed(self, client: str) -> None:
        with self._lock:
            now = time.monotonic()
            self._failures.setdefault(client, []).append(now)
            if len(self._failures) > 10_000:  # many addresses: forget the quiet ones
                self._failures = {
                    c: times for c, times in self._failures.items() if now - times[-1] < self.window
                }

    def close(self) -> None:
        pass


@dataclass
class PostgresAttempts:
    """The count every copy of follow-up shares, in its schema's `code_attempts` table
    (services/followup/migrations), timed by the database's clock so that copies on hosts
    whose clocks differ still count one window."""

    settings: Settings
    schema: str = "followup"
    limit: int = LIMIT
    window: float = WINDOW
    _pool: LazyPool = field(init=False)

    def __post_init__(self) -> None:
        self._pool = LazyPool(self.settings, f"{self.schema}-code-attempts", 2)

    def _connection(self) -> Any:
        return self._pool.connection()

    def _table(self) -> sql.Identifier:
        return sql.Identifier(self.schema, "code_attempts")

    def check(self, client: str) -> None:
        with self._connection() as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), extract(epoch FROM now() - min(at)) FROM {} "
                    "WHERE client = %s AND at > now() - make_interval(secs => %s)"
                ).format(self._table()),
                (client, self.window),
            ).fetchone()
        if row is not None and row[0] >= self.limit:
            raise refusal(self.window - float(row[1]))

    def failed(self, client: str) -> None:
        with self._connection() as conn, conn.transaction():
            conn.execute(
                sql.SQL("INSERT INTO {} (client) VALUES (%s)").format(self._table()), (client,)
            )
            # what no window counts any more goes as new failures come (there are few)
            conn.execute(
                sql.SQL("DELETE FROM {} WHERE at <= now() - make_interval(secs => %s)").format(
                    self._table()
                ),
                (self.window,),
            )

    def close(self) -> None:
        self._pool.close()
