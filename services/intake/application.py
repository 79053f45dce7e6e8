"""Intake's application service: one method per command — build or load, change, save."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from services.intake.domain import Case, Channel
from shared.batching import GroupCommitter
from shared.domain import Actor, Trace
from shared.http import NotFound


class IntakeApplication(Application[UUID]):
    name = "intake"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.committer: GroupCommitter | None = None

    def use_group_commit(self, committer: GroupCommitter) -> None:
        """Save concurrent registrations together (see `shared.batching`)."""
        self.committer = committer

    def register_case(
        self,
        *,
        channel: Channel,
        petitioner_name: str,
        petitioner_phone: str,
        subject: str,
        description: str,
        category: str,
        location: dict[str, Any],
        actor: Actor,
        trace: Trace,
    ) -> Case:
        case = Case.register(
            channel=channel,
            petitioner_name=petitioner_name,
            petitioner_phone=petitioner_phone,
            subject=subject,
            description=description,
            category=category,
            location=location,
            actor=actor,
            trace=trace,
        )
        if self.committer:
            self.committer.save(case)
        else:
            self.save(case)
        return case

    def get_case(self, case_id: UUID) -> Case:
        try:
            case: Case = self.repository.get(case_id)
        except AggregateNotFoundError:
            raise NotFound(f"case {case_id}") from None
        return case
