"""Schema changes as versioned migrations: numbered SQL files, applied in order at start.

Each owner of tables keeps its changes as files `NNNN_name.sql` in a package of its own
(`services/intake/migrations/`, and this package for the tables shared code keeps in every
service's schema). A service applies its owners' files to its schema before anything else
touches it. The schema's `schema_migrations` table records each file applied — owner,
version, name, checksum, when — so that:

* a start applies only what is new, in order, each file in its own transaction with its
  record, so a failed file leaves nothing half-done and is tried again at the next start;
* two processes starting at once are safe: they take turns under a PostgreSQL advisory lock,
  and the second finds nothing left to do;
* a file that was applied and then edited is refused, loudly, before anything is applied: a
  database must never silently differ from what its recorded files say. Change a schema by
  adding a file.

Files name their tables unqualified: they run with the service's schema as the search path,
so the same file serves any schema. A first file of an owner whose tables an earlier release
created inline says `IF NOT EXISTS`, so a database from that release upgrades cleanly.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import psycopg
from psycopg import sql

from shared.settings import Settings
from shared.store import connect, schema_lock

log = logging.getLogger(__name__)

SHARED = __name__
"""The tables shared code keeps in every service's schema (the relay's position)."""

FILE_NAME = re.compile(r"(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql")


class MigrationError(RuntimeError):
    """The schema cannot be brought up to date safely; the service must not start."""


@dataclass(frozen=True)
class Migration:
    """One numbered SQL file of an owner (the package that ships it)."""

    owner: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def __str__(self) -> str:
        return f"{self.owner} {self.version:04d}_{self.name}"


def read_migrations(owner: str, folder: Traversable) -> list[Migration]:
    """The numbered SQL files in `folder`, in order. A `.sql` file named otherwise, or a
    number used twice, is refused: either would make the order ambiguous."""
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = FILE_NAME.fullmatch(entry.name)
        if match is None:
            raise MigrationError(
                f"{owner}: {entry.name} is not named NNNN_name.sql (four digits, lower-case "
                "name): its place in the order is unknown"
            )
        version = int(match["version"])
        if version in found:
            raise MigrationError(
                f"{owner}: two files are number {version:04d} ({found[version].name}, "
                f"{match['name']}); renumber one"
            )
        found[version] = Migration(
            owner, version, match["name"], entry.read_bytes().decode("utf-8")
        )
    return [found[v] for v in sorted(found)]


def package_migrations(package: str) -> list[Migration]:
    """The migrations shipped in a package (as package data), owned by that package."""
    return read_migrations(package, resources.files(package))


def migrate(settings: Settings, schema: str, *packages: str) -> list[Migration]:
    """Brings `schema` up to date with the migrations of `packages`, in that order."""
    return apply(settings, schema, [m for p in packages for m in package_migrations(p)])


def apply(settings: Settings, schema: str, migrations: Sequence[Migration]) -> list[Migration]:
    """Applies those of `migrations` that `schema` has not recorded; returns them."""
    with connect(settings) as conn, schema_lock(conn, schema):
        with conn.transaction():
            conn.execute(
                sql.SQL(
                    """
                    CREATE SCHEMA IF NOT EXISTS {schema};
                    CREATE TABLE IF NOT EXISTS {table} (
                        owner text NOT NULL,
                        version integer NOT NULL,
                        name text NOT NULL,
                        checksum text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now(),
                        PRIMARY KEY (owner, version)
                    )
                    """
                ).format(schema=sql.Identifier(schema), table=_table(schema))
            )
        recorded = {
            (owner, version): (name, checksum)
            for owner, version, name, checksum in conn.execute(
                sql.SQL("SELECT owner, version, name, checksum FROM {}").format(_table(schema))
            ).fetchall()
        }
        _refuse_changed(schema, migrations, recorded)
        known = {(m.owner, m.version) for m in migrations}
        for owner, version in sorted(recorded.keys() - known):
            log.warning(
                "%s: migration %s %04d_%s is recorded but not shipped with this release",
                schema,
                owner,
                version,
                recorded[owner, version][0],
            )
        pending = [m for m in migrations if (m.owner, m.version) not in recorded]
        for migration in pending:
            _apply_one(conn, schema, migration)
    return pending


def _table(schema: str) -> sql.Identifier:
    return sql.Identifier(schema, "schema_migrations")


def _refuse_changed(
    schema: str, migrations: Sequence[Migration], recorded: dict[tuple[str, int], tuple[str, str]]
) -> None:
    changed = [
        f"{m} (applied with checksum {recorded[m.owner, m.version][1][:12]}…, "
        f"the file now has {m.checksum[:12]}…)"
        for m in migrations
        if (m.owner, m.version) in recorded and recorded[m.owner, m.version][1] != m.checksum
    ]
    if changed:
        raise MigrationError(
            f"{schema}: refusing to migrate: applied migrations were changed since: "
            + "; ".join(changed)
            + ". Restore them and put the change in a new numbered file."
        )


def _apply_one(conn: psycopg.Connection[Any], schema: str, migration: Migration) -> None:
    with conn.transaction():
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(migration.sql)
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (owner, version, name, checksum) VALUES (%s, %s, %s, %s)"
            ).format(_table(schema)),
            (migration.owner, migration.version, migration.name, migration.checksum),
        )
    log.info("%s: applied migration %s", schema, migration)
