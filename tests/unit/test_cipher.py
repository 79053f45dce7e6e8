"""The at-rest cipher reads what eventsourcing's own AES cipher wrote, and the other way round."""

import pytest
from eventsourcing.cipher import AESCipher
from eventsourcing.utils import Environment

from shared.cipher import FastAESCipher

ENV = Environment(env={"CIPHER_KEY": AESCipher.create_key(32)})
BODY = '{"name": "王小明", "phone": "13800138000"}'.encode()


def test_reads_and_writes_the_layout_of_eventsourcings_cipher() -> None:
    ours, theirs = FastAESCipher(ENV), AESCipher(ENV)
    assert ours.decrypt(theirs.encrypt(BODY)) == BODY
    assert theirs.decrypt(ours.encrypt(BODY)) == BODY


def test_hides_the_body_and_never_repeats_a_nonce() -> None:
    cipher = FastAESCipher(ENV)
    first, second = cipher.encrypt(BODY), cipher.encrypt(BODY)
    assert b"13800138000" not in first
    assert first[:12] != second[:12]


def test_a_changed_byte_or_another_key_is_refused() -> None:
    sealed = bytearray(FastAESCipher(ENV).encrypt(BODY))
    sealed[-1] ^= 1
    with pytest.raises(ValueError, match="damaged"):
        FastAESCipher(ENV).decrypt(bytes(sealed))
    other = FastAESCipher(Environment(env={"CIPHER_KEY": AESCipher.create_key(32)}))
    with pytest.raises(ValueError, match="damaged"):
        other.decrypt(FastAESCipher(ENV).encrypt(BODY))
    with pytest.raises(ValueError, match="Damaged"):
        FastAESCipher(ENV).decrypt(b"short")


def test_a_missing_or_wrong_sized_key_is_refused() -> None:
    with pytest.raises(OSError, match="CIPHER_KEY"):
        FastAESCipher(Environment(env={}))
    with pytest.raises(ValueError, match="key size"):
        FastAESCipher(Environment(env={"CIPHER_KEY": "c2hvcnQ="}))
