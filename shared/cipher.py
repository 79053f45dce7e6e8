"""At-rest encryption of event bodies: AES-GCM, in the byte layout of eventsourcing's own
`AESCipher` (12-byte nonce, 16-byte tag, ciphertext), so either can read what the other wrote.

eventsourcing's cipher builds a new pycryptodome cipher for every event (~180 µs on this
machine, each way); OpenSSL's AES-GCM, set up once per key, takes a few microseconds. Every
event intake stores or reads passes through here, so it showed in registration throughput.
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


class FastAESCipher(Cipher):
    CIPHER_KEY = AESCipher.CIPHER_KEY

    def __init__(self, environment: Environment) -> None:
        encoded = environment.get(self.CIPHER_KEY)
        if not encoded:
            raise OSError(f"'{self.CIPHER_KEY}' not in env")
        key = b64decode(encoded.encode("utf8"))
        AESCipher.check_key_size(len(key))
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE)
        sealed = self._aead.encrypt(nonce, plaintext, None)  # ciphertext + tag
        return nonce + sealed[-TAG:] + sealed[:-TAG]

    def decrypt(self, ciphertext: bytes) -> bytes:
        if len(ciphertext) < NONCE + TAG:
            raise ValueError("Damaged cipher text: shorter than a nonce and a tag")
        nonce, tag, body = ciphertext[:NONCE], ciphertext[NONCE : NONCE + TAG], ciphertext[28:]
        try:
            return self._aead.decrypt(nonce, body + tag, None)
        except InvalidTag:
            raise ValueError("Cipher text is damaged: the tag does not match") from None
