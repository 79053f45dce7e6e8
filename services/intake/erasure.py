"""Erasure that keeps the proof: each petitioner's personal data sealed under a key of
their own, so destroying that key erases them everywhere at once (crypto-shredding).

Personal data lives only in intake's stored events: a registration's petitioners and the
registry's entries. When an event is stored, each petitioner's details in it are sealed
(AES-256-GCM) under their own **person key** — the registry id's, or, for someone the
registry does not know, one of their case's — and the sealed value names the key
(`Sealed`). Person keys are kept in `intake.person_keys`, each wrapped by the data keyring
(`shared.cipher`: rotated with it, `onestop keys reencrypt` wraps them again under the
newest key). Erasing a petitioner (the retention period over, or a lawful request) records
that it happened, then destroys their keys: from then on every copy of their details —
in every stored event, in every backup of the store — reads as erased (`ERASED`), while
the wire events, which never carried personal data, and so every case history, checkpoint
and dossier, still verify.

Events stored by earlier releases hold personal data unsealed (under the data keyring
only): erasing someone first writes their events again, sealed, and then destroys the key.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, cast
from uuid import UUID, uuid4

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import MapperDeserialisationError, StoredEvent, find_id_convertor
from eventsourcing.utils import get_topic, resolve_topic
from psycopg import sql

from shared.cipher import FastAESCipher
from shared.scrub import scrub
from shared.settings import Settings
from shared.store import LazyPool, connect
from shared.values import TypedMapper, typed


@dataclass(frozen=True)
class Sealed:
    """A personal value as stored: sealed under the key `key_id` of `subject` (a person).
    `shape` says what it reads as once the key is destroyed."""

    subject: str
    key_id: str
    box: str
    shape: str
    """`person` (a PersonDetails), `name`, or `field` (anything else: reads as none)."""


class PersonKeys(Protocol):
    """The person keys, each wrapped by the data keyring."""

    def current(self, subject: str) -> tuple[str, bytes]:
        """The subject's live key (id, raw key), made if it has none."""
        ...

    def current_many(self, subjects: list[str]) -> dict[str, tuple[str, bytes]]:
        """`current` of each of several (distinct) subjects, at once."""
        ...

    def find(self, key_id: str) -> bytes | None:
        """A key by its id; None once destroyed."""
        ...

    def destroy(self, subject: str, at: datetime) -> int:
        """Destroy every key of the subject; returns how many there were."""
        ...

    def destroyed(self) -> int:
        """How many keys were ever destroyed, by any process: it only grows."""
        ...

    def rewrap(self) -> tuple[int, int]:
        """Wrap again under the newest data key what an older one wrapped: (rewrapped, seen)."""
        ...

    def close(self) -> None: ...


@dataclass
class MemoryPersonKeys:
    """For fast unit tests: the same rules in a dict (unwrapped: nothing to rotate)."""

    keys: dict[str, tuple[str, bytes | None]] = field(default_factory=dict)

    def current(self, subject: str) -> tuple[str, bytes]:
        for key_id, (owner, key) in self.keys.items():
            if owner == subject and key is not None:
                return key_id, key
        key_id, key = str(uuid4()), AESGCM.generate_key(256)
        self.keys[key_id] = (subject, key)
        return key_id, key

    def current_many(self, subjects: list[str]) -> dict[str, tuple[str, bytes]]:
        return {subject: self.current(subject) for subject in subjects}

    def find(self, key_id: str) -> bytes | None:
        return self.keys.get(key_id, ("", None))[1]

    def destroy(self, subject: str, at: datetime) -> int:
        doomed = [k for k, (owner, key) in self.keys.items() if owner == subject and key]
        for key_id in doomed:
            self.keys[key_id] = (subject, None)
        return len(doomed)

    def destroyed(self) -> int:
        return sum(1 for _, key in self.keys.values() if key is None)

    def rewrap(self) -> tuple[int, int]:
        return 0, len(self.keys)

    def close(self) -> None:
        pass


@dataclass
class PostgresPersonKeys:
    """`intake.person_keys` (migrations/0005_person_keys.sql): one row per key; a destroyed
    key keeps its row (who it was of, when it was destroyed) without the key."""

    settings: Settings
    cipher: FastAESCipher
    schema: str = "intake"
    _pool: LazyPool = field(init=False)

    def _table(self) -> sql.Identifier:
        return sql.Identifier(self.schema, "person_keys")

    def __post_init__(self) -> None:
        self._pool = LazyPool(self.settings, "intake-person-keys", 4)

    def _connection(self) -> Any:
        """A pooled connection: a registration of someone new asks for their key on the
        way to being saved, and must not wait for a connection to be made."""
        return self._pool.connection()

    def close(self) -> None:
        self._pool.close()

    def current(self, subject: str) -> tuple[str, bytes]:
        with self._connection() as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT key_id, wrapped FROM {} WHERE subject = %s AND wrapped IS NOT NULL"
                ).format(self._table()),
                (subject,),
            ).fetchone()
            if row is not None:
                return str(row[0]), self.cipher.decrypt(bytes(row[1]))
            key_id, key = uuid4(), AESGCM.generate_key(256)
            inserted = conn.execute(
                sql.SQL(
                    "INSERT INTO {} (key_id, subject, wrapped) VALUES (%s, %s, %s) "
                    "ON CONFLICT (subject) WHERE wrapped IS NOT NULL DO NOTHING RETURNING key_id"
                ).format(self._table()),
                (key_id, subject, self.cipher.encrypt(key)),
            ).fetchone()
        if inserted is None:  # another request made it first: use theirs
            return self.current(subject)
        return str(key_id), key

    def current_many(self, subjects: list[str]) -> dict[str, tuple[str, bytes]]:
        """One transaction for all: the keys there are, and new ones for the others."""
        found: dict[str, tuple[str, bytes]] = {}
        made = {s: (uuid4(), AESGCM.generate_key(256)) for s in subjects}
        with self._connection() as conn, conn.transaction():
            for subject, key_id, wrapped in conn.execute(
                sql.SQL(
                    "SELECT subject, key_id, wrapped FROM {} "
                    "WHERE subject = ANY(%s) AND wrapped IS NOT NULL"
                ).format(self._table()),
                (subjects,),
            ):
                found[subject] = (str(key_id), self.cipher.decrypt(bytes(wrapped)))
                del made[subject]
            if made:
                inserted = conn.execute(
                    sql.SQL(
                        "INSERT INTO {} (key_id, subject, wrapped) "
                        "SELECT * FROM unnest(%s::uuid[], %s::text[], %s::bytea[]) "
                        "ON CONFLICT (subject) WHERE wrapped IS NOT NULL DO NOTHING "
                        "RETURNING subject"
                    ).format(self._table()),
                    (
                        [key_id for key_id, _ in made.values()],
                        list(made),
                        [self.cipher.encrypt(key) for _, key in made.values()],
                    ),
                ).fetchall()
                for (subject,) in inserted:
                    key_id, key = made[subject]
                    found[subject] = (str(key_id), key)
        lost = [s for s in subjects if s not in found]  # another process made theirs first
        return found | (self.current_many(lost) if lost else {})

    def find(self, key_id: str) -> bytes | None:
        with self._connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT wrapped FROM {} WHERE key_id = %s").format(self._table()),
                (UUID(key_id),),
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return self.cipher.decrypt(bytes(row[0]))

    def destroy(self, subject: str, at: datetime) -> int:
        with self._connection() as conn:
            done = conn.execute(
                sql.SQL(
                    "UPDATE {} SET wrapped = NULL, destroyed_at = %s "
                    "WHERE subject = %s AND wrapped IS NOT NULL"
                ).format(self._table()),
                (at, subject),
            )
            return done.rowcount

    def destroyed(self) -> int:
        with self._connection() as conn:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE wrapped IS NULL").format(self._table())
            ).fetchone()
        return int(row[0]) if row else 0

    def rewrap(self) -> tuple[int, int]:
        rewrapped = seen = 0
        with connect(self.settings, autocommit=False) as conn:
            rows = conn.execute(
                sql.SQL("SELECT key_id, wrapped FROM {} WHERE wrapped IS NOT NULL").format(
                    self._table()
                )
            ).fetchall()
            for key_id, wrapped in rows:
                seen += 1
                again = self.cipher.reencrypt(bytes(wrapped))
                if again is not None:
                    conn.execute(
                        sql.SQL("UPDATE {} SET wrapped = %s WHERE key_id = %s").format(
                            self._table()
                        ),
                        (again, key_id),
                    )
                    rewrapped += 1
            conn.commit()
        return rewrapped, seen


class Sealer:
    """Seals and opens personal values under person keys; keeps the keys it used last in
    memory — the last `KEPT` of each kind, not one per person ever seen: a process that
    registers a city's petitioners for a year would otherwise hold a million keys. The keys
    are kept as their 32 bytes and a cipher made for each use (3 µs): a kept `AESGCM` holds
    OpenSSL's context, ~2.5 KB, and the two sets of 10,000 grew intake by some 50 MB under
    sustained registration.

    A key destroyed here is forgotten at once (`forget`); one another process destroyed
    (a second intake erased someone), within `CHECK_SECONDS`: the sealer counts the
    destroyed keys in the store at most that often, and forgets every key it keeps when
    the count moved. Kept until restart, as they were, a second process went on showing
    an erased person's details, and sealed a returning person's new ones under their
    destroyed key — unreadable from its next start."""

    KEPT = 10_000
    CHECK_SECONDS = 1.0

    def __init__(self, keys: PersonKeys) -> None:
        self.keys = keys
        self._open: OrderedDict[str, bytes | None] = OrderedDict()
        self._current: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self._destroyed: int | None = None
        self._checked_at = float("-inf")

    def _check(self) -> None:
        """Forget every kept key if any was destroyed since the last look (see above)."""
        if time.monotonic() - self._checked_at < self.CHECK_SECONDS:
            return
        destroyed = self.keys.destroyed()
        with self._lock:
            if destroyed != self._destroyed:
                self._open.clear()
                self._current.clear()
                self._destroyed = destroyed
            self._checked_at = time.monotonic()

    def _keep(self, kept: OrderedDict[str, Any], name: str, value: Any) -> None:
        with self._lock:
            kept[name] = value
            kept.move_to_end(name)
            while len(kept) > self.KEPT:
                kept.popitem(last=False)

    def _have(self, subject: str, found: tuple[str, bytes]) -> None:
        """A subject's current key, kept for sealing their values and for opening what it
        sealed: the relay reads each registration back at once to publish it, and asking
        the store for the key it was just sealed with was a query per petitioner."""
        self._keep(self._current, subject, found)
        self._keep(self._open, found[0], found[1])

    def prepare(self, subjects: Iterable[str]) -> None:
        """Have these subjects' keys at hand, made if they have none — asking the store once
        for all it does not keep: a group of registrations of people new to the centre
        makes their keys in one transaction, where sealing them one by one made each in its
        own (a commit each, in turn, on the way to storing the group)."""
        self._check()
        with self._lock:
            missing = [s for s in dict.fromkeys(subjects) if s not in self._current]
        if missing:
            for subject, found in self.keys.current_many(missing).items():
                self._have(subject, found)

    def seal(self, subject: str, plain: bytes, shape: str) -> Sealed:
        self._check()
        with self._lock:
            found = self._current.get(subject)
            if found is not None:
                self._current.move_to_end(subject)
        if found is None:
            found = self.keys.current(subject)
            self._have(subject, found)
        nonce = os.urandom(12)
        box = nonce + AESGCM(found[1]).encrypt(nonce, plain, subject.encode())
        return Sealed(subject, found[0], base64.b64encode(box).decode(), shape)

    def open(self, sealed: Sealed) -> bytes | None:
        """The plain bytes, or None: the key was destroyed (the person was erased)."""
        self._check()
        with self._lock:
            known = sealed.key_id in self._open
            key = self._open.get(sealed.key_id)
            if known:
                self._open.move_to_end(sealed.key_id)
        if not known:
            key = self.keys.find(sealed.key_id)
            self._keep(self._open, sealed.key_id, key)
        if key is None:
            return None
        box = base64.b64decode(sealed.box)
        return AESGCM(key).decrypt(box[:12], box[12:], sealed.subject.encode())

    def forget(self, subject: str) -> None:
        with self._lock:
            self._current.pop(subject, None)
            self._open.clear()


# --- which values of which events are personal ---------------------------------------------


class SealingMapper(TypedMapper):
    """Stores an intake event with its personal values sealed (`Sealed`), and reads it back
    with them opened — or erased, once their key is destroyed. Which values are personal is
    the service's to say (`personal`); events from earlier releases, unsealed, read as they
    were written."""

    sealer: Sealer
    personal: Any
    """(event class, state, originator id) → the state with its personal values replaced by
    what `seal_value` makes of them (`services.intake.application.personal_values`)."""
    erased: Any
    """shape → what a value of that shape reads as once erased."""

    def seal_value(self, subject: str, value: Any, shape: str) -> Sealed:
        return self.sealer.seal(subject, self.transcoder.encode(value), shape)

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        state = self.personal(self, type(domain_event), state, originator_id)
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        stored = self.transcoder.encode(state)
        if self.compressor:
            stored = self.compressor.compress(stored)
        if self.cipher:
            stored = self.cipher.encrypt(stored)
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(domain_event)),
            state=stored,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        cls = resolve_topic(stored_event.topic)
        stored = stored_event.state
        try:
            if self.cipher:
                stored = self.cipher.decrypt(stored)
            if self.compressor:
                stored = self.compressor.decompress(stored)
            state: dict[str, Any] = self.transcoder.decode(stored)
            state = {name: self._opened(value) for name, value in state.items()}
        except Exception as error:
            raise MapperDeserialisationError(
                f"Failed to deserialise stored event {stored_event.originator_id} "
                f"v{stored_event.originator_version} ({stored_event.topic}): {error}"
            ) from error
        convert = find_id_convertor(cls, cast(Hashable, type(stored_event.originator_id)))
        state["originator_id"] = convert(stored_event.originator_id)
        state["originator_version"] = stored_event.originator_version
        class_version = getattr(cls, "class_version", 1)
        version = state.pop("class_version", 1)
        while version < class_version:
            getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
            version += 1
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return cast(DomainEventProtocol[UUID], typed(event))

    def _opened(self, value: Any) -> Any:
        if isinstance(value, Sealed):
            plain = self.sealer.open(value)
            return self.erased(value.shape) if plain is None else self.transcoder.decode(plain)
        if isinstance(value, list | tuple):
            return type(value)(self._opened(v) for v in value)
        if isinstance(value, dict):
            return {k: self._opened(v) for k, v in value.items()}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            changed = {
                f.name: self._opened(getattr(value, f.name))
                for f in dataclasses.fields(value)
                if isinstance(getattr(value, f.name), Sealed)
            }
            return dataclasses.replace(value, **changed) if changed else value
        return value


FREE_TEXT = ("subject", "description", "note", "reason", "new_facts")
"""Fields of intake's events where a clerk may have typed a petitioner's name or number."""


def redactor(*people: Any) -> Callable[[str], str]:
    """Free text with these people's data taken out: their names, addresses and ID
    numbers and phones as given, and every phone, ID number and e-mail address
    (`shared.scrub`)."""
    names = [p.name for p in people if p.name]
    exact = [v for p in people for v in (p.id_number, p.phone, p.address) if v]

    def redact(text: str) -> str:
        for value in sorted(exact, key=len, reverse=True):
            text = text.replace(value, "〔已删除〕")
        return scrub(text, names)

    return redact


def rewrite_sealed(
    app: Any, aggregate_ids: Iterable[UUID], redact: Callable[[str], str] | None = None
) -> int:
    """Write the aggregates' stored events again as the mapper stores them now — sealing
    what an earlier release stored unsealed, and with `redact` applied to their free text
    (`FREE_TEXT`) — in place: each event's body is all that changes. Returns how many were
    written."""
    recorder = app.recorder
    written = 0
    for aggregate_id in aggregate_ids:
        for stored in recorder.select_events(aggregate_id):
            event = app.mapper.to_domain_event(stored)
            if redact is not None:
                fields = vars(event)
                for name in FREE_TEXT:
                    if isinstance(fields.get(name), str):
                        fields[name] = redact(fields[name])
            again = app.mapper.to_stored_event(event)
            written += 1
            if hasattr(recorder, "_stored_events"):  # the in-memory recorder of unit tests
                found = recorder._stored_events
                for i, old in enumerate(found):
                    if (old.originator_id, old.originator_version) == (
                        stored.originator_id,
                        stored.originator_version,
                    ):
                        found[i] = again
                continue
            table = sql.Identifier(recorder.datastore.schema, recorder.events_table_name)
            with recorder.datastore.transaction(commit=True) as cursor:
                cursor.execute(
                    sql.SQL(
                        "UPDATE {} SET state = %s WHERE originator_id = %s "
                        "AND originator_version = %s"
                    ).format(table),
                    (again.state, stored.originator_id, stored.originator_version),
                )
    return written
