"""The case code (查询码) a petitioner is given at registration, to look up progress and rate
the handling without an account (Art. 21).

The code is a keyed hash of the case id, so intake can print it again (a lost receipt) but
nobody can work it out without intake's key; it is never stored, only its SHA-256, which
follow-up uses to find the case. 60 bits, in an alphabet without look-alike characters.
"""

from __future__ import annotations

import hashlib
import hmac
from uuid import UUID

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


def case_code(key: bytes, case_id: UUID) -> str:
    digest = hmac.digest(key, b"onestop case code v1:" + case_id.bytes, "sha256")
    number = int.from_bytes(digest[:8], "big") >> 4  # 60 bits
    chars = []
    for _ in range(12):
        number, index = divmod(number, 32)
        chars.append(ALPHABET[index])
    code = "".join(chars)
    return f"{code[:4]}-{code[4:8]}-{code[8:]}"


def normalise(code: str) -> str:
    """What the petitioner typed, as the code: case, spaces and dashes do not matter."""
    return "".join(c for c in code.upper() if c.isalnum())


def code_hash(code: str) -> str:
    return hashlib.sha256(normalise(code).encode()).hexdigest()
