"""Seeds a large store fast: clones of the prototype cases (bench/prototypes.py), written to
the three services' event stores and read models with COPY, never through a service.

A clone is its prototype with new identities and its own moment in time:

* a new case id (random, as intake gives them), hence a new history id (follow-up's
  `history_id`), event ids, causation ids and a new case code (its hash is what follow-up
  keeps); new conversation ids;
* a new petitioner: a new, well-formed ID number and phone, so a new registry id (intake's
  keyed hash of the ID number, under the run's petitioner-id key) — name and address are
  the prototype's;
* every time in it moved back by one number of whole seconds: up to `years` for the closed
  ones, and for the open ones no further than keeps their next alarm `margin` ahead of now
  (follow-up's clock must not wake up to a million breaches);
* intake's events sealed again under the run's data keyring (shared/cipher.py), each
  petitioner's personal data in them under a person key of the clone's own
  (services/intake/erasure.py: erasing a clone's petitioner erases no one else);
* follow-up's history chained again: each entry's hash is computed afresh over the clone's
  entry (`shared` code: `CaseHistory.verify` passes on every clone).

Each prototype's stored events and read-model rows are turned once into templates — the text
with every identity and time in it marked — and each clone is that text filled in. The read
models' rows are cloned the same way (they are what projecting the clone's events gives:
`tests/integration/test_seed.py` rebuilds them and compares). Once written, each read
model's position and each relay's position are moved to the end of the log, so a service
started on the store projects nothing again and publishes none of it.
"""

from __future__ import annotations

import base64
import hashlib
import operator
import os
import queue
import random
import re
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import orjson
import psycopg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.utils import Environment
from psycopg import sql
from psycopg.types.json import Jsonb

from bench.prototypes import OPEN_KINDS, Prototype, id_number, phone
from services.followup.domain import HistoryEntry, history_id
from services.intake.application import BlindIndex
from services.intake.erasure import PostgresPersonKeys
from shared.casecode import case_code, code_hash
from shared.cipher import FastAESCipher
from shared.keys import Keys
from shared.settings import SERVICES, ServiceName, Settings
from shared.store import conninfo, eventsourcing_env

TIME = rb"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})?"
DAY = rb"(?<![\d-])\d{4}-\d{2}-\d{2}(?![T\d])"
UUID_TEXT = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

READ_MODELS: dict[ServiceName, tuple[tuple[str, str], ...]] = {
    "intake": (("case_index", "case_id"),),
    "routing": (("inbox_cases", "id"), ("inbox_parties", "id")),
    "followup": (
        *(("ledger_cases", "id"), ("ledger_deadlines", "id"), ("ledger_facts", "id")),
        *(("ledger_moments", "id"), ("chain_heads", "case_id")),
    ),
}
"""Each service's read-model tables and the column holding the case id."""
POSITIONS: dict[ServiceName, tuple[str, str, tuple[str, ...]]] = {
    "intake": ("index_position", "name", ("cases",)),
    "routing": ("projection_position", "name", ("inbox",)),
    "followup": ("projection_position", "name", ("ledger", "chain heads")),
}
"""Where each read model keeps how far it has projected the service's log."""


class Text:
    """A text with the identities and times in it marked: `render` fills them in.

    Kept as a %-format of the literal segments and a getter of the tokens' values, so that
    a clone's text is made in C: cloning a million cases renders ~90 million of them.
    """

    __slots__ = ("_format", "_get", "_tokens")

    def __init__(self, text: bytes, pattern: re.Pattern[bytes]) -> None:
        parts: list[bytes] = []
        tokens: list[bytes] = []
        at = 0
        for match in pattern.finditer(text):
            parts.append(text[at : match.start()].replace(b"%", b"%%"))
            tokens.append(match.group())
            at = match.end()
        parts.append(text[at:].replace(b"%", b"%%"))
        self._format = b"%s".join(parts)
        self._tokens = tuple(tokens)
        self._get: Callable[[dict[bytes, bytes]], Any] | None = (
            operator.itemgetter(*tokens) if len(tokens) > 1 else None
        )
        if not tokens:
            self._format = text

    def tokens(self) -> tuple[bytes, ...]:
        return self._tokens

    def literal(self) -> bytes:
        """The text with its tokens left out (to look for identities it should have)."""
        return self._format.replace(b"%s", b" ").replace(b"%%", b"%")

    def render(self, values: dict[bytes, bytes]) -> bytes:
        if self._get is not None:
            return self._format % self._get(values)
        if self._tokens:
            return self._format % (values[self._tokens[0]],)
        return self._format


@dataclass
class SealedTemplate:
    """A personal value of an intake event (`services.intake.erasure.Sealed`), opened: the
    clone seals it again, rendered, under its own person key."""

    placeholder: bytes
    subject: Text
    plain: Text
    shape: str


SEALED = "Sealed"
"""How intake's transcoder names a sealed value (`{"_type_": "Sealed", "_data_": …}`)."""


@dataclass
class StoredTemplate:
    """One stored event of a prototype."""

    owner: str  # "case", "history" or "petitioner": whose id the clone's event carries
    version: int
    topic: bytes
    state: Text
    sealed: list[SealedTemplate] = field(default_factory=list)
    """Personal values in it, each stood in for by its `placeholder` in `state`."""

    def __post_init__(self) -> None:
        # COPY's binary row after the originator id: the version and the topic
        self.middle = (
            b"\x00\x00\x00\x08"
            + struct.pack(">q", self.version)
            + struct.pack(">i", len(self.topic))
            + self.topic
        )


@dataclass
class RowTemplate:
    """One read-model row of a prototype: per column, how the clone's value is made."""

    columns: list[tuple[str, Any]]

    def __post_init__(self) -> None:
        self.fixed = [value if kind == "value" else None for kind, value in self.columns]
        self.made = [
            (i, kind, value) for i, (kind, value) in enumerate(self.columns) if kind != "value"
        ]


@dataclass
class Template:
    """Everything of one prototype case that a clone renews."""

    kind: str
    case_id: UUID
    petitioner_id: UUID
    next_alarm: datetime | None
    literals: dict[bytes, str]
    """Identity tokens in its texts and what each is (`case`, `history`, `petitioner`, …)."""
    roles: list[tuple[bytes, str]] = field(init=False)
    correlations: list[bytes] = field(init=False)
    times: list[tuple[bytes, datetime, bool]]
    days: list[tuple[bytes, date]]
    events: dict[ServiceName, list[StoredTemplate]]
    chain: list[tuple[Text, bytes, bytes]]
    """Follow-up's history entries in order: canonical text, previous and own hash tokens."""
    rows: dict[str, list[RowTemplate]]

    def __post_init__(self) -> None:
        self.roles = [(t, r) for t, r in self.literals.items() if r in ROLES]
        self.correlations = [t for t, r in self.literals.items() if r.startswith("correlation:")]


ROLES = ("case", "history", "petitioner", "id_number", "phone", "code_hash")


def _pattern(literals: Iterable[bytes]) -> re.Pattern[bytes]:
    ordered = sorted(set(literals), key=len, reverse=True)
    return re.compile(b"|".join([*map(re.escape, ordered), TIME, DAY]))


def _shift_time(token: bytes) -> tuple[bytes, datetime, bool]:
    text = token.decode()
    return token, datetime.fromisoformat(text), text.endswith("Z")


class Capture:
    """Reads the prototypes back from the store and makes their templates."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cipher = intake_cipher(settings)
        self.person_keys = PostgresPersonKeys(settings, wrapping_cipher(settings))

    def templates(self, prototypes: list[Prototype]) -> list[Template]:
        try:
            found = [self._template(p) for p in prototypes]
        finally:
            self.person_keys.close()
        self._check_identities(found)
        return found

    def _opened(self, state: bytes, parts: list[tuple[bytes, str, bytes, str]]) -> bytes:
        """The intake event's state with each sealed value opened and stood in for by a
        placeholder; `parts` gets (placeholder, subject, plain, shape) of each."""

        def walk(value: Any) -> Any:
            if isinstance(value, list):
                return [walk(v) for v in value]
            if not isinstance(value, dict):
                return value
            if value.get("_type_") != SEALED:
                return {k: walk(v) for k, v in value.items()}
            data = value["_data_"]
            key = self.person_keys.find(data["key_id"])
            if key is None:
                raise RuntimeError(f"a prototype's petitioner {data['subject']} was erased")
            box = base64.b64decode(data["box"])
            plain = AESGCM(key).decrypt(box[:12], box[12:], data["subject"].encode())
            placeholder = f"@sealed-{len(parts)}@"
            parts.append((placeholder.encode(), data["subject"], plain, data["shape"]))
            return placeholder

        return orjson.dumps(walk(orjson.loads(state)))

    def _template(self, proto: Prototype) -> Template:
        assert proto.petitioner_id is not None
        case, history = proto.case_id, history_id(proto.case_id)
        with psycopg.connect(conninfo(self.settings)) as conn:
            raw: dict[ServiceName, list[tuple[str, int, str, bytes]]] = {}
            owners = {case: "case", history: "history", proto.petitioner_id: "petitioner"}
            for service in SERVICES:
                rows = conn.execute(
                    sql.SQL(
                        "SELECT originator_id, originator_version, topic, state FROM {} "
                        "WHERE originator_id = ANY(%s) ORDER BY notification_id"
                    ).format(sql.Identifier(service, f"{service}_events")),
                    (list(owners),),
                ).fetchall()
                raw[service] = [
                    (
                        owners[oid],
                        version,
                        topic,
                        self.cipher.decrypt(state) if service == "intake" else state,
                    )
                    for oid, version, topic, state in rows
                ]
            read_rows: dict[str, list[dict[str, Any]]] = {}
            for service, tables in READ_MODELS.items():
                for table, key in tables:
                    cursor = conn.cursor(row_factory=psycopg.rows.dict_row)
                    read_rows[f"{service}.{table}"] = cursor.execute(
                        sql.SQL("SELECT * FROM {} WHERE {}::text = %s ORDER BY 1, 2").format(
                            sql.Identifier(service, table), sql.Identifier(key)
                        ),
                        (str(case),),
                    ).fetchall()
        sealed: list[list[tuple[bytes, str, bytes, str]]] = []
        for i, (owner, version, topic, state) in enumerate(raw["intake"]):
            sealed.append([])
            raw["intake"][i] = (owner, version, topic, self._opened(state, sealed[-1]))
        ledger = read_rows["followup.ledger_cases"]
        next_alarm = ledger[0]["next_alarm"] if ledger else None
        hashes: list[bytes] = []
        entries: list[HistoryEntry] = []
        for _, _, topic, state in raw["followup"]:
            if topic.endswith(":CaseHistory.EntryRecorded"):
                stored = orjson.loads(state)
                hashes.append(stored["hash"].encode())
                entries.append(self._entry(stored))
        literals: dict[bytes, str] = {
            str(case).encode(): "case",
            str(history).encode(): "history",
            str(proto.petitioner_id).encode(): "petitioner",
            proto.id_number.encode(): "id_number",
            proto.phone.encode(): "phone",
        }
        code = code_hash(case_code(Keys.of(self.settings).case_code, case)).encode()
        literals[code] = "code_hash"
        for i, correlation in enumerate(proto.correlations):
            literals[correlation.encode()] = f"correlation:{i}"
        for i, hashed in enumerate(hashes):
            literals[hashed] = f"hash:{i}"
        pattern = _pattern(literals)
        events = {
            service: [
                StoredTemplate(owner, version, topic.encode(), Text(state, pattern))
                for owner, version, topic, state in raw[service]
            ]
            for service in SERVICES
        }
        for event, parts in zip(events["intake"], sealed, strict=True):
            event.sealed = [
                SealedTemplate(
                    placeholder, Text(subject.encode(), pattern), Text(plain, pattern), shape
                )
                for placeholder, subject, plain, shape in parts
            ]
        previous = b"0" * 64
        chain = []
        for entry, hashed in zip(entries, hashes, strict=True):
            chain.append((Text(entry.canonical().encode(), pattern), previous, hashed))
            previous = hashed
        templates = {
            name: [self._row(r, pattern) for r in found] for name, found in read_rows.items()
        }
        tokens: set[bytes] = set()
        for stored_events in events.values():
            for e in stored_events:
                tokens.update(e.state.tokens())
                for part in e.sealed:
                    tokens.update(part.subject.tokens())
                    tokens.update(part.plain.tokens())
        for text, _, _ in chain:
            tokens.update(text.tokens())
        for row_templates in templates.values():
            for row in row_templates:
                for kind, value in row.columns:
                    if kind == "text":
                        tokens.update(value.tokens())
                    elif kind == "texts":
                        for text in value:
                            tokens.update(text.tokens())
        times = [_shift_time(t) for t in tokens if t not in literals and b"T" in t]
        days = [
            (t, date.fromisoformat(t.decode()))
            for t in tokens
            if t not in literals and b"T" not in t
        ]
        return Template(
            proto.kind,
            case,
            proto.petitioner_id,
            next_alarm,
            literals,
            times,
            days,
            events,
            chain,
            templates,
        )

    @staticmethod
    def _entry(stored: dict[str, Any]) -> HistoryEntry:
        """The history entry as stored (the transcoder's form), as `CaseHistory` reads it."""
        data = stored["entry"]["_data_"]
        actor = data["actor"]["_data_"]
        return HistoryEntry.from_fields({**data, "time": data["time"]["_data_"], "actor": actor})

    @staticmethod
    def _row(row: dict[str, Any], pattern: re.Pattern[bytes]) -> RowTemplate:
        columns: list[tuple[str, Any]] = []
        for name, value in row.items():
            if isinstance(value, UUID):
                columns.append(("uuid", value))
            elif isinstance(value, datetime):
                columns.append(("time", value))
            elif isinstance(value, str):
                columns.append(("text", Text(value.encode(), pattern)))
            elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                columns.append(("texts", [Text(v.encode(), pattern) for v in value]))
            elif isinstance(value, dict):
                columns.append(("json", Text(orjson.dumps(value), pattern)))
            else:
                columns.append(("value", value))
            del name
        return RowTemplate(columns)

    @staticmethod
    def _check_identities(templates: list[Template]) -> None:
        """Every id in a prototype is renewed by its clones, refers to another prototype
        (intake notes earlier cases like it as duplicate candidates), or is shared with other
        cases (the territory's, a catalogue's): an id only one prototype has and the clones
        would keep is a per-case identity the seeder does not know about."""
        cases = {str(t.case_id).encode() for t in templates}
        seen: dict[bytes, set[UUID]] = {}
        for t in templates:
            texts = [e.state for events in t.events.values() for e in events]
            texts += [p.plain for events in t.events.values() for e in events for p in e.sealed]
            for text in texts:
                for found in UUID_TEXT.findall(text.literal()):
                    seen.setdefault(found, set()).add(t.case_id)
        lonely = [u for u, owners in seen.items() if len(owners) == 1 and u not in cases]
        if len(templates) > 1 and lonely:
            raise RuntimeError(
                f"ids the clones would share, each in one prototype only: {lonely[:5]!r}"
            )


def intake_cipher(settings: Settings) -> FastAESCipher:
    """Intake's cipher under the run's data keyring, as its event store has it."""
    return FastAESCipher(Environment(env=eventsourcing_env(settings, "intake", encrypt=True)))


def wrapping_cipher(settings: Settings) -> FastAESCipher:
    """What wraps each person key in `intake.person_keys` (as intake's bootstrap has it)."""
    return FastAESCipher(Environment(env={"CIPHER_KEY": Keys.of(settings).data_keyring}))


# --- cloning --------------------------------------------------------------------------------


@dataclass
class Clone:
    """One clone's rows: per service its events, per read-model table its rows."""

    case_id: UUID
    events: dict[ServiceName, list[bytes]]
    """Per service, its events as rows of COPY's binary format."""
    rows: dict[str, list[list[Any]]]
    person_keys: list[tuple[UUID, str, bytes]] = field(default_factory=list)
    """The clone's petitioners' keys: (key id, subject, the key wrapped)."""


@dataclass
class Cloner:
    """Makes clone number `n` of a template (see the module's docstring)."""

    settings: Settings
    years: float = 3.0
    margin: timedelta = timedelta(hours=12)
    now: datetime = field(default_factory=lambda: datetime.now().astimezone())
    rng: random.Random = field(default_factory=lambda: random.Random(1_000_003))

    def __post_init__(self) -> None:
        keys = Keys.of(self.settings)
        self.blind = BlindIndex(keys.petitioner_id)
        self.code_key = keys.case_code
        self.cipher = intake_cipher(self.settings)
        self.wrapping = wrapping_cipher(self.settings)

    def shift(self, template: Template) -> timedelta:
        """How far back in time this clone lives from its prototype (whole seconds)."""
        if template.kind not in OPEN_KINDS:
            return timedelta(seconds=self.rng.randrange(int(self.years * 365 * 86400)))
        if template.next_alarm is None:
            return timedelta(seconds=self.rng.randrange(3 * 86400))
        room = (template.next_alarm - (self.now + self.margin)).total_seconds()
        return timedelta(seconds=self.rng.randrange(max(1, int(room))))

    def clone(self, template: Template, n: int) -> Clone:
        case = uuid4()
        history = history_id(case)
        number = id_number(n)
        petitioner = self.blind.uuid("id", number)
        delta = self.shift(template)
        roles = {
            "case": str(case).encode(),
            "history": str(history).encode(),
            "petitioner": str(petitioner).encode(),
            "id_number": number.encode(),
            "phone": phone(n).encode(),
            "code_hash": code_hash(case_code(self.code_key, case)).encode(),
        }
        values = {token: roles[role] for token, role in template.roles}
        for token in template.correlations:
            values[token] = str(uuid4()).encode()
        for token, moment, zulu in template.times:
            moved = (moment - delta).isoformat()
            values[token] = (moved[:-6] + "Z" if zulu else moved).encode()
        for token, day in template.days:
            values[token] = (day - timedelta(days=delta.days)).isoformat().encode()
        for text, previous, hashed in template.chain:
            before = values.get(previous, previous)
            values[hashed] = hashlib.sha256(before + text.render(values)).hexdigest().encode()
        owners = {"case": case.bytes, "history": history.bytes, "petitioner": petitioner.bytes}
        events: dict[ServiceName, list[bytes]] = {}
        encrypt = self.cipher.encrypt
        people: dict[bytes, tuple[str, AESGCM]] = {}
        keys: list[tuple[UUID, str, bytes]] = []
        for service, stored in template.events.items():
            sealed = service == "intake"
            rendered = []
            for e in stored:
                state = e.state.render(values)
                for part in e.sealed:
                    subject = part.subject.render(values)
                    if subject not in people:
                        key, key_id = AESGCM.generate_key(256), uuid4()
                        people[subject] = (str(key_id), AESGCM(key))
                        keys.append((key_id, subject.decode(), self.wrapping.encrypt(key)))
                    key_name, aead = people[subject]
                    nonce = os.urandom(12)
                    box = nonce + aead.encrypt(nonce, part.plain.render(values), subject)
                    value = {
                        "subject": subject.decode(),
                        "key_id": key_name,
                        "box": base64.b64encode(box).decode(),
                        "shape": part.shape,
                    }
                    state = state.replace(
                        b'"' + part.placeholder + b'"',
                        orjson.dumps({"_type_": SEALED, "_data_": value}),
                    )
                if sealed:
                    state = encrypt(state)
                rendered.append(
                    b"".join(
                        (
                            ROW_START,
                            owners[e.owner],
                            e.middle,
                            struct.pack(">i", len(state)),
                            state,
                        )
                    )
                )
            events[service] = rendered
        ids = {template.case_id: case, history_id(template.case_id): history}
        ids[template.petitioner_id] = petitioner
        rows: dict[str, list[list[Any]]] = {}
        for table, templates in template.rows.items():
            rows[table] = [self._row(r, values, ids, delta) for r in templates]
        return Clone(case, events, rows, keys)

    @staticmethod
    def _row(
        row: RowTemplate, values: dict[bytes, bytes], ids: dict[UUID, UUID], delta: timedelta
    ) -> list[Any]:
        made = row.fixed.copy()
        for i, kind, value in row.made:
            if kind == "uuid":
                made[i] = ids.get(value, value)
            elif kind == "time":
                made[i] = value - delta
            elif kind == "text":
                made[i] = value.render(values).decode()
            elif kind == "texts":
                made[i] = [t.render(values).decode() for t in value]
            else:  # json
                made[i] = Jsonb(value.render(values).decode(), dumps=_as_is)
        return made


def _as_is(text: str) -> str:
    return text


# --- writing ---------------------------------------------------------------------------------

COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
COPY_TRAILER = struct.pack(">h", -1)


ROW_START = b"\x00\x04\x00\x00\x00\x10"
"""An event row in COPY's binary format: four fields (uuid, bigint, text, bytea), the first
16 bytes long."""


@dataclass
class Progress:
    """What a long seeding prints: rows/s, cases/s and the time left."""

    total: int
    say: Callable[[str], None]
    every: float = 10.0
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    rows: int = 0
    _last: float = 0.0

    def add(self, cases: int, rows: int) -> None:
        self.done += cases
        self.rows += rows
        now = time.monotonic()
        if now - self._last >= self.every or self.done >= self.total:
            self._last = now
            elapsed = max(now - self.started, 1e-6)
            rate = self.done / elapsed
            left = (self.total - self.done) / rate if rate else float("inf")
            self.say(
                f"seeded {self.done:,}/{self.total:,} cases, {self.rows:,} rows — "
                f"{rate:,.0f} cases/s, {self.rows / elapsed:,.0f} rows/s, "
                f"{elapsed:,.0f} s so far, about {left:,.0f} s left"
            )


@dataclass
class SeedResult:
    cases: int
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


class Seeder:
    """Writes clones of the templates, round robin, `batch` cases per transaction."""

    def __init__(
        self,
        settings: Settings,
        templates: list[Template],
        cloner: Cloner | None = None,
        batch: int = 2_000,
    ) -> None:
        if not templates:
            raise ValueError("no prototypes to clone")
        self.settings = settings
        self.templates = templates
        self.cloner = cloner or Cloner(settings)
        self.batch = batch
        self.made = 0
        self._columns: dict[str, tuple[list[str], list[str]]] = {}

    def seed(self, cases: int, say: Callable[[str], None] = print) -> SeedResult:
        """Write `cases` more clones, then move every read model's and relay's position to
        the end of its log. Clones are made here while a second thread writes the batch
        before (PostgreSQL's share of the work overlaps Python's)."""
        progress = Progress(cases, say)
        started = time.monotonic()
        if self.made == 0:  # clones of an earlier run keep their petitioners' numbers
            with psycopg.connect(conninfo(self.settings)) as conn:
                row = conn.execute("SELECT count(*) FROM intake.case_index").fetchone()
                self.made = int(row[0]) if row else 0
        batches: queue.Queue[list[Clone] | None] = queue.Queue(maxsize=2)
        failed: list[BaseException] = []
        bulk = cases >= self.BULK

        def write() -> None:
            try:
                with psycopg.connect(conninfo(self.settings)) as conn:
                    conn.execute("SET synchronous_commit = off")  # a crash: seed again
                    dropped = self._drop_event_indexes(conn) if bulk else []
                    while (clones := batches.get()) is not None:
                        rows = self._write(conn, clones)
                        conn.commit()
                        progress.add(len(clones), rows)
                    if dropped:
                        self._build_indexes(conn, dropped, say)
                    self.move_positions(conn)
                    conn.commit()
            except BaseException as error:
                failed.append(error)

        writer = threading.Thread(target=write, name="seed-writer", daemon=True)
        writer.start()
        made = 0
        try:
            while made < cases and not failed:
                size = min(self.batch, cases - made)
                clones = [self._next() for _ in range(size)]
                while writer.is_alive():
                    try:
                        batches.put(clones, timeout=1.0)
                        break
                    except queue.Full:
                        continue
                made += size
        finally:
            while writer.is_alive():
                try:
                    batches.put(None, timeout=1.0)
                    break
                except queue.Full:
                    continue
            writer.join()
        if failed:
            raise RuntimeError(f"seeding failed: {failed[0]!r}") from failed[0]
        return SeedResult(made, progress.rows, time.monotonic() - started)

    BULK = 50_000
    """From this many cases on, the event tables' indexes are dropped while they are written
    and built again afterwards: inserting ~40 million random keys one by one into a B-tree
    larger than the server's buffers costs several times the load itself."""

    def _drop_event_indexes(self, conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
        """Drop the event tables' primary keys and indexes; returns how to make them again."""
        again: list[tuple[str, str]] = []
        for service in SERVICES:
            table = f"{service}.{service}_events"
            for name, definition in conn.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'p'",
                (table,),
            ).fetchall():
                again.append(
                    (f"{table} {name}", f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
                )
                conn.execute(
                    sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                        sql.Identifier(service, f"{service}_events"), sql.Identifier(name)
                    )
                )
            for name, definition in conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s "
                "AND tablename = %s",
                (service, f"{service}_events"),
            ).fetchall():
                again.append((f"{table} {name}", definition))
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(service, name)))
        conn.commit()
        return again

    @staticmethod
    def _build_indexes(
        conn: psycopg.Connection[Any], again: list[tuple[str, str]], say: Callable[[str], None]
    ) -> None:
        conn.execute("SET maintenance_work_mem = '512MB'")
        for name, statement in again:
            started = time.monotonic()
            conn.execute(statement)
            conn.commit()
            say(f"built {name} again in {time.monotonic() - started:,.0f} s")

    def _next(self) -> Clone:
        template = self.templates[self.made % len(self.templates)]
        self.made += 1
        return self.cloner.clone(template, self.made)

    def _write(self, conn: psycopg.Connection[Any], clones: list[Clone]) -> int:
        rows = 0
        with conn.cursor() as cursor:
            for service in SERVICES:
                chunk = bytearray(COPY_HEADER)
                for clone in clones:
                    for event in clone.events[service]:
                        chunk += event
                        rows += 1
                chunk += COPY_TRAILER
                with cursor.copy(
                    sql.SQL(
                        "COPY {} (originator_id, originator_version, topic, state) "
                        "FROM STDIN (FORMAT BINARY)"
                    ).format(sql.Identifier(service, f"{service}_events"))
                ) as copy:
                    copy.write(bytes(chunk))
            with cursor.copy(
                "COPY intake.person_keys (key_id, subject, wrapped) FROM STDIN (FORMAT BINARY)"
            ) as copy:
                copy.set_types(["uuid", "text", "bytea"])
                for clone in clones:
                    for key in clone.person_keys:
                        copy.write_row(key)
                        rows += 1
            for table in self.templates[0].rows:
                names, types = self._table_columns(conn, table)
                schema, name = table.split(".")
                with cursor.copy(
                    sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
                        sql.Identifier(schema, name),
                        sql.SQL(", ").join(map(sql.Identifier, names)),
                    )
                ) as copy:
                    copy.set_types(types)
                    for clone in clones:
                        for row in clone.rows[table]:
                            copy.write_row(row)
                            rows += 1
        return rows

    def _table_columns(
        self, conn: psycopg.Connection[Any], table: str
    ) -> tuple[list[str], list[str]]:
        if table not in self._columns:
            found = conn.execute(
                "SELECT a.attname, CASE WHEN t.typelem <> 0 AND t.typlen = -1 "
                "THEN e.typname || '[]' ELSE t.typname END "
                "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                "LEFT JOIN pg_type e ON e.oid = t.typelem "
                "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped "
                "ORDER BY a.attnum",
                (table,),
            ).fetchall()
            self._columns[table] = ([n for n, _ in found], [t for _, t in found])
        return self._columns[table]

    def move_positions(self, conn: psycopg.Connection[Any]) -> None:
        move_positions(self.settings, conn)


def move_positions(settings: Settings, conn: psycopg.Connection[Any]) -> None:
    """Every read model has projected, and every relay published to this run's topics, the
    whole log: what was seeded is not projected again, nor put on Kafka (nor, for a store an
    earlier run kept, put on this run's new topics)."""
    for service in SERVICES:
        last = conn.execute(
            sql.SQL("SELECT coalesce(max(notification_id), 0) FROM {}").format(
                sql.Identifier(service, f"{service}_events")
            )
        ).fetchone()
        position = int(last[0]) if last else 0
        table, key, names = POSITIONS[service]
        for name in names:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} VALUES (%s, %s) ON CONFLICT ({}) DO UPDATE "
                    "SET notification_id = EXCLUDED.notification_id"
                ).format(sql.Identifier(service, table), sql.Identifier(key)),
                (name, position),
            )
        conn.execute(
            sql.SQL(
                "INSERT INTO {} VALUES (%s, %s, now()) ON CONFLICT (topic) DO UPDATE "
                "SET notification_id = EXCLUDED.notification_id, updated_at = now()"
            ).format(sql.Identifier(service, "relay_position")),
            (settings.topic(service), position),
        )
