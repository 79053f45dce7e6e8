"""The words every service uses for the same things, as enums: one definition each, read by
the domain, the wire contracts and the API alike."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """来访/来信/电话/网上/领导信箱 — how the matter reached the centre; `system` when another
    government system (12345 hotline, an online portal) pushed it in."""

    VISIT = "visit"
    LETTER = "letter"
    PHONE = "phone"
    ONLINE = "online"
    LEADER_MAILBOX = "leader-mailbox"
    SYSTEM = "system"


class LegalClass(StrEnum):
    """The three legal classes of Arts. 29–31: 建议意见类, 检举控告类, 申诉求决类."""

    SUGGESTION = "suggestion"
    ACCUSATION = "accusation"
    CLAIM = "claim"


class LegalChannel(StrEnum):
    """Where a matter that is not for the petition system goes instead (诉访分离, Art. 31)."""

    COURT = "court"
    PROCURATORATE = "procuratorate"
    ARBITRATION = "arbitration"
    LABOUR_ARBITRATION = "labour-arbitration"
    ADMINISTRATIVE_RECONSIDERATION = "administrative-reconsideration"
    DISCIPLINE_INSPECTION = "discipline-inspection"


class Decision(StrEnum):
    """受理 / 不予受理 / 导入法定途径."""

    ACCEPT = "accept"
    DECLINE = "decline"
    DIVERT = "divert"


class Stationing(StrEnum):
    """常驻 stationed at the centre every day, 轮驻 on a rotation timetable, or 随驻 on call."""

    PERMANENT = "permanent"
    ROTATION = "rotation"
    ON_CALL = "on-call"


class ClosureBase(StrEnum):
    """办结率's denominator: the matters accepted, or every matter registered."""

    ACCEPTED = "accepted"
    REGISTERED = "registered"


class Resolution(StrEnum):
    """化解率: a matter counts as resolved once settled (an outcome the petitioner accepted),
    or only once closed out (销号)."""

    SETTLED = "settled"
    CLOSED_OUT = "closed-out"


class Cessation(StrEnum):
    """息访率: the petitioner stopped — no repeat since the outcome, a signed commitment
    (息诉罢访承诺书), or either."""

    NO_REPEAT = "no-repeat"
    COMMITMENT = "commitment"
    EITHER = "either"
