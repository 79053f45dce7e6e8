"""One key per purpose, each from its own secret; a store from the release with one key
keeps its petitioner ids and case codes."""

import hashlib
import hmac
from base64 import b64decode
from uuid import uuid4

import pytest
from eventsourcing.cipher import AESCipher
from pydantic import SecretStr

from shared.casecode import case_code
from shared.keys import Keys
from shared.settings import Settings

LEGACY = AESCipher.create_key(32)


@pytest.fixture(autouse=True)
def _only_the_tests_own_secrets(monkeypatch):
    """`make test` exports the secrets of its run directory; these tests give their own."""
    for name in ("DATA_KEYS", "PII_KEY", "PETITIONER_ID_SECRET", "CASE_CODE_SECRET"):
        monkeypatch.delenv(f"ONESTOP_{name}", raising=False)


def settings(**secrets: str) -> Settings:
    return Settings(**{k: SecretStr(v) for k, v in secrets.items()})


def test_each_purpose_has_its_own_key_from_its_own_secret():
    keys = Keys.of(
        settings(
            data_keys=f"k1:{AESCipher.create_key(32)}",
            petitioner_id_secret="p" * 40,
            case_code_secret="c" * 40,
        )
    )
    other = Keys.of(
        settings(
            data_keys=keys.data_keyring, petitioner_id_secret="q" * 40, case_code_secret="c" * 40
        )
    )
    assert keys.petitioner_id != keys.case_code
    assert keys.petitioner_id != other.petitioner_id and keys.case_code == other.case_code


def test_a_store_of_the_release_with_one_key_keeps_its_petitioner_ids_and_case_codes():
    keys = Keys.of(settings(pii_key=LEGACY))
    raw = b64decode(LEGACY)
    assert keys.petitioner_id == hmac.new(raw, b"onestop blind index v1", hashlib.sha256).digest()
    case_id = uuid4()
    then = hmac.new(raw, b"onestop case codes", hashlib.sha256).digest()
    assert case_code(keys.case_code, case_id) == case_code(then, case_id)
    assert keys.data_keyring == LEGACY


def test_missing_secrets_are_refused_naming_them():
    with pytest.raises(RuntimeError, match="ONESTOP_DATA_KEYS"):
        Keys.of(settings(data_keys=f"k1:{LEGACY}"))
