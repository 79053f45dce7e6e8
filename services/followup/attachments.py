"""Where attachments' bytes live: content-addressed, outside the event log.

A file is stored under the SHA-256 of its bytes; the event that attaches it to a case
records that hash, so the case's hash chain — and every checkpoint over it — covers the
file without carrying it. Reading a file back checks its bytes against its address: bytes
changed in the store are caught (`Damaged`), never served.

Two stores: the filesystem (`FileBlobs`, the default, under the run dir) and an S3-API
object store (`S3Blobs`) where the deployment has one. What a file is, is decided from its
bytes (`sniff`), not from the name or the type the sender declared.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

import httpx

from shared.domain import DomainError
from shared.settings import Settings

DIGEST = re.compile(r"^[0-9a-f]{64}$")


class Damaged(Exception):
    """The bytes stored under a hash are not the bytes that hash was taken of."""

    def __init__(self, digest: str) -> None:
        super().__init__(
            f"the stored bytes of attachment sha256:{digest} no longer match their hash: the "
            "attachment store was altered"
        )
        self.digest = digest


class Missing(Exception):
    """Nothing is stored under the hash (erased, or lost)."""


class UnacceptableFile(DomainError):
    """The file is too large, empty, or of a type the centre does not take."""


class Blobs(Protocol):
    def put(self, data: bytes) -> str:
        """Store the bytes under their SHA-256 (idempotent) and return it."""
        ...

    def get(self, digest: str) -> bytes:
        """The bytes, checked against their address; raises `Damaged` or `Missing`."""
        ...

    def delete(self, digest: str) -> None: ...


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checked(digest: str, data: bytes) -> bytes:
    if not hmac.compare_digest(digest_of(data), digest):
        raise Damaged(digest)
    return data


@dataclass
class MemoryBlobs:
    """For fast unit tests."""

    blobs: dict[str, bytes] = field(default_factory=dict)

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        self.blobs[digest] = data
        return digest

    def get(self, digest: str) -> bytes:
        if digest not in self.blobs:
            raise Missing(digest)
        return checked(digest, self.blobs[digest])

    def delete(self, digest: str) -> None:
        self.blobs.pop(digest, None)


@dataclass
class FileBlobs:
    """`<root>/ab/cd/abcd…` for each file: written to a temporary name, flushed to disk and
    renamed, so a reader never sees half a file; the same bytes twice are one file."""

    root: Path

    def path(self, digest: str) -> Path:
        if not DIGEST.match(digest):
            raise Missing(digest)
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        target = self.path(digest)
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{digest}.{os.getpid()}.tmp")
        with open(temporary, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(target)
        return digest

    def get(self, digest: str) -> bytes:
        try:
            return checked(digest, self.path(digest).read_bytes())
        except FileNotFoundError:
            raise Missing(digest) from None

    def delete(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)


@dataclass
class S3Blobs:
    """An S3-API object store (AWS, MinIO, Ceph RGW, a cloud's OSS S3 endpoint): one object
    per file, named by its hash, requests signed with AWS Signature Version 4."""

    endpoint: str
    bucket: str
    region: str
    access_key: str
    secret_key: str
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30))

    def _url(self, digest: str) -> str:
        if not DIGEST.match(digest):
            raise Missing(digest)
        return f"{self.endpoint.rstrip('/')}/{self.bucket}/{digest}"

    def _signed(self, method: str, url: str, body: bytes) -> dict[str, str]:
        now = dt.datetime.now(dt.UTC)
        stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
        parsed = httpx.URL(url)
        payload = hashlib.sha256(body).hexdigest()
        host = parsed.host + (f":{parsed.port}" if parsed.port else "")
        headers = {"host": host, "x-amz-content-sha256": payload, "x-amz-date": stamp}
        names = ";".join(sorted(headers))
        request = "\n".join(
            [
                method,
                quote(parsed.path),
                "",
                *(f"{k}:{headers[k]}" for k in sorted(headers)),
                "",
                names,
                payload,
            ]
        )
        scope = f"{day}/{self.region}/s3/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(request.encode()).hexdigest()]
        )
        key = f"AWS4{self.secret_key}".encode()
        for part in (day, self.region, "s3", "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers["authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.access_key}/{scope}, "
            f"SignedHeaders={names}, Signature={signature}"
        )
        del headers["host"]
        return headers

    def put(self, data: bytes) -> str:
        digest = digest_of(data)
        url = self._url(digest)
        answer = self.client.put(url, content=data, headers=self._signed("PUT", url, data))
        answer.raise_for_status()
        return digest

    def get(self, digest: str) -> bytes:
        url = self._url(digest)
        answer = self.client.get(url, headers=self._signed("GET", url, b""))
        if answer.status_code == 404:
            raise Missing(digest)
        answer.raise_for_status()
        return checked(digest, answer.content)

    def delete(self, digest: str) -> None:
        url = self._url(digest)
        answer = self.client.delete(url, headers=self._signed("DELETE", url, b""))
        if answer.status_code not in (200, 204, 404):
            answer.raise_for_status()


def blob_store(settings: Settings) -> Blobs:
    if settings.attachment_store == "s3":
        if not settings.attachment_s3_endpoint:
            raise RuntimeError("ONESTOP_ATTACHMENT_STORE=s3 needs ONESTOP_ATTACHMENT_S3_ENDPOINT")
        return S3Blobs(
            settings.attachment_s3_endpoint,
            settings.attachment_s3_bucket,
            settings.attachment_s3_region,
            settings.attachment_s3_access_key.get_secret_value(),
            settings.attachment_s3_secret_key.get_secret_value(),
        )
    return FileBlobs(settings.folder(settings.attachment_dir, "attachments"))


# --- what a file is, from its bytes -----------------------------------------------------------

ACCEPTED = {
    "application/pdf": "a PDF document",
    "image/jpeg": "a JPEG photo or scan",
    "image/png": "a PNG image",
    "image/webp": "a WebP image",
    "text/plain": "plain text (UTF-8)",
}
"""The types the centre takes: scanned letters and IDs, agreements, photos, typed text."""


def sniff(data: bytes) -> str | None:
    """The type the bytes are, by their signature; None for anything not accepted."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text):
        return None
    return "text/plain"


def check_file(data: bytes, declared: str | None, limit: int) -> str:
    """The file's real type, if the centre takes it: not empty, at most `limit` bytes, of an
    accepted type, and what its sender said it is (a mismatch is refused, not corrected:
    a PDF sent as a photo is someone's mistake or a trick)."""
    if not data:
        raise UnacceptableFile("the file is empty", field="file")
    if len(data) > limit:
        raise UnacceptableFile(f"a file is at most {limit} bytes", field="file")
    found = sniff(data)
    if found is None:
        raise UnacceptableFile(
            "the file is not of an accepted type: " + ", ".join(ACCEPTED.values()), field="file"
        )
    said = (declared or "").split(";")[0].strip().lower()
    if said and said not in ("application/octet-stream", found):
        raise UnacceptableFile(
            f"the file was sent as {said} but its bytes are {ACCEPTED[found]} ({found})",
            field="file.content_type",
        )
    return found
