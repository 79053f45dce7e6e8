"""Evidence an outsider can check without trusting the database: the hash chain of a case's
history, a Merkle tree over every chain's head, and Ed25519 signatures over that tree.

Follow-up keeps each case's history as a hash chain (`services.followup.domain.history`).
A chain proves only that nothing in it changed *relative to its own head*: whoever can
rewrite follow-up's schema can rewrite an entry and recompute every hash after it. So
follow-up periodically signs a **checkpoint** — the root of a Merkle tree whose leaves are
every case's (entries, head hash), with the time and the position in its log — and
publishes it outside its store (its own Kafka topic, files an auditor archives). A chain
rewritten after a checkpoint no longer ends, at the checkpointed length, in the head the
signed root covers; without the private key no new root can be signed.

The tree is RFC 9162's (Certificate Transparency v2): leaves and nodes hashed with distinct
prefixes, inclusion proofs as the sibling path. Everything here is pure computation — no
database, no network — so the offline verifier (`onestop verify`) uses the same code as the
service that signs.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

GENESIS = "0" * 64
"""The `previous_hash` of a chain's first entry."""

CHECKPOINT_FORMAT = "onestop-checkpoint/1"
DOSSIER_FORMAT = "onestop-dossier/1"


def canonical(value: Any) -> bytes:
    """The one byte form of a JSON value that is hashed and signed: keys sorted, no
    insignificant spaces, text as UTF-8 (not escaped)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the hash chain of one case's history ---------------------------------------------------

CHAINED_FIELDS = (
    "event_id",
    "service",
    "type",
    "time",
    "actor",
    "correlation_id",
    "causation_id",
    "data",
)
"""The fields of a history entry its hash covers (the time as ISO-8601 text)."""


def entry_hash(previous: str, fields: dict[str, Any]) -> str:
    """An entry's hash: SHA-256 of the previous hash and the entry's fields as sorted JSON —
    exactly as `HistoryEntry.canonical` hashes them, from their JSON form alone."""
    covered = {name: fields[name] for name in CHAINED_FIELDS}
    text = json.dumps(covered, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(previous.encode() + text.encode()).hexdigest()


# --- the Merkle tree over every case's head ---------------------------------------------------


@dataclass(frozen=True, order=True)
class Leaf:
    """One case's chain as a checkpoint saw it: how many entries and the hash of the last."""

    case_id: str
    entries: int
    head: str

    def hash(self) -> bytes:
        return hashlib.sha256(
            b"\x00" + f"{self.case_id}:{self.entries}:{self.head}".encode()
        ).digest()

    def as_list(self) -> list[Any]:
        return [self.case_id, self.entries, self.head]


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class MerkleRoot:
    """RFC 9162 §2.1.1's root over leaf hashes added one at a time, in order, holding only
    the roots of the complete subtrees so far (one per bit of the count): a million cases'
    heads are signed as they stream out of the database, never held at once."""

    def __init__(self) -> None:
        self.size = 0
        self._complete: list[tuple[int, bytes]] = []

    def add(self, leaf: bytes) -> None:
        width, node = 1, leaf
        while self._complete and self._complete[-1][0] == width:
            node = _node(self._complete.pop()[1], node)
            width *= 2
        self._complete.append((width, node))
        self.size += 1

    def root(self) -> bytes:
        """The tree's root: the complete subtrees, largest on the left, joined from the
        right (what §2.1.1's split at the largest power of two below n comes to)."""
        if not self._complete:
            return hashlib.sha256(b"").digest()
        node = self._complete[-1][1]
        for _, left in reversed(self._complete[:-1]):
            node = _node(left, node)
        return node


def merkle_root(hashes: Iterable[bytes]) -> bytes:
    """RFC 9162 §2.1.1: the root of the tree over these leaf hashes, in order."""
    tree = MerkleRoot()
    for leaf in hashes:
        tree.add(leaf)
    return tree.root()


def proof_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaves [start, end) under each sibling on the path from leaf `index` of a tree of
    `size` up to the root, nearest first: RFC 9162 §2.1.3.1's recursion, without hashing."""
    ranges: list[tuple[int, int]] = []
    low, high = 0, size
    while high - low > 1:
        k = _split(high - low)
        if index < low + k:
            ranges.append((low + k, high))
            high = low + k
        else:
            ranges.append((low, low + k))
            low += k
    return ranges[::-1]


def inclusion_proof(hashes: Iterable[bytes], index: int, size: int | None = None) -> list[bytes]:
    """RFC 9162 §2.1.3.1: the sibling hashes from leaf `index` up to the root, in one pass
    over the leaf hashes (`size` of them: given, when they stream, or counted)."""
    if size is None:
        hashes = list(hashes)
        size = len(hashes)
    ranges = proof_ranges(index, size)
    siblings = [MerkleRoot() for _ in ranges]
    by_start = sorted(range(len(ranges)), key=lambda i: ranges[i][0])
    at = 0
    for position, leaf in enumerate(hashes):
        while at < len(by_start) and position >= ranges[by_start[at]][1]:
            at += 1
        if at < len(by_start) and ranges[by_start[at]][0] <= position:
            siblings[by_start[at]].add(leaf)
    return [sibling.root() for sibling in siblings]


def root_from_proof(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """RFC 9162 §2.1.3.2: the root a leaf and its proof lead to, or None if the proof cannot
    belong to a tree of `size` leaves."""
    if index >= size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return None
        if fn % 2 == 1 or fn == sn:
            r = _node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


# --- signatures ------------------------------------------------------------------------------


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def fingerprint(public_pem: str) -> str:
    """What an auditor compares to the published key: SHA-256 of its raw 32 bytes."""
    key = load_public_key(public_pem)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def load_public_key(pem: str) -> Ed25519PublicKey:
    key = serialization.load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


@dataclass(frozen=True)
class Signer:
    """Signs checkpoints and dossiers with follow-up's evidence key (`shared.keys`)."""

    private: Ed25519PrivateKey

    @property
    def public_pem(self) -> str:
        return public_key_pem(self.private.public_key())

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_pem)

    def sign(self, body: Any) -> str:
        return base64.b64encode(self.private.sign(canonical(body))).decode()


def signature_holds(public_pem: str, body: Any, signature: str) -> bool:
    try:
        load_public_key(public_pem).verify(
            base64.b64decode(signature, validate=True), canonical(body)
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def checkpoint_digest(signed: dict[str, Any]) -> str:
    """What the next checkpoint names as its `previous`: the hash of the whole signed
    checkpoint, so one cannot be dropped from the sequence unnoticed."""
    return sha256(canonical({"checkpoint": signed["checkpoint"], "signature": signed["signature"]}))


# --- a case's dossier, checked offline ---------------------------------------------------------

SEALED_SECTIONS = ("clocks", "outcomes", "return_visits", "visits", "reviews", "attachments")
"""The dossier's lists, each item sealed by its own digest (so a change names its item)."""


def seal_digests(dossier: dict[str, Any]) -> dict[str, str]:
    """The digest of every part of a dossier but its entries (which the hash chain covers)
    and its seal: the header, the case, and each item of each list."""
    digests = {
        "header": sha256(
            canonical(
                {k: dossier.get(k) for k in ("format", "case_id", "exported_at", "exported_by")}
            )
        ),
        "case": sha256(canonical(dossier.get("case"))),
    }
    for section in SEALED_SECTIONS:
        for index, item in enumerate(dossier.get(section) or []):
            digests[f"{section}.{index}"] = sha256(canonical(item))
    return digests


@dataclass
class DossierCheck:
    """What `verify_dossier` found: `failures` (the dossier is not what follow-up exported,
    or not what its checkpoint signed), and `notes` (true, but worth knowing)."""

    failures: list[str]
    notes: list[str]
    case_id: str | None = None
    fingerprint: str | None = None

    @property
    def verified(self) -> bool:
        return not self.failures


def _first_difference(a: bytes, b: bytes) -> int:
    return next(
        (i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b))
    )


def verify_dossier(
    raw: bytes,
    trusted_fingerprint: str | None = None,
    archive: Sequence[dict[str, Any]] | None = None,
) -> DossierCheck:
    """Check a dossier as exported by `GET /v1/cases/{id}/dossier`, with nothing but its
    bytes (and, best, the fingerprint of follow-up's published key, and the checkpoints
    the auditor archived as they were published): each failure says where — the byte, the
    entry's position, the item of a section, the checkpoint."""
    failures: list[str] = []
    notes: list[str] = []
    try:
        dossier = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        where = (
            f"line {error.lineno} column {error.colno} (byte {error.pos})"
            if isinstance(error, json.JSONDecodeError)
            else f"byte {error.start}"
        )
        return DossierCheck([f"not a dossier: not valid JSON at {where}: {error}"], [])
    if not isinstance(dossier, dict) or dossier.get("format") != DOSSIER_FORMAT:
        return DossierCheck([f"not a dossier: its format is not {DOSSIER_FORMAT}"], [])
    check = DossierCheck(failures, notes, dossier.get("case_id"))
    exported = canonical(dossier)
    if raw.rstrip(b"\n") != exported:
        at = _first_difference(raw, exported)
        failures.append(f"byte {at}: the file is not byte for byte as it was exported")

    try:
        public = dossier["public_key"]["pem"]
        check.fingerprint = fingerprint(public)
    except (KeyError, TypeError, ValueError):
        failures.append("public_key: missing or not an Ed25519 public key")
        return check
    if trusted_fingerprint and trusted_fingerprint != check.fingerprint:
        failures.append(
            f"public_key: {check.fingerprint} is not the key you trust ({trusted_fingerprint})"
        )

    entries = dossier.get("entries") or []
    previous = GENESIS
    for index, entry in enumerate(entries):
        position = index + 1
        what = f"entry {position} ({entry.get('type', '?')})"
        try:
            if entry.get("position") != position:
                failures.append(f"{what}: numbered {entry.get('position')}, stands at {position}")
            if entry["previous_hash"] != previous:
                failures.append(f"{what}: does not follow entry {index} (previous_hash differs)")
            if entry_hash(entry["previous_hash"], entry) != entry["hash"]:
                failures.append(f"{what}: altered — its content does not hash to its hash")
            previous = entry["hash"]
        except (KeyError, TypeError):
            failures.append(f"{what}: lacks a field the chain covers")
    head = entries[-1]["hash"] if entries and isinstance(entries[-1], dict) else GENESIS

    seal = dossier.get("seal") or {}
    body = seal.get("body") or {}
    if not signature_holds(public, body, str(seal.get("signature", ""))):
        failures.append("seal: its signature does not hold (the seal was changed, or another key)")
    sealed = body.get("digests") or {}
    found = seal_digests(dossier)
    for path in sorted(set(sealed) | set(found), key=_path_order):
        if path not in found:
            failures.append(f"{path}: sealed at export, missing now")
        elif path not in sealed:
            failures.append(f"{path}: not in the dossier as exported (added since)")
        elif sealed[path] != found[path]:
            failures.append(f"{path}: altered after export (its digest is not the sealed one)")
    if body.get("case_id") != dossier.get("case_id"):
        failures.append("case_id: not the case the seal names")
    if body.get("entries") != len(entries) or body.get("head") != head:
        failures.append(
            f"entries: the seal names {body.get('entries')} entries ending in "
            f"{str(body.get('head'))[:12]}…; the dossier has {len(entries)} ending in {head[:12]}…"
        )

    _check_checkpoint(dossier, entries, check)
    if archive is not None:
        _check_archive(dossier, archive, check)
    return check


def _path_order(path: str) -> tuple[str, int]:
    name, _, index = path.partition(".")
    return name, int(index) if index.isdigit() else -1


def _check_checkpoint(dossier: dict[str, Any], entries: list[Any], check: DossierCheck) -> None:
    signed = dossier.get("checkpoint")
    if not signed:
        check.notes.append(
            "no signed checkpoint covers this case yet: the entries are covered by the "
            "dossier's seal only"
        )
        return
    try:
        body, leaf, proof = signed["checkpoint"], signed["leaf"], signed["proof"]
        sequence = body["sequence"]
        label = f"checkpoint {sequence} (signed {body['signed_at']})"
        if not signature_holds(dossier["public_key"]["pem"], body, signed["signature"]):
            check.failures.append(f"{label}: its signature does not hold")
        if body.get("key") != check.fingerprint:
            check.failures.append(f"{label}: names key {body.get('key')}, not the dossier's")
        if leaf["case_id"] != dossier.get("case_id"):
            check.failures.append(f"{label}: its leaf is of case {leaf['case_id']}")
        count = int(leaf["entries"])
        if count > len(entries):
            check.failures.append(
                f"{label}: signed {count} entries; the dossier has {len(entries)} — "
                f"entries {len(entries) + 1}–{count} were removed"
            )
        elif entries[count - 1]["hash"] != leaf["head"]:
            check.failures.append(
                f"{label}: entries 1–{count} do not end in the head it signed "
                f"({leaf['head'][:12]}…): an entry among them was rewritten"
            )
        hashes = [base64.b64decode(p, validate=True) for p in proof]
        computed = root_from_proof(
            Leaf(leaf["case_id"], count, leaf["head"]).hash(),
            int(leaf["index"]),
            int(body["cases"]),
            hashes,
        )
        if computed is None or computed.hex() != body["root"]:
            check.failures.append(f"{label}: the inclusion proof does not lead to its signed root")
        if count < len(entries):
            check.notes.append(
                f"entries {count + 1}–{len(entries)} came after {label}: chained and sealed, "
                "not yet in a signed checkpoint"
            )
        check.notes.append(f"{label} covers entries 1–{count}")
    except (KeyError, TypeError, ValueError, IndexError) as error:
        check.failures.append(f"checkpoint: incomplete or malformed ({error})")


def _check_archive(
    dossier: dict[str, Any], archive: Sequence[dict[str, Any]], check: DossierCheck
) -> None:
    """The checkpoints an auditor archived as they were published, each signed by the
    dossier's key and each naming the one before; and the dossier's checkpoint one of them,
    byte for byte. Whoever holds the signing key could rewrite a chain and sign a new
    checkpoint over it under an old number: only what was archived before tells."""
    public = dossier["public_key"]["pem"]
    by_sequence: dict[int, dict[str, Any]] = {}
    for document in archive:
        try:
            signed = {"checkpoint": document["checkpoint"], "signature": document["signature"]}
            sequence = int(signed["checkpoint"]["sequence"])
        except (KeyError, TypeError, ValueError):
            check.failures.append("archive: a file that is not a signed checkpoint")
            continue
        if not signature_holds(public, signed["checkpoint"], str(signed["signature"])):
            check.failures.append(
                f"archive: checkpoint {sequence} is not signed by the dossier's key"
            )
        elif sequence in by_sequence and by_sequence[sequence] != signed:
            check.failures.append(
                f"archive: checkpoint {sequence} was signed twice, differently: the signer "
                "forked its sequence"
            )
        by_sequence.setdefault(sequence, signed)
    for sequence, signed in sorted(by_sequence.items()):
        before = by_sequence.get(sequence - 1)
        if before is not None and signed["checkpoint"].get("previous") != checkpoint_digest(before):
            check.failures.append(
                f"archive: checkpoint {sequence} does not name checkpoint {sequence - 1} as "
                "archived as the one before it"
            )
    mine = dossier.get("checkpoint")
    if not mine:
        return
    try:
        sequence = int(mine["checkpoint"]["sequence"])
        signed = {"checkpoint": mine["checkpoint"], "signature": mine["signature"]}
    except (KeyError, TypeError, ValueError):
        return  # already a failure of the checkpoint itself
    archived = by_sequence.get(sequence)
    if archived is None:
        latest = max(by_sequence, default=0)
        check.notes.append(
            f"checkpoint {sequence} is not in your archive (its latest is {latest}): "
            + ("archive it now" if sequence > latest else "a gap in your archive")
        )
    elif archived != signed:
        check.failures.append(
            f"checkpoint {sequence}: not the checkpoint {sequence} you archived (root "
            f"{str(archived['checkpoint'].get('root'))[:12]}… then, "
            f"{str(signed['checkpoint'].get('root'))[:12]}… now): signed again since"
        )
    else:
        check.notes.append(f"checkpoint {sequence} is the one in your archive")
