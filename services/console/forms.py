"""The console's forms as the services' request bodies, and the services' answers back as
what the forms show. A form field is named by the path of the API field it fills
(`petitioner.id_number`, `location.place`), so an API error naming a field lands beside the
very input it is about."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.console.backend import Answer

if TYPE_CHECKING:
    from services.console.web import Page

PERSON = ("name", "id_number", "phone", "address")
REGISTRATION_FIELDS = (
    "channel",
    *(f"petitioner.{f}" for f in PERSON),
    "subject",
    "description",
    "category",
    "location.place",
    "legal_class",
    "addressed_to",
)


def _text(given: dict[str, str], name: str) -> str | None:
    value = given.get(name, "").strip()
    return value or None


def registration(given: dict[str, str]) -> dict[str, Any]:
    """The registration form as intake's body: empty fields left out, so intake names
    what is missing rather than what is blank."""
    body: dict[str, Any] = {
        key: value
        for key in ("channel", "subject", "description", "category", "legal_class", "addressed_to")
        if (value := _text(given, key)) is not None
    }
    person = {f: v for f in PERSON if (v := _text(given, f"petitioner.{f}")) is not None}
    if person:
        body["petitioner"] = person
    body["location"] = {"place": _text(given, "location.place") or ""}
    action = _text(given, "duplicate_decision.action")
    if action == "link":
        body["duplicate_decision"] = {
            "action": "link",
            "case_id": _text(given, "duplicate_decision.case_id"),
        }
    elif action == "new":
        body["duplicate_decision"] = {
            "action": "new",
            "reason": _text(given, "duplicate_decision.reason"),
        }
    return body


def registration_errors(answer: Answer) -> dict[str, str]:
    """Each refused field beside its input; one the form has no input for under `_form`."""
    found: dict[str, str] = {}
    for name, message in answer.field_errors().items():
        target = name if name in REGISTRATION_FIELDS or name.startswith("duplicate") else "_form"
        if target.startswith("duplicate_decision"):
            target = "duplicate_decision.reason"
        if target == "location":
            target = "location.place"
        found.setdefault(target, message)
    if answer.status == 422 and not found:
        found["_form"] = answer.detail
    return found


def candidate_view(page: Page, candidate: dict[str, Any]) -> dict[str, Any]:
    """A possible duplicate as the dialog lists it, in the user's words."""
    return {
        "case_id": candidate["case_id"],
        "short": candidate["case_id"][:8],
        "registered_at": page.local(candidate.get("registered_at")),
        "category": candidate.get("category", ""),
        "status": page.t("status:" + str(candidate.get("status", ""))),
        "place": candidate.get("place", ""),
        "reasons": [page.t("duplicate:" + str(r)) for r in candidate.get("reasons", [])],
    }
