"""At-rest encryption of event bodies: AES-GCM under a keyring, so keys can be rotated.

`CIPHER_KEY` holds the keyring: `id:base64key` entries separated by commas, the newest
first — new writes use it, and every entry still reads what it wrote. A body written under
a keyring starts with a short header naming its key (`MAGIC`, the id's length, the id);
what was written before keyrings (eventsourcing's own `AESCipher` layout: 12-byte nonce,
16-byte tag, ciphertext) has none and is read with the oldest key. A single bare base64
key, as earlier releases configured it, is a keyring of one (id `k0`). `onestop keys
reencrypt` rewrites old bodies under the newest key (`reencrypt`), after which an old key
may be dropped.

eventsourcing's cipher builds a new pycryptodome cipher for every event (~180 µs on this
machine, each way); OpenSSL's AES-GCM, set up once per key, takes a few microseconds.
"""

from __future__ import annotations

import os
from base64 import b64decode

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.cipher import AESCipher
from eventsourcing.persistence import Cipher
from eventsourcing.utils import Environment

NONCE = 12
TAG = 16
MAGIC = b"\xa5OK"
LEGACY_ID = "k0"


def parse_keyring(text: str) -> list[tuple[str, bytes]]:
    """`id:base64key,…` (newest first), or one bare base64 key (id `k0`)."""
    ring = []
    for entry in (e.strip() for e in text.split(",") if e.strip()):
        key_id, _, encoded = entry.rpartition(":") if ":" in entry else (LEGACY_ID, "", entry)
        key = b64decode(encoded.encode("utf8"))
        AESCipher.check_key_size(len(key))
        if not key_id or len(key_id.encode()) > 32:
            raise ValueError(f"a key id is 1–32 bytes: {key_id!r}")
        ring.append((key_id, key))
    if not ring:
        raise ValueError("the keyring is empty")
    if len({key_id for key_id, _ in ring}) != len(ring):
        raise ValueError("two keys of the keyring have the same id")
    return ring


class FastAESCipher(Cipher):
    CIPHER_KEY = AESCipher.CIPHER_KEY

    def __init__(self, environment: Environment) -> None:
        encoded = environment.get(self.CIPHER_KEY)
        if not encoded:
            raise OSError(f"'{self.CIPHER_KEY}' not in env")
        ring = parse_keyring(encoded)
        self.current = ring[0][0]
        self._keys = {key_id: AESGCM(key) for key_id, key in ring}
        self._oldest = self._keys[ring[-1][0]]
        self._header = MAGIC + bytes([len(self.current.encode())]) + self.current.encode()

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        sealed = self._keys[self.current].encrypt(nonce, plaintext, None)  # body + tag
        return self._header + nonce + sealed[-TAG:] + sealed[:-TAG]

    def key_of(self, ciphertext: bytes) -> str | None:
        """The id of the key a body was written under (None: before keyrings)."""
        if ciphertext.startswith(MAGIC) and len(ciphertext) > len(MAGIC):
            size = ciphertext[len(MAGIC)]
            key_id = ciphertext[len(MAGIC) + 1 : len(MAGIC) + 1 + size]
            return key_id.decode("utf8", errors="replace")
        return None

    def decrypt(self, ciphertext: bytes) -> bytes:
        key_id = self.key_of(ciphertext)
        if key_id is not None and key_id in self._keys:
            start = len(MAGIC) + 1 + len(key_id.encode())
            try:
                return self._open(self._keys[key_id], ciphertext[start:])
            except ValueError:
                pass  # a body from before keyrings whose nonce began like a header
        return self._open(self._oldest, ciphertext)

    def reencrypt(self, ciphertext: bytes) -> bytes | None:
        """The body under the newest key, or None if it is under it already."""
        if self.key_of(ciphertext) == self.current:
            return None
        return self.encrypt(self.decrypt(ciphertext))

    @staticmethod
    def _open(aead: AESGCM, sealed: bytes) -> bytes:
        if len(sealed) < NONCE + TAG:
            raise ValueError("Damaged cipher text: shorter than a nonce and a tag")
        nonce, tag, body = sealed[:NONCE], sealed[NONCE : NONCE + TAG], sealed[NONCE + TAG :]
        try:
            return aead.decrypt(nonce, body + tag, None)
        except InvalidTag:
            raise ValueError("Cipher text is damaged: the tag does not match") from None
