"""Free text that leaves intake carries no one's personal data.

A clerk types what the petitioner says into a case's subject and description, and people
say their phone number, ID number or e-mail in it, and name themselves and others. That
text goes to other services (Kafka) and, for requests filed through Open311, to anyone. So
before it leaves intake it is scrubbed: every phone number however it is written (spaces,
dashes, +86, a landline with its area code), ID-card number, e-mail address and long digit
run, and the names of the case's own petitioners, are replaced by a marker saying what was
there. Inside intake, for those entitled to see it, the text is kept as it was typed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SEP = r"[\s\-\u00a0.]?"
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+"), "〔邮箱〕"),
    (
        re.compile(
            r"(?<!\d)[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?!\d)"
        ),
        "〔身份证号〕",
    ),
    (
        re.compile(rf"(?<![\d+])(?:(?:\+|00)?86{_SEP})?1[3-9]\d(?:{_SEP}\d){{8}}(?!\d)"),
        "〔电话〕",
    ),
    (re.compile(rf"(?<!\d)\(?0\d{{2,3}}\)?{_SEP}\d{{3,4}}{_SEP}\d{{4}}(?!\d)"), "〔电话〕"),
    (re.compile(r"(?<!\d)\d{7,}(?!\d)"), "〔号码〕"),
)
"""E-mail first (its digits are not a phone), then ID numbers, mobiles, landlines, and any
other run of seven or more digits (an old 15-digit ID, a bank card, a house phone without
its area code)."""


def scrub(text: str, names: Iterable[str] = ()) -> str:
    """The text with personal data replaced by markers (see the module docstring)."""
    for pattern, marker in PATTERNS:
        text = pattern.sub(marker, text)
    for name in sorted(
        {n.strip() for n in names if n and len(n.strip()) > 1}, key=len, reverse=True
    ):
        text = text.replace(name, "〔姓名〕")
    return text
