"""One key per purpose, each derived (HKDF-SHA256) from its own secret.

- **data**: the AES-256 keyring personal data is sealed with at rest (`ONESTOP_DATA_KEYS`,
  newest first; see `shared.cipher`);
- **petitioner id**: the HMAC key that finds a person again from their ID-card number or
  phone without storing either (`ONESTOP_PETITIONER_ID_SECRET`);
- **case code**: the HMAC key of the code a petitioner looks their case up with
  (`ONESTOP_CASE_CODE_SECRET`);
- **evidence signing**: follow-up's Ed25519 key that signs checkpoints over every case's
  chain and the dossiers it exports (`ONESTOP_EVIDENCE_SIGNING_SECRET`, `evidence_signer`).

Knowing one gives nothing of the others. A store from a release that had one key for all
three (`ONESTOP_PII_KEY`) keeps working: where a purpose's own secret is not set, its key is
derived from that one as that release did, so petitioner ids and case codes stay the same.
"""

from __future__ import annotations

import hashlib
import hmac
from base64 import b64decode
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.evidence import Signer
from shared.settings import Settings


def derive(secret: str, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret.encode()
    )


@dataclass(frozen=True)
class Keys:
    data_keyring: str
    """The cipher's keyring, as `shared.cipher.parse_keyring` reads it."""
    petitioner_id: bytes
    case_code: bytes

    @classmethod
    def of(cls, settings: Settings) -> Keys:
        legacy = settings.pii_key.get_secret_value()
        data = settings.data_keys.get_secret_value() or legacy
        pid_secret = settings.petitioner_id_secret.get_secret_value()
        code_secret = settings.case_code_secret.get_secret_value()
        if not data or not ((pid_secret and code_secret) or legacy):
            raise RuntimeError(
                "ONESTOP_DATA_KEYS, ONESTOP_PETITIONER_ID_SECRET and ONESTOP_CASE_CODE_SECRET "
                "are not set: run deploy/scripts/secrets.sh (make up does)"
            )
        if pid_secret:
            petitioner_id = derive(pid_secret, b"onestop petitioner id v1")
        else:  # as the release with one key derived it
            petitioner_id = hmac.new(
                b64decode(legacy), b"onestop blind index v1", hashlib.sha256
            ).digest()
        if code_secret:
            case_code = derive(code_secret, b"onestop case code v1")
        else:
            case_code = hmac.new(b64decode(legacy), b"onestop case codes", hashlib.sha256).digest()
        return cls(data, petitioner_id, case_code)


def evidence_signer(settings: Settings) -> Signer:
    """Follow-up's signing key, derived from its own secret (never stored in the repo)."""
    secret = settings.evidence_signing_secret.get_secret_value()
    if not secret:
        raise RuntimeError(
            "ONESTOP_EVIDENCE_SIGNING_SECRET is not set: run deploy/scripts/secrets.sh "
            "(make up does)"
        )
    seed = derive(secret, b"onestop evidence signing v1")
    return Signer(Ed25519PrivateKey.from_private_bytes(seed))
