"""The at-rest cipher: a keyring, newest key first; it reads what eventsourcing's own AES
cipher (and earlier releases) wrote."""

import pytest
from eventsourcing.cipher import AESCipher
from eventsourcing.utils import Environment

from shared.cipher import FastAESCipher

ENV = Environment(env={"CIPHER_KEY": AESCipher.create_key(32)})
BODY = '{"name": "王小明", "phone": "13800138000"}'.encode()


def test_reads_what_eventsourcings_cipher_and_earlier_releases_wrote() -> None:
    ours, theirs = FastAESCipher(ENV), AESCipher(ENV)
    assert ours.decrypt(theirs.encrypt(BODY)) == BODY
    assert ours.decrypt(ours.encrypt(BODY)) == BODY


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


def ring(*ids: str) -> dict[str, str]:
    return {key_id: AESCipher.create_key(32) for key_id in ids}


def env_of(keys: dict[str, str], *order: str) -> Environment:
    return Environment(env={"CIPHER_KEY": ",".join(f"{k}:{keys[k]}" for k in order)})


def test_a_rotated_keyring_writes_with_the_newest_key_and_reads_with_every_one() -> None:
    keys = ring("k1", "k2")
    before = FastAESCipher(env_of(keys, "k1"))
    old = before.encrypt(BODY)
    after = FastAESCipher(env_of(keys, "k2", "k1"))
    new = after.encrypt(BODY)
    assert after.key_of(new) == "k2" and after.key_of(old) == "k1"
    assert after.decrypt(old) == after.decrypt(new) == BODY
    with pytest.raises(ValueError, match="damaged"):
        FastAESCipher(env_of(keys, "k2")).decrypt(old)  # k1 dropped too early


def test_bodies_from_before_keyrings_are_read_with_the_oldest_key_and_sealed_again() -> None:
    legacy_key = AESCipher.create_key(32)
    legacy = AESCipher(Environment(env={"CIPHER_KEY": legacy_key})).encrypt(BODY)
    keys = ring("k1")
    cipher = FastAESCipher(Environment(env={"CIPHER_KEY": f"k1:{keys['k1']},k0:{legacy_key}"}))
    assert cipher.key_of(legacy) is None and cipher.decrypt(legacy) == BODY
    again = cipher.reencrypt(legacy)
    assert again is not None and cipher.key_of(again) == "k1" and cipher.decrypt(again) == BODY
    assert cipher.reencrypt(again) is None  # already under the newest key


def test_a_keyring_with_a_bad_entry_is_refused() -> None:
    keys = ring("k1")
    with pytest.raises(ValueError, match="same id"):
        FastAESCipher(env_of(keys, "k1", "k1"))
    with pytest.raises(ValueError, match="key size"):
        FastAESCipher(Environment(env={"CIPHER_KEY": "k1:c2hvcnQ="}))
