"""Signed checkpoints: follow-up's word, outside its own store, on every case's chain.

Every `checkpoint_seconds` the holder of a PostgreSQL advisory lock brings every case's
chain head up to date (a projection of follow-up's log, the table `chain_heads`), and if
anything changed since the last checkpoint signs a new one (`shared.evidence`): the Merkle
root over every case's (entries, head hash), the time, the log position it covers, how many
cases, and the digest of the checkpoint before it. Each is written to
`<checkpoint_dir>/<sequence>.json`, kept for good, with its leaves in
`leaves/<sequence>.json` (so an auditor who archives the files can check every case, not
only those they hold a dossier of) for the latest `leaves_kept`; and published to the
topic `<prefix>.followup.checkpoints`, where the services' ACLs let only follow-up write.

`verify_store` reads every case's chain from the store again and compares it with a signed
checkpoint: a chain that no longer ends, at the checkpointed length, in the signed head was
rewritten — even if every hash in it was recomputed.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from uuid import UUID

import orjson
from psycopg import IsolationLevel
from psycopg.errors import SerializationFailure

from services.followup.domain import CaseHistory, ChainLink, history_id
from shared.domain import utcnow
from shared.evidence import (
    CHECKPOINT_FORMAT,
    GENESIS,
    Leaf,
    MerkleRoot,
    Signer,
    checkpoint_digest,
    entry_hash,
    inclusion_proof,
    merkle_root,
    root_from_proof,
    signature_holds,
)
from shared.kafka import make_producer
from shared.projection import MemoryTables, PostgresTables, Projected, Projector, Tables
from shared.settings import Settings
from shared.store import connect

log = logging.getLogger("onestop.followup.checkpoints")


class HeadTables(Tables, Protocol):
    """Every case's chain head, as a projection of follow-up's log keeps it, and the leaf of
    each in the latest signed checkpoint."""

    def signing(self) -> AbstractContextManager[tuple[int, Iterator[tuple[Leaf, UUID | None]]]]:
        """The position the heads are projected to and every head as of that one moment, in
        the order of case ids' code points, streamed; each with its history's id when the
        head moved since the last marking (else None)."""
        ...

    def marking(self) -> AbstractContextManager[Callable[[UUID, Leaf], None]]:
        """A way to note, for a history, its leaf in the checkpoint being written as the one
        signed: what is noted is kept only if the block ends without an error, all at once."""
        ...

    def mark_unmoved(self, position: int) -> int:
        """While the heads are still projected to `position` (the latest checkpoint's), note
        every head not yet marked as signed (marks lost to a rebuild or an upgrade); how many
        were noted."""
        ...

    def signed(self, history: UUID) -> tuple[int, str] | None:
        """The entries and head the latest checkpoint signed for this history (None: none
        covers it yet)."""
        ...

    def signed_rank(self, case_id: str) -> tuple[int, Leaf] | None:
        """The case's signed leaf and its index among all signed leaves."""
        ...

    def signed_leaves(self) -> AbstractContextManager[Iterator[Leaf]]:
        """Every signed leaf, in the order of case ids' code points, streamed."""
        ...

    def signed_run(self, first: str, size: int) -> list[Leaf]:
        """At most `size` signed leaves in case order, from case `first` on."""
        ...


@dataclass
class MemoryHeads(MemoryTables):
    """The chain heads in memory, for unit tests."""

    marks: dict[UUID, Leaf] = field(default_factory=dict)

    def _leaves(self) -> list[tuple[Leaf, UUID]]:
        with self.lock:
            rows = list(self.main.values())
        return sorted((Leaf(r["case_id"], r["entries"], r["head"]), r["id"]) for r in rows)

    @contextmanager
    def signing(self) -> Iterator[tuple[int, Iterator[tuple[Leaf, UUID | None]]]]:
        at, leaves = self.at, self._leaves()
        yield at, ((leaf, key if self.marks.get(key) != leaf else None) for leaf, key in leaves)

    @contextmanager
    def marking(self) -> Iterator[Callable[[UUID, Leaf], None]]:
        noted: dict[UUID, Leaf] = {}
        yield noted.__setitem__
        with self.lock:
            self.marks.update(noted)

    def mark_unmoved(self, position: int) -> int:
        if self.at != position:
            return 0
        moved = {key: leaf for leaf, key in self._leaves() if self.marks.get(key) != leaf}
        with self.lock:
            self.marks.update(moved)
        return len(moved)

    def signed(self, history: UUID) -> tuple[int, str] | None:
        with self.lock:
            leaf = self.marks.get(history)
        return (leaf.entries, leaf.head) if leaf else None

    def signed_rank(self, case_id: str) -> tuple[int, Leaf] | None:
        with self.lock:
            leaves = sorted(self.marks.values())
        return next(((i, x) for i, x in enumerate(leaves) if x.case_id == case_id), None)

    @contextmanager
    def signed_leaves(self) -> Iterator[Iterator[Leaf]]:
        with self.lock:
            leaves = sorted(self.marks.values())
        yield iter(leaves)

    def signed_run(self, first: str, size: int) -> list[Leaf]:
        with self.lock:
            leaves = sorted(self.marks.values())
        return [leaf for leaf in leaves if leaf.case_id >= first][:size]

    def clear(self) -> None:
        super().clear()
        with self.lock:
            self.marks.clear()


Runs = tuple[int, list[str], list[bytes]]
"""A checkpoint's runs: leaves per run, the first case of each run, the root of each."""

RUN = 1024
"""Leaves per run: a checkpoint keeps the root of each run of this many leaves (a power of
two, so each full run is a subtree of the RFC 9162 tree), and a dossier's proof reads the
case's run and these roots, never every leaf."""

UNSURE = object()
"""What the quick way to a proof answers when it cannot tell; the long way decides."""

IN_CASE_ORDER = 'ORDER BY case_id COLLATE "C"'
"""The leaves' order, which is part of the root: case ids by code point, as Python sorts
them, never by the database's collation (an index keeps it, migrations/0006)."""


class PostgresHeads(PostgresTables):
    """The chain heads as a table in follow-up's schema (migrations/0004_chain_heads.sql):
    kept in PostgreSQL like the ledger, so a start signs at once instead of reading every
    case's history again, and no copy of the service holds every case in memory — nor does
    a signing round or a proof, which stream them (migrations/0006_signed_leaves.sql)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, "followup", "chain heads", "chain_heads", HEAD_COLUMNS)

    @contextmanager
    def _repeatable_read(self) -> Iterator[Any]:
        """One transaction that sees one moment: what another copy projects meanwhile is
        in neither or both of what it reads."""
        with self.connection() as conn:
            conn.isolation_level = IsolationLevel.REPEATABLE_READ
            try:
                with conn.transaction():
                    yield conn
            finally:
                conn.isolation_level = None

    def _position(self, conn: Any) -> int:
        row = conn.execute(
            "SELECT notification_id FROM followup.projection_position WHERE name = %s",
            (self.name,),
        ).fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def signing(self) -> Iterator[tuple[int, Iterator[tuple[Leaf, UUID | None]]]]:
        with self._repeatable_read() as conn:
            position = self._position(conn)
            with conn.cursor(name="chain_heads_signing") as cursor:
                cursor.itersize = 5_000
                cursor.execute(
                    "SELECT case_id, entries, head, "
                    "CASE WHEN signed_head IS DISTINCT FROM head THEN id END "
                    f"FROM followup.chain_heads {IN_CASE_ORDER}"
                )
                yield position, ((Leaf(c, n, h), moved) for c, n, h, moved in cursor)

    @contextmanager
    def marking(self) -> Iterator[Callable[[UUID, Leaf], None]]:
        # Copied into a table of the transaction as they come (a first checkpoint of a large
        # store marks every case: nothing held in memory), then set by id, each to the leaf
        # the checkpoint signed, not to a head projected since; rows locked in id order first,
        # as the projection writes them, so the two wait for each other, never deadlock.
        with self.connection() as conn, conn.transaction(), conn.cursor() as cursor:
            cursor.execute(
                "CREATE TEMPORARY TABLE signed_marks (id uuid, entries integer, head text) "
                "ON COMMIT DROP"
            )
            with cursor.copy("COPY signed_marks (id, entries, head) FROM STDIN") as copy:
                yield lambda key, leaf: copy.write_row((key, leaf.entries, leaf.head))
            cursor.execute(
                "SELECT 1 FROM followup.chain_heads c JOIN signed_marks m ON m.id = c.id "
                "ORDER BY c.id FOR UPDATE OF c"
            )
            cursor.execute(
                "UPDATE followup.chain_heads c SET signed_entries = m.entries, "
                "signed_head = m.head FROM signed_marks m WHERE c.id = m.id"
            )

    def mark_unmoved(self, position: int) -> int:
        try:
            with self._repeatable_read() as conn:
                if self._position(conn) != position:
                    return 0
                # a head projected after this transaction began makes it fail, not mark it
                return int(
                    conn.execute(
                        "UPDATE followup.chain_heads "
                        "SET signed_entries = entries, signed_head = head "
                        "WHERE signed_head IS DISTINCT FROM head"
                    ).rowcount
                )
        except SerializationFailure:
            return 0

    def signed(self, history: UUID) -> tuple[int, str] | None:
        with self.connection() as conn:
            row = conn.execute(
                "SELECT signed_entries, signed_head FROM followup.chain_heads WHERE id = %s",
                (history,),
            ).fetchone()
        return (int(row[0]), str(row[1])) if row and row[1] is not None else None

    def signed_rank(self, case_id: str) -> tuple[int, Leaf] | None:
        with self._repeatable_read() as conn:
            row = conn.execute(
                "SELECT signed_entries, signed_head FROM followup.chain_heads "
                "WHERE id = %s AND signed_head IS NOT NULL",
                (history_id(UUID(case_id)),),
            ).fetchone()
            if row is None:
                return None
            before = conn.execute(
                "SELECT count(*) FROM followup.chain_heads "
                'WHERE signed_head IS NOT NULL AND case_id COLLATE "C" < %s',
                (case_id,),
            ).fetchone()
        return int(before[0]) if before else 0, Leaf(case_id, int(row[0]), str(row[1]))

    @contextmanager
    def signed_leaves(self) -> Iterator[Iterator[Leaf]]:
        with self._repeatable_read() as conn, conn.cursor(name="signed_leaves") as cursor:
            cursor.itersize = 5_000
            cursor.execute(
                "SELECT case_id, signed_entries, signed_head FROM followup.chain_heads "
                f"WHERE signed_head IS NOT NULL {IN_CASE_ORDER}"
            )
            yield (Leaf(c, n, h) for c, n, h in cursor)

    def signed_run(self, first: str, size: int) -> list[Leaf]:
        with self.connection() as conn:
            rows = conn.execute(
                "SELECT case_id, signed_entries, signed_head FROM followup.chain_heads "
                'WHERE case_id COLLATE "C" >= %s AND signed_head IS NOT NULL '
                f"{IN_CASE_ORDER} LIMIT %s",
                (first, size),
            ).fetchall()
        return [Leaf(c, n, h) for c, n, h in rows]


HEAD_COLUMNS = ("case_id", "entries", "head")


def project_head(history: CaseHistory) -> Projected | None:
    """A case's chain head: the leaf a checkpoint signs for it."""
    if not history.entries:
        return None
    return Projected(
        history.id,
        history.version,
        {"case_id": history.case_id, "entries": len(history.entries), "head": history.head_hash},
    )


def chain_heads(app: Any, tables: HeadTables) -> Projector:
    """The projection of every case's chain head from follow-up's log into `tables`."""
    return Projector("chain heads", app, CaseHistory, project_head, tables)


class Publisher(Protocol):
    """Where a signed checkpoint goes besides the files (follow-up's Kafka topic)."""

    def publish(self, signed: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Discrepancy:
    """A case whose stored chain no longer matches what a checkpoint signed."""

    case_id: str
    problem: str
    entry: int | None = None
    """The 1-based position of the first entry found wrong, where one can be named."""


@dataclass
class StoreVerification:
    checkpoint: int | None
    signed_at: str | None
    cases_checked: int = 0
    discrepancies: list[Discrepancy] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.checkpoint is not None and not self.discrepancies


class Checkpoints:
    """Signs, stores, publishes and checks follow-up's checkpoints."""

    def __init__(
        self,
        app: Any,
        folder: Path,
        signer: Signer,
        *,
        publisher: Publisher | None = None,
        lock: Callable[[], AbstractContextManager[bool]] | None = None,
        clock: Callable[[], datetime] = utcnow,
        leaves_kept: int = 48,
        heads: HeadTables | None = None,
    ) -> None:
        self.app = app
        self.folder = folder
        self.signer = signer
        self.publisher = publisher
        self.lock = lock or _always
        self.clock = clock
        self.leaves_kept = leaves_kept
        self.heads: HeadTables = heads if heads is not None else MemoryHeads()
        self.projector = chain_heads(app, self.heads)
        self._unpublished: list[dict[str, Any]] = []
        self._latest: int | None = None
        self._runs: tuple[str, Runs] | None = None
        """The runs of the latest checkpoint a proof was made from, once they made its signed
        root: (that root, the runs)."""

    # --- signing ------------------------------------------------------------------------

    def sign_if_changed(self) -> dict[str, Any] | None:
        """A new checkpoint if any chain moved since the last one (None: nothing to sign, or
        another copy of the service holds the lock)."""
        with self.lock() as mine:
            if not mine:
                return None
            self.projector.catch_up()
            last = self.latest(with_leaves=False)
            position = self.heads.position()
            if last is not None and last["checkpoint"]["position"] > position:
                log.error(
                    "the latest checkpoint (sequence %s) covers the log up to %s, beyond this "
                    "store's %s: its folder belongs to another store, or the store was restored "
                    "from before it; nothing is signed until the log passes it",
                    last["checkpoint"]["sequence"],
                    last["checkpoint"]["position"],
                    position,
                )
            if last is not None and last["checkpoint"]["position"] >= position:
                # nothing moved since: the heads are the latest checkpoint's leaves (marked
                # already, unless the marks were lost to a rebuild or an upgrade)
                self.heads.mark_unmoved(last["checkpoint"]["position"])
                self._publish_pending()
                return None
            with self.heads.marking() as mark:  # kept once the checkpoint is written
                signed = self._sign(last, mark)
                self._write(signed)
            self._unpublished.append(signed)
            self._publish_pending()
            return signed

    def _sign(
        self, last: dict[str, Any] | None, mark: Callable[[UUID, Leaf], None]
    ) -> dict[str, Any]:
        """Every case's head as of one moment, streamed from the tables into the Merkle root
        and the checkpoint's leaves file at once (a million cases are never held in memory),
        signed; each head that moved since the last checkpoint noted with `mark`."""
        sequence = (last["checkpoint"]["sequence"] + 1) if last else 1
        tree, run = MerkleRoot(), MerkleRoot()
        runs: list[tuple[str, str]] = []  # each run's first case and root
        first = ""
        with (
            _atomic_file(self.folder / "leaves" / f"{sequence:08d}.json") as out,
            self.heads.signing() as (position, heads),
        ):
            out.write(b"[")
            for leaf, moved in heads:
                out.write(b"," if tree.size else b"")
                out.write(orjson.dumps(leaf.as_list()))
                hashed = leaf.hash()
                tree.add(hashed)
                first = first if run.size else leaf.case_id
                run.add(hashed)
                if run.size == RUN:
                    runs.append((first, run.root().hex()))
                    run = MerkleRoot()
                if moved is not None:
                    mark(moved, leaf)
            out.write(b"]")
        if run.size:
            runs.append((first, run.root().hex()))
        _atomically(self.folder / "runs" / f"{sequence:08d}.json", {"size": RUN, "runs": runs})
        body = {
            "format": CHECKPOINT_FORMAT,
            "issuer": "onestop-followup",
            "sequence": sequence,
            "signed_at": self.clock().isoformat(),
            "position": position,
            "cases": tree.size,
            "root": tree.root().hex(),
            "previous": checkpoint_digest(last) if last else None,
            "key": self.signer.fingerprint,
        }
        return {"checkpoint": body, "signature": self.signer.sign(body)}

    def _write(self, signed: dict[str, Any]) -> None:
        """The signed checkpoint, kept for good, beside its leaves (written while signing),
        which are kept for the latest `leaves_kept` checkpoints (every case's head, each
        time, would fill a disk)."""
        _atomically(self.folder / f"{signed['checkpoint']['sequence']:08d}.json", signed)
        for kind in ("leaves", "runs"):
            kept = sorted((self.folder / kind).glob("*.json"))
            for old in kept[: -self.leaves_kept]:
                old.unlink(missing_ok=True)

    def _publish_pending(self) -> None:
        """What is signed reaches the topic too; a broker away now gets it next round."""
        if self.publisher is None:
            self._unpublished.clear()
            return
        while self._unpublished:
            try:
                self.publisher.publish(self._unpublished[0])
            except Exception:
                log.exception("could not publish checkpoint; trying again next round")
                return
            self._unpublished.pop(0)

    SHARE = 20
    """A checkpoint reads and hashes every case's head, so on a large store it is signed at
    most once per `SHARE` times as long as the last one took (≤ 5 % of the time): with
    300,000 cases one took ~5 s of follow-up and PostgreSQL, every minute."""

    def run(
        self, stop: threading.Event, every: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        while True:
            started = clock()
            try:
                self.sign_if_changed()
            except Exception:
                log.exception("could not sign a checkpoint; trying again")
            if stop.wait(max(every, (clock() - started) * self.SHARE)):
                return

    # --- reading ------------------------------------------------------------------------

    def sequences(self) -> list[int]:
        if not self.folder.is_dir():
            return []
        return sorted(int(p.stem) for p in self.folder.glob("*.json") if p.stem.isdigit())

    def load(self, sequence: int, with_leaves: bool = True) -> dict[str, Any] | None:
        """A signed checkpoint, with its leaves while they are kept (`"leaves": null` once
        they are not, or when not asked for: every case's, they are large)."""
        name = f"{sequence:08d}.json"
        try:
            document: dict[str, Any] = orjson.loads((self.folder / name).read_bytes())
        except FileNotFoundError:
            return None
        document["leaves"] = None
        if not with_leaves:
            return document
        try:
            document["leaves"] = orjson.loads((self.folder / "leaves" / name).read_bytes())
        except FileNotFoundError:
            document["leaves"] = None
        return document

    def latest(self, with_leaves: bool = True) -> dict[str, Any] | None:
        # Sequences only grow: the one seen last, or a later one if it is there now (this
        # copy's or another's), without listing a folder of every checkpoint ever signed
        # on each history read.
        if self._latest is None:
            found = self.sequences()
            self._latest = found[-1] if found else 0
        while (self.folder / f"{self._latest + 1:08d}.json").exists():
            self._latest += 1
        document = self.load(self._latest, with_leaves) if self._latest else None
        if document is None and self._latest:  # the folder was emptied or replaced
            found = self.sequences()
            self._latest = found[-1] if found else 0
            document = self.load(self._latest, with_leaves) if self._latest else None
        return document

    @staticmethod
    def signed_part(document: dict[str, Any]) -> dict[str, Any]:
        return {"checkpoint": document["checkpoint"], "signature": document["signature"]}

    def proof_for(self, case_id: str) -> dict[str, Any] | None:
        """The latest checkpoint with the case's leaf and its inclusion proof — or None if
        it does not cover the case yet (then none does: each covers every case with a
        history). The proof is made in one pass over the signed leaves as the tables hold
        them, checked against the signed root; from the checkpoint's leaves file when they
        do not make it (a service stopped between writing a checkpoint and marking it)."""
        document = self.latest(with_leaves=False)
        if document is None:
            return None
        quick = self._proof_from_runs(document, case_id)
        if quick is not UNSURE:
            return quick
        signed = document["checkpoint"]
        found = self.heads.signed_rank(case_id)
        if found is not None:
            index, leaf = found
            tree = MerkleRoot()

            def hashes(leaves: Iterator[Leaf]) -> Iterator[bytes]:
                for each in leaves:
                    tree.add(each.hash())
                    yield each.hash()

            with self.heads.signed_leaves() as leaves:
                proof = inclusion_proof(hashes(leaves), index, signed["cases"])
            if tree.size == signed["cases"] and tree.root().hex() == signed["root"]:
                return self._proof(document, index, leaf, proof)
        return self._proof_from_file(signed["sequence"], case_id)

    def _proof_from_runs(self, document: dict[str, Any], case_id: str) -> Any:
        """The proof made from the roots of the checkpoint's runs of `RUN` leaves (kept
        beside it when it was signed) and the one run of signed leaves holding the case, read
        from the tables: a few milliseconds at a million cases, where one pass over every
        signed leaf took four seconds. The runs must make the signed root and the run read
        its signed root; otherwise `UNSURE` (an older checkpoint has no runs; marks of a
        newer one may be landing), and the proof is made the long way."""
        signed = document["checkpoint"]
        verified = self._verified_runs(signed)
        if verified is None:
            return UNSURE
        size, firsts, roots = verified
        at = bisect_right(firsts, case_id) - 1
        if at < 0:
            return None  # before the first signed case: not covered
        expected = size if at < len(firsts) - 1 else signed["cases"] - at * size
        leaves = self.heads.signed_run(firsts[at], expected)
        hashes = [leaf.hash() for leaf in leaves]
        if len(leaves) != expected or merkle_root(hashes) != roots[at]:
            return UNSURE
        where = next((i for i, leaf in enumerate(leaves) if leaf.case_id == case_id), None)
        if where is None:
            return None  # its run is as signed and does not hold it: not covered
        index = at * size + where
        proof = inclusion_proof(hashes, where) + inclusion_proof(roots, at)
        if root_from_proof(hashes[where], index, signed["cases"], proof) != bytes.fromhex(
            signed["root"]
        ):
            return UNSURE
        return self._proof(document, index, leaves[where], proof)

    def _verified_runs(self, signed: dict[str, Any]) -> Runs | None:
        """The checkpoint's runs as kept beside it — leaves per run, each run's first case
        and root — if their roots make its signed root; read and checked once per
        checkpoint (at a million cases, ~1,000 roots: a 110 kB file and ~2,000 hashes that
        every dossier made again), not at every proof."""
        if self._runs is not None and self._runs[0] == signed["root"]:
            return self._runs[1]
        try:
            kept = orjson.loads(
                (self.folder / "runs" / f"{signed['sequence']:08d}.json").read_bytes()
            )
        except (FileNotFoundError, orjson.JSONDecodeError):
            return None
        runs = kept["runs"]
        roots = [bytes.fromhex(root) for _, root in runs]
        if not runs or merkle_root(roots).hex() != signed["root"]:
            return None
        verified: Runs = (kept["size"], [first for first, _ in runs], roots)
        self._runs = (signed["root"], verified)
        return verified

    def _proof_from_file(self, sequence: int, case_id: str) -> dict[str, Any] | None:
        document = self.load(sequence)
        if document is None or document["leaves"] is None:
            return None
        leaves = [Leaf(c, n, h) for c, n, h in document["leaves"]]
        index = next((i for i, leaf in enumerate(leaves) if leaf.case_id == case_id), None)
        if index is None:
            return None
        proof = inclusion_proof([leaf.hash() for leaf in leaves], index)
        return self._proof(document, index, leaves[index], proof)

    def _proof(
        self, document: dict[str, Any], index: int, leaf: Leaf, proof: list[bytes]
    ) -> dict[str, Any]:
        return {
            **self.signed_part(document),
            "leaf": {
                "index": index,
                "case_id": leaf.case_id,
                "entries": leaf.entries,
                "head": leaf.head,
            },
            "proof": [base64.b64encode(p).decode() for p in proof],
        }

    def check_case(
        self, case_id: str, chain: list[ChainLink] | None = None, verified: bool = False
    ) -> dict[str, Any] | None:
        """The case's chain as stored now (`chain`, read from the store by the caller, who
        says whether it `verified` by itself) against its leaf in the latest checkpoint
        (None: no checkpoint covers it yet). One row is read for the leaf, whatever the
        number of cases."""
        document = self.latest(with_leaves=False)
        leaf = self.heads.signed(history_id(UUID(case_id))) if document is not None else None
        if document is None or leaf is None:
            return None
        entries, head = leaf
        if chain is None:
            chain, verified = self._fresh_chain(case_id), False
        problem = chain_problem(chain, entries, head, verified)
        return {
            "sequence": document["checkpoint"]["sequence"],
            "signed_at": document["checkpoint"]["signed_at"],
            "entries": entries,
            "matches": problem is None,
            "problem": problem[0] if problem else None,
        }

    def authentic(self, document: dict[str, Any]) -> bool:
        """Signed by this service's key, and its leaves are the ones the root covers."""
        if not signature_holds(
            self.signer.public_pem, document["checkpoint"], document["signature"]
        ):
            return False
        leaves = [Leaf(c, n, h) for c, n, h in document.get("leaves") or []]
        return merkle_root([leaf.hash() for leaf in leaves]).hex() == document["checkpoint"]["root"]

    # --- checking the store against a checkpoint ---------------------------------------------

    def verify_store(self, sequence: int | None = None) -> StoreVerification:
        """Every case the checkpoint names, read from the store afresh (no cache), compared
        with the head the checkpoint signed."""
        known = self.sequences()
        number = sequence if sequence is not None else (known[-1] if known else None)
        document = self.load(number) if number is not None else None
        if document is None or number is None:
            return StoreVerification(None, None)
        result = StoreVerification(number, document["checkpoint"]["signed_at"])
        if document["leaves"] is None:
            result.discrepancies.append(
                Discrepancy("*", f"the leaves of checkpoint {number} are no longer kept here")
            )
            return result
        if not self.authentic(document):
            result.discrepancies.append(
                Discrepancy("*", f"checkpoint {number} is not signed by this service's key")
            )
            return result
        for case_id, entries, head in document["leaves"]:
            result.cases_checked += 1
            chain = self._fresh_chain(case_id)
            problem = chain_problem(chain, entries, head)
            if problem is not None:
                found = Discrepancy(case_id, *problem)
                if found.entry is None:
                    found = self._narrowed(found, chain, number, entries)
                result.discrepancies.append(found)
        return result

    def _narrowed(
        self, found: Discrepancy, chain: list[ChainLink], sequence: int, entries: int
    ) -> Discrepancy:
        """A chain rewritten and recomputed: the earlier checkpoints whose leaves are kept
        say after which entry it still ends as signed, so the rewritten one lies between."""
        for earlier in reversed([s for s in self.sequences() if s < sequence]):
            document = self.load(earlier)
            if document is None or document["leaves"] is None:
                break
            leaf = next((x for x in document["leaves"] if x[0] == found.case_id), None)
            if leaf is None:
                break
            if leaf[1] <= len(chain) and chain[leaf[1] - 1].hash == leaf[2]:
                if leaf[1] == entries:
                    break
                return Discrepancy(
                    found.case_id,
                    f"an entry among {leaf[1] + 1}–{entries} was rewritten and the chain "
                    f"recomputed: entries 1–{leaf[1]} still end as checkpoint {earlier} "
                    f"signed, 1–{entries} no longer as checkpoint {sequence} did",
                    leaf[1] + 1,
                )
        return found

    def _fresh_chain(self, case_id: str) -> list[ChainLink]:
        """The chain as the stored events make it now, never from a cache."""
        fresh = self.app.stored_history(UUID(case_id))
        return list(fresh.entries) if fresh is not None else []


def chain_problem(
    chain: list[ChainLink], entries: int, head: str, verified: bool = False
) -> tuple[str, int | None] | None:
    """What is wrong with a stored chain against a checkpoint's (entries, head) — None if it
    still ends there. The chain is rebuilt from the stored events, so an entry altered and
    every later hash recomputed still fails here. Each entry's hash is computed again unless
    the caller has just `verified` this very chain."""
    previous = GENESIS
    for position, link in enumerate([] if verified else chain, 1):
        fields = {
            "event_id": link.entry.event_id,
            "service": link.entry.service,
            "type": link.entry.type,
            "time": link.entry.time.isoformat(),
            "actor": link.entry.actor.as_dict(),
            "correlation_id": link.entry.correlation_id,
            "causation_id": link.entry.causation_id,
            "data": link.entry.data,
        }
        if link.previous_hash != previous or entry_hash(previous, fields) != link.hash:
            return f"entry {position} was altered or replaced after it was recorded", position
        previous = link.hash
    if len(chain) < entries:
        return (
            f"the chain has {len(chain)} entries; checkpoint signed {entries}: entries were "
            "removed",
            len(chain) + 1,
        )
    if chain[entries - 1].hash != head:
        return (
            f"the first {entries} entries no longer end in the head the checkpoint signed: "
            "an entry among them was rewritten and the chain recomputed",
            None,
        )
    return None


def _atomically(path: Path, value: Any) -> None:
    """Written in full or not at all: an auditor copying the folder never sees half a file."""
    with _atomic_file(path) as file:
        file.write(orjson.dumps(value))


@contextmanager
def _atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A file written in full, synced and put in place at the end — or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    try:
        with open(temporary, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


@contextmanager
def _always() -> Iterator[bool]:
    yield True


class KafkaPublisher:
    """Publishes each signed checkpoint (without its leaves) to follow-up's checkpoint
    topic, all under one key, so they stay in order on one partition."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.checkpoint_topic()
        self._producer: Any = None

    def publish(self, signed: dict[str, Any]) -> None:
        if self._producer is None:
            self._producer = make_producer(self.settings, "followup", "followup-checkpoints")
        self._producer.send(self.topic, key=b"checkpoint", value=orjson.dumps(signed)).get(
            timeout=30
        )

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)


def advisory_lock(settings: Settings) -> Callable[[], AbstractContextManager[bool]]:
    """One copy of follow-up signs at a time (a PostgreSQL advisory lock, held while it
    signs), so sequence numbers never fork."""

    @contextmanager
    def held() -> Iterator[bool]:
        with connect(settings) as conn:
            got = conn.execute(
                "SELECT pg_try_advisory_lock(hashtext('onestop-followup-checkpoints'))"
            ).fetchone()
            try:
                yield bool(got and got[0])
            finally:
                if got and got[0]:
                    conn.execute(
                        "SELECT pg_advisory_unlock(hashtext('onestop-followup-checkpoints'))"
                    )

    return held
