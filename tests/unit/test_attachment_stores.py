"""The attachment stores: bytes kept under their SHA-256 and checked on every read — on the
filesystem, and through the S3 API (here against an in-process stand-in for the object
store that checks each request is signed; no S3 server runs in the test environment)."""

from __future__ import annotations

import hashlib
import re

import httpx
import pytest

from services.followup.attachments import Damaged, FileBlobs, Missing, S3Blobs, sniff

PHOTO = b"\xff\xd8\xff\xe0 a photo of the repaired wall"


def test_the_filesystem_store_keeps_bytes_by_hash_and_catches_a_change_on_disk(tmp_path):
    blobs = FileBlobs(tmp_path)
    digest = blobs.put(PHOTO)
    assert digest == hashlib.sha256(PHOTO).hexdigest() and blobs.put(PHOTO) == digest
    path = tmp_path / digest[:2] / digest[2:4] / digest
    assert path.read_bytes() == PHOTO and blobs.get(digest) == PHOTO
    path.write_bytes(PHOTO[:-1] + b"!")
    with pytest.raises(Damaged):
        blobs.get(digest)
    blobs.delete(digest)
    with pytest.raises(Missing):
        blobs.get(digest)
    with pytest.raises(Missing):
        blobs.get("../../etc/passwd")


class ObjectStore:
    """Keeps objects by path; refuses any request not signed with AWS Signature V4 over
    the headers and the payload hash it was sent with."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        auth = request.headers.get("authorization", "")
        signed = re.fullmatch(
            r"AWS4-HMAC-SHA256 Credential=AK/\d{8}/cn-north-1/s3/aws4_request, "
            r"SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}",
            auth,
        )
        body = request.content
        if (
            not signed
            or request.headers["x-amz-content-sha256"] != hashlib.sha256(body).hexdigest()
        ):
            return httpx.Response(403)
        if request.method == "PUT":
            self.objects[request.url.path] = body
            return httpx.Response(200)
        if request.method == "DELETE":
            self.objects.pop(request.url.path, None)
            return httpx.Response(204)
        found = self.objects.get(request.url.path)
        return httpx.Response(200, content=found) if found is not None else httpx.Response(404)


def test_the_s3_store_signs_each_request_and_checks_what_it_reads_back():
    store = ObjectStore()
    blobs = S3Blobs(
        "https://oss.example.gov.cn",
        "onestop",
        "cn-north-1",
        "AK",
        "SK",
        client=httpx.Client(transport=httpx.MockTransport(store)),
    )
    digest = blobs.put(PHOTO)
    assert store.objects == {f"/onestop/{digest}": PHOTO}
    assert blobs.get(digest) == PHOTO
    store.objects[f"/onestop/{digest}"] = b"\xff\xd8\xff something else"
    with pytest.raises(Damaged):
        blobs.get(digest)
    blobs.delete(digest)
    with pytest.raises(Missing):
        blobs.get(digest)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"%PDF-1.7 ...", "application/pdf"),
        (PHOTO, "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n....", "image/png"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        ("信访人来信：请求解决工资问题。\n".encode(), "text/plain"),
        (b"MZ\x90\x00\x03 an executable", None),
        (b"PK\x03\x04 a zip", None),
        (b"text with a NUL \x00 in it", None),
    ],
)
def test_a_files_type_is_read_from_its_bytes(data, kind):
    assert sniff(data) == kind
