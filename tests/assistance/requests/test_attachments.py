"""Documents on a request: streamed, sniffed, hashed, stored once by content, and downloaded only by
courts that may see the request."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import uuid
import zipfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from assistance.requests import attachments
from assistance.requests.models import Attachment
from command_center.audit.models import AuditEntry
from command_center.outbox.models import OutboxEvent
from tests.assistance.requests.test_messages import REQUESTING, SUPERVISING, TARGET, Callers, open_request


def make_pdf(note: str | None = None) -> bytes:
    """A small well-formed one-page PDF (header, objects, cross-reference table, trailer, %%EOF)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 72 72] >>",
    ]
    out = bytearray(
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n% " + (uuid.uuid4().hex if note is None else note).encode() + b"\n"
    )
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def make_png(seed: int = 0) -> bytes:
    """A valid 1x1 RGB PNG (signature, IHDR, IDAT, IEND with their CRCs)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    pixel = bytes([0, seed % 256, 128, 255])  # filter byte, then R G B
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(pixel))
        + chunk(b"IEND", b"")
    )


# A 1x1 baseline JPEG (SOI, JFIF APP0, quantization table, frame, scan, EOI).
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQCgwS"
    "ExIQEw8QEBD/yQALCAABAAEBAREA/8wABgAQEAX/2gAIAQEAAD8A0s8g/9k="
)


def make_ofd(*, with_root: bool = True) -> bytes:
    """An OFD package (GB/T 33190): a ZIP with OFD.xml at its root naming the document."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        if with_root:
            package.writestr(
                "OFD.xml",
                '<?xml version="1.0" encoding="UTF-8"?><ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016" '
                'Version="1.0" DocType="OFD"><ofd:DocBody><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot>'
                "</ofd:DocBody></ofd:OFD>",
            )
        package.writestr("Doc_0/Document.xml", "<ofd:Document/>")
    return buffer.getvalue()


EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"\x00" * 48
    + b"PE\x00\x00"
    + b"\x90" * 200
)


@pytest.fixture
async def request_id(submit: Any) -> int:
    return await open_request(submit)


@pytest.fixture
def caller(make_user: Any, login: Any) -> Callers:
    return Callers(make_user, login)


@pytest.fixture(autouse=True)
def store_root(services: Any, tmp_path: Path) -> Path:
    """A store of this test's own, so what is on disk is what this test put there."""
    services.settings = services.settings.model_copy(update={"var_dir": tmp_path})
    return tmp_path / "attachments"


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def attachment_rows(test_db: Any) -> list[Attachment]:
    async with test_db.unit_of_work(read_only=True) as s:
        return list((await s.execute(sa.select(Attachment).order_by(Attachment.id))).scalars().all())


def url(request_id: int, suffix: str = "") -> str:
    return f"/api/v1/assistance-requests/{request_id}/attachments{suffix}"


async def upload(
    c: Any,
    request_id: int,
    content: bytes,
    filename: str = "doc.pdf",
    purpose: str | None = "material",
    content_type: str = "application/octet-stream",
) -> Any:
    data = {"purpose": purpose} if purpose is not None else {}
    return await c.post(url(request_id), files={"file": (filename, content, content_type)}, data=data)


@pytest.mark.parametrize(
    ("content", "filename", "content_type"),
    [
        (make_pdf(), "执行裁定书.pdf", "application/pdf"),
        (JPEG, "现场照片.jpg", "image/jpeg"),
        (make_png(), "scan.png", "image/png"),
        (make_ofd(), "协助执行通知书.ofd", "application/ofd"),
    ],
    ids=["pdf", "jpeg", "png", "ofd"],
)
async def test_the_courts_on_the_request_upload_pdf_jpeg_png_and_ofd(
    request_id: int,
    caller: Callers,
    store_root: Path,
    test_db: Any,
    content: bytes,
    filename: str,
    content_type: str,
) -> None:
    response = await upload((await caller("requesting")), request_id, content, filename)
    assert response.status_code == 201, response.text
    body = response.json()
    sha = hashlib.sha256(content).hexdigest()
    assert body | {"id": 0, "created_at": ""} == {
        "id": 0,
        "request_id": request_id,
        "purpose": "material",
        "filename": filename,
        "content_type": content_type,
        "size": len(content),
        "sha256": sha,
        "uploaded_by": body["uploaded_by"],
        "uploaded_court": REQUESTING,
        "created_at": "",
        "download_url": url(request_id, f"/{body['id']}"),
    }
    assert stored_files(store_root) == [store_root / sha[:2] / sha]
    assert (store_root / sha[:2] / sha).read_bytes() == content

    # The row, its audit entry and its event were written together.
    async with test_db.unit_of_work(read_only=True) as s:
        [entry] = (
            (await s.execute(sa.select(AuditEntry).where(AuditEntry.action == "assistance.attachment_added")))
            .scalars()
            .all()
        )
        events = (
            (await s.execute(sa.select(OutboxEvent).where(OutboxEvent.name == "assistance:attachment_added")))
            .scalars()
            .all()
        )
    assert entry.subject_id == str(request_id) and entry.actor_court == REQUESTING
    assert entry.details | {"filename": ""} == {
        "attachment_id": body["id"],
        "sha256": sha,
        "size": len(content),
        "content_type": content_type,
        "purpose": "material",
        "filename": "",
    }
    assert {e.room for e in events} == {
        f"request:{request_id}",
        f"court:{REQUESTING}",
        f"court:{TARGET}",
        f"court:{SUPERVISING}",
    }
    assert events[0].payload["attachment_id"] == body["id"] and events[0].payload["sha256"] == sha


async def test_the_target_court_and_its_court_system_upload_too(
    request_id: int, caller: Callers, make_token: Any, app: Any
) -> None:
    from tests.conftest import new_client

    response = await upload((await caller("target")), request_id, make_png(7), "回执.png")
    assert response.status_code == 201 and response.json()["uploaded_court"] == TARGET
    token = await make_token(TARGET)
    async with new_client(app) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        response = await upload(c, request_id, make_pdf(), "result.pdf", purpose="result")
        assert response.status_code == 201, response.text
        assert response.json()["purpose"] == "result"
        assert response.json()["uploaded_by"].startswith("token:")


async def test_supervisors_may_view_but_not_upload(
    request_id: int, caller: Callers, store_root: Path, test_db: Any
) -> None:
    response = await upload((await caller("supervising")), request_id, make_pdf())
    assert response.status_code == 403
    assert "requesting court and the target court" in response.json()["error"]["message"]
    response = await upload((await caller("above")), request_id, make_pdf())
    assert response.status_code == 403
    assert stored_files(store_root) == [] and await attachment_rows(test_db) == []

    await upload((await caller("target")), request_id, make_pdf())
    listed = await (await caller("supervising")).get(url(request_id))
    assert listed.status_code == 200 and listed.json()["total"] == 1


@pytest.mark.parametrize(
    ("content", "filename", "content_type"),
    [
        (EXE, "执行裁定书.pdf", "application/pdf"),  # a program dressed as a PDF
        (make_pdf()[:-200], "truncated.pdf", "application/pdf"),  # cut off before %%EOF
        (b"%PDF-1.7\n" + b"garbage" * 50, "no-eof.pdf", "application/pdf"),
        (make_ofd(with_root=False), "not-really.ofd", "application/ofd"),  # a ZIP without OFD.xml
        (b"PK\x03\x04 not a zip at all" * 10, "broken.ofd", "application/ofd"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "anim.gif", "image/gif"),
        (b"<html><script>alert(1)</script></html>", "page.png", "image/png"),
    ],
    ids=[
        "exe-as-pdf",
        "truncated-pdf",
        "pdf-without-eof",
        "zip-without-ofd-xml",
        "broken-zip",
        "gif",
        "html",
    ],
)
async def test_a_file_whose_bytes_are_not_an_allowed_type_is_refused_and_nothing_is_kept(
    request_id: int,
    caller: Callers,
    store_root: Path,
    test_db: Any,
    content: bytes,
    filename: str,
    content_type: str,
) -> None:
    response = await upload(
        (await caller("requesting")), request_id, content, filename, content_type=content_type
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["message"] == (
        "The file was refused: unsupported file type; allowed: PDF, JPEG, PNG, OFD."
    )
    assert stored_files(store_root) == []
    assert await attachment_rows(test_db) == []


async def test_an_oversize_file_is_refused_with_413_and_nothing_is_kept(
    request_id: int, caller: Callers, services: Any, store_root: Path, test_db: Any
) -> None:
    services.settings = services.settings.model_copy(update={"max_upload_bytes": 4096})
    big = make_pdf("x" * 5000)
    assert len(big) > 4096
    response = await upload((await caller("requesting")), request_id, big)
    assert response.status_code == 413
    assert response.json()["error"]["message"] == "The file is larger than the upload limit of 4 KiB."
    assert stored_files(store_root) == [] and await attachment_rows(test_db) == []

    # Exactly at the limit is accepted.
    exact = make_pdf("y" * (4096 - len(make_pdf(""))))
    exact = make_pdf("y" * (8192 - len(make_pdf("")) - len(exact)))  # startxref grew by a digit
    assert len(exact) == 4096
    assert (await upload((await caller("requesting")), request_id, exact)).status_code == 201


async def test_the_limit_holds_while_streaming_a_body_of_unknown_length(
    request_id: int, caller: Callers, services: Any, store_root: Path, test_db: Any
) -> None:
    """Without Content-Length the body is counted as it arrives, and reading stops at the limit."""
    services.settings = services.settings.model_copy(update={"max_upload_bytes": 64 * 1024})
    boundary = "cc-test-boundary"
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nmaterial\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode() + b"%PDF-1.4\n"
        for _ in range(10_000):  # 160 MiB if anyone read it all
            sent += 1
            yield b"0" * 16384
        yield f"\r\n--{boundary}--\r\n".encode()

    response = await (await caller("requesting")).post(
        url(request_id), content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert response.status_code == 413
    assert sent < 20  # stopped soon after the limit, not after the whole body
    assert stored_files(store_root) == [] and await attachment_rows(test_db) == []


async def test_a_declared_length_over_the_limit_is_refused_before_reading(
    request_id: int, caller: Callers, services: Any
) -> None:
    services.settings = services.settings.model_copy(update={"max_upload_bytes": 1024})
    response = await (await caller("requesting")).post(
        url(request_id),
        content=b"x" * 10,
        headers={"Content-Type": "multipart/form-data; boundary=b", "Content-Length": str(10**9)},
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    ("files", "data", "problem"),
    [
        ({"file": ("a.pdf", make_pdf())}, {}, "purpose"),
        ({"file": ("a.pdf", make_pdf())}, {"purpose": "evidence"}, "purpose"),
        ({"document": ("a.pdf", make_pdf())}, {"purpose": "material"}, "document"),
        ({"file": ("a.pdf", b"")}, {"purpose": "material"}, "file"),
        ({"file": ("a.pdf", make_pdf()), "other": ("b.pdf", make_pdf())}, {"purpose": "material"}, "other"),
    ],
    ids=["no-purpose", "bad-purpose", "misnamed-file", "empty-file", "unknown-field"],
)
async def test_a_malformed_upload_form_is_a_422_naming_the_field(
    request_id: int, caller: Callers, store_root: Path, files: dict, data: dict, problem: str
) -> None:
    response = await (await caller("requesting")).post(url(request_id), files=files, data=data)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == problem
    assert stored_files(store_root) == []


async def test_a_form_without_a_file_or_cut_short_is_a_422(
    request_id: int, caller: Callers, store_root: Path
) -> None:
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    purpose = b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nmaterial\r\n'
    no_file = await (await caller("requesting")).post(
        url(request_id), content=purpose + b"--b--\r\n", headers=headers
    )
    assert no_file.status_code == 422
    assert no_file.json()["error"]["details"][0]["field"] == "file"
    cut = (
        purpose + b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.pdf"\r\n\r\n' + make_pdf()
    )
    cut_short = await (await caller("requesting")).post(url(request_id), content=cut, headers=headers)
    assert cut_short.status_code == 422
    assert "closing boundary" in cut_short.json()["error"]["message"]
    assert stored_files(store_root) == []


async def test_a_json_body_is_told_to_use_multipart(request_id: int, caller: Callers) -> None:
    response = await (await caller("requesting")).post(url(request_id), json={"file": "x"})
    assert response.status_code == 422
    assert "multipart/form-data" in response.json()["error"]["message"]


async def test_the_same_content_twice_is_one_file_and_two_rows(
    request_id: int, caller: Callers, store_root: Path, test_db: Any
) -> None:
    content = make_pdf()
    first = await upload((await caller("requesting")), request_id, content, "裁定书.pdf")
    second = await upload(
        (await caller("target")), request_id, content, "裁定书（副本）.pdf", purpose="other"
    )
    assert first.status_code == second.status_code == 201
    sha = hashlib.sha256(content).hexdigest()
    assert stored_files(store_root) == [store_root / sha[:2] / sha]
    rows = await attachment_rows(test_db)
    assert [(r.sha256, r.filename, r.uploaded_court) for r in rows] == [
        (sha, "裁定书.pdf", REQUESTING),
        (sha, "裁定书（副本）.pdf", TARGET),
    ]
    assert not list((store_root / "tmp").iterdir())


async def test_downloads_are_for_courts_that_may_see_the_request(request_id: int, caller: Callers) -> None:
    content = make_pdf()
    created = (
        await upload((await caller("requesting")), request_id, content, "执行裁定书（2026）浙0106执1号.pdf")
    ).json()
    download = url(request_id, f"/{created['id']}")
    for who in ("target", "supervising", "above", "requesting"):
        response = await (await caller(who)).get(download)
        assert response.status_code == 200, (who, response.text)
        assert response.content == content
        assert response.headers["content-type"] == "application/pdf"
        assert response.headers["x-content-type-options"] == "nosniff"
    for who in ("unrelated", "unrelated_staff"):
        assert (await (await caller(who)).get(download)).status_code == 404
        assert (await (await caller(who)).get(url(request_id))).status_code == 404
    assert (await (await caller("target")).get(url(request_id, "/987654321"))).status_code == 404


async def test_a_chinese_filename_survives_the_round_trip(request_id: int, caller: Callers) -> None:
    name = "执行裁定书（2026）浙0106执1234号 副本.pdf"
    created = (await upload((await caller("requesting")), request_id, make_pdf(), name)).json()
    assert created["filename"] == name
    listed = (await (await caller("target")).get(url(request_id))).json()
    assert [a["filename"] for a in listed["items"]] == [name]
    response = await (await caller("target")).get(created["download_url"])
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    assert disposition.encode("latin-1").isascii()
    assert unquote(disposition.split("filename*=UTF-8''", 1)[1]) == name


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\法官\\判决书.pdf", "判决书.pdf"),
        ("报告", "报告.pdf"),
        ("photo.jpg", "photo.jpg.pdf"),  # the extension follows the content
        ("", "attachment.pdf"),
    ],
)
async def test_filenames_lose_directories_and_control_characters(
    request_id: int, caller: Callers, sent: str, kept: str
) -> None:
    response = await upload((await caller("requesting")), request_id, make_pdf(), sent)
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == kept


async def test_attachments_are_listed_oldest_first_in_pages(request_id: int, caller: Callers) -> None:
    for n in range(3):
        await upload((await caller("requesting")), request_id, make_png(n), f"p{n}.png")
    page = (await (await caller("target")).get(url(request_id), params={"page": 2, "page_size": 2})).json()
    assert page["total"] == 3 and page["page"] == 2 and page["page_size"] == 2
    assert [a["filename"] for a in page["items"]] == ["p2.png"]


# --- pure rules ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "tail", "expected"),
    [
        (b"%PDF-1.7\n", b"startxref\n9\n%%EOF\n", "application/pdf"),
        (b"%PDF-1.7\n", b"startxref\n9\n", None),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", b"", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n", b"", "image/png"),
        (b"\x89PNG\r\n\x1a", b"", None),
        (b"MZ\x90\x00", b"%%EOF", None),
        (b" %PDF-1.7", b"%%EOF", None),
    ],
)
def test_types_are_told_by_magic_bytes(head: bytes, tail: bytes, expected: str | None) -> None:
    assert attachments.sniff_bytes(head, tail) == expected


@pytest.mark.parametrize(
    ("raw", "content_type", "expected"),
    [
        ("a\x01b\u202e.pdf", "application/pdf", "ab.pdf"),
        ("..\\..\\x.png", "image/png", "x.png"),
        ('what?"<>|:*.jpeg', "image/jpeg", "what_______.jpeg"),
        (" .hidden.ofd. ", "application/ofd", "hidden.ofd"),
        ("照片", "image/jpeg", "照片.jpg"),
        ("长" * 300 + ".pdf", "application/pdf", "长" * 196 + ".pdf"),
        (None, "image/png", "attachment.png"),
    ],
)
def test_filenames_are_made_safe(raw: str | None, content_type: str, expected: str) -> None:
    assert attachments.safe_filename(raw, content_type) == expected


def test_content_disposition_carries_an_ascii_fallback_and_the_utf8_name() -> None:
    assert attachments.content_disposition("裁定书.pdf") == (
        "attachment; filename=\"attachment.pdf\"; filename*=UTF-8''%E8%A3%81%E5%AE%9A%E4%B9%A6.pdf"
    )
    assert attachments.content_disposition('a"b;c.pdf') == (
        "attachment; filename=\"a_b_c.pdf\"; filename*=UTF-8''a%22b%3Bc.pdf"
    )
