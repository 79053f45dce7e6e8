"""The audit trail of a case: every event about it from every service, hash-chained."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

GENESIS = "0" * 64


def entry_hash(previous: str, entry: dict[str, Any]) -> str:
    canonical = json.dumps(
        entry, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    )
    return hashlib.sha256(previous.encode() + canonical.encode()).hexdigest()


def history_id(case_id: UUID) -> UUID:
    return uuid5(NAMESPACE_URL, f"onestop:case-history:{case_id}")


@dataclass(frozen=True)
class Verification:
    verified: bool
    entries: int
    head_hash: str
    broken_at: int | None = None
    problem: str | None = None


class CaseHistory(Aggregate):
    """The audit trail of one case: every event from every service, each entry hash-chained
    to the one before, so an altered or removed entry is detected on replay."""

    class Started(Aggregate.Created):
        case_id: str

        def apply(self, history: CaseHistory) -> None:
            history.case_id = self.case_id

    class EntryRecorded(Aggregate.Event):
        entry: dict[str, Any]
        previous_hash: str
        hash: str

        def apply(self, history: CaseHistory) -> None:
            history.entries.append(
                {**self.entry, "previous_hash": self.previous_hash, "hash": self.hash}
            )
            history.event_ids.add(self.entry["event_id"])

    def __init__(self) -> None:
        self.case_id = ""
        self.entries: list[dict[str, Any]] = []
        self.event_ids: set[str] = set()

    @classmethod
    def start(cls, case_id: UUID) -> CaseHistory:
        return cls._create(cls.Started, id=history_id(case_id), case_id=str(case_id))

    @property
    def head_hash(self) -> str:
        return self.entries[-1]["hash"] if self.entries else GENESIS

    def record(self, entry: dict[str, Any]) -> bool:
        """Append an entry; False if this event is already in the history (a redelivery)."""
        if entry["event_id"] in self.event_ids:
            return False
        previous = self.head_hash
        self.trigger_event(
            self.EntryRecorded,
            entry=entry,
            previous_hash=previous,
            hash=entry_hash(previous, entry),
        )
        return True

    def verify(self) -> Verification:
        previous = GENESIS
        for index, stored in enumerate(self.entries):
            entry = {k: v for k, v in stored.items() if k not in ("previous_hash", "hash")}
            if stored["previous_hash"] != previous:
                return Verification(
                    False,
                    len(self.entries),
                    self.head_hash,
                    index,
                    "an entry before this one is missing or was replaced",
                )
            if entry_hash(previous, entry) != stored["hash"]:
                return Verification(
                    False,
                    len(self.entries),
                    self.head_hash,
                    index,
                    "this entry was altered after it was recorded",
                )
            previous = stored["hash"]
        return Verification(True, len(self.entries), self.head_hash)


def causal_order(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Time order, except that nothing comes before the event that caused it."""
    by_id = {e["event_id"]: e for e in entries}
    ordered: list[dict[str, Any]] = []
    placed: set[str] = set()

    def place(entry: dict[str, Any], visiting: frozenset[str]) -> None:
        if entry["event_id"] in placed:
            return
        cause = by_id.get(entry.get("causation_id") or "")
        if cause is not None and cause["event_id"] not in visiting:
            place(cause, visiting | {entry["event_id"]})
        ordered.append(entry)
        placed.add(entry["event_id"])

    for entry in sorted(entries, key=lambda e: e["time"]):
        place(entry, frozenset())
    return ordered
