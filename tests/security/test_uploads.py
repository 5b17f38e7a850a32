"""Uploads that must be refused with a clear reason, leaving no row and no file behind: oversize, a
program or a web page dressed as a PDF by its name and declared type, and a PDF header on garbage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from assistance.requests.models import Attachment
from tests.security.seeding import PDF, REQUESTER, seed

UNSUPPORTED = "unsupported file type; allowed: PDF, JPEG, PNG, OFD"
MALFORMED = "not a well-formed PDF: no trailer (startxref, %%EOF) pointing at a cross-reference section"
REFUSED = f"The file was refused: {UNSUPPORTED}."
EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
    + b"\x00" * 48
    + b"This program cannot be run in DOS mode.\r\n"
)
HTML = b"<!DOCTYPE html><html><body><script>fetch('/api/v1/me')</script></body></html>\n"


def garbage_pdf(body: bytes, xref_at: int | None = None) -> bytes:
    """A PDF header and trailer around `body`; startxref points at `xref_at` (default: into the body)."""
    head = b"%PDF-1.7\n"
    offset = len(head) if xref_at is None else xref_at
    return head + body + b"\nstartxref\n%d\n%%%%EOF\n" % offset


@pytest.fixture
async def clerk(make_user: Any, login: Any) -> httpx.AsyncClient:
    return await login(await make_user("clerk", REQUESTER))


@pytest.fixture
async def request_id(clerk: httpx.AsyncClient, services: Any, tmp_path: Path) -> int:
    services.settings = services.settings.model_copy(update={"var_dir": tmp_path})
    return int((await seed(clerk))["id"])  # with one accepted upload: the control


def stored(services: Any) -> list[Path]:
    root = Path(services.settings.var_dir) / "attachments"
    return sorted(p for p in root.rglob("*") if p.is_file())


async def rows(test_db: Any, request_id: int) -> list[Attachment]:
    async with test_db.unit_of_work(read_only=True) as s:
        stmt = sa.select(Attachment).where(Attachment.__table__.c.request_id == request_id)
        return list((await s.execute(stmt)).scalars().all())


async def upload(http: httpx.AsyncClient, request_id: int, content: bytes, name: str, declared: str) -> Any:
    return await http.post(
        f"/api/v1/assistance-requests/{request_id}/attachments",
        files={"file": (name, content, declared)},
        data={"purpose": "material"},
    )


@pytest.mark.parametrize(
    ("content", "name", "declared", "reason"),
    [
        (EXE, "执行裁定书.pdf", "application/pdf", UNSUPPORTED),
        (EXE, "setup.exe.pdf", "application/pdf", UNSUPPORTED),
        (HTML, "查询结果.pdf", "application/pdf", UNSUPPORTED),
        (HTML, "photo.jpg", "image/jpeg", UNSUPPORTED),
        (garbage_pdf(HTML), "page.pdf", "application/pdf", MALFORMED),  # a web page with a PDF header
        (garbage_pdf(b"\x00\xff garbage " * 200), "garbage.pdf", "application/pdf", MALFORMED),
        (garbage_pdf(b"garbage", xref_at=10**9), "far.pdf", "application/pdf", MALFORMED),  # past the end
        (b"%PDF-1.7\n" + b"garbage" * 100 + b"\n%%EOF\n", "no-xref.pdf", "application/pdf", MALFORMED),
    ],
    ids=[
        "exe-named-pdf",
        "exe-double-extension",
        "html-named-pdf",
        "html-named-jpg",
        "html-inside-pdf-header",
        "binary-garbage-pdf",
        "startxref-past-the-end",
        "no-startxref",
    ],
)
async def test_a_disguised_or_malformed_file_is_refused_and_nothing_is_stored(
    clerk: httpx.AsyncClient,
    request_id: int,
    services: Any,
    test_db: Any,
    content: bytes,
    name: str,
    declared: str,
    reason: str,
) -> None:
    before_rows, before_files = await rows(test_db, request_id), stored(services)
    assert len(before_rows) == 1 and len(before_files) == 1  # the control upload of the seed

    response = await upload(clerk, request_id, content, name, declared)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["message"] == REFUSED
    assert error["details"] == [{"field": "file", "message": reason}]
    assert await rows(test_db, request_id) == before_rows
    assert stored(services) == before_files  # nothing new, not even in the staging folder


async def test_an_oversize_file_is_refused_with_413_and_nothing_is_stored(
    clerk: httpx.AsyncClient, request_id: int, services: Any, test_db: Any
) -> None:
    services.settings = services.settings.model_copy(update={"max_upload_bytes": 1024})
    before_rows, before_files = await rows(test_db, request_id), stored(services)
    big = PDF.replace(b"<< >>", b"<< /Pad (" + b"x" * 2000 + b") >>")

    response = await upload(clerk, request_id, big, "big.pdf", "application/pdf")

    assert response.status_code == 413, response.text
    assert response.json()["error"]["message"] == "The file is larger than the upload limit of 1 KiB."
    assert await rows(test_db, request_id) == before_rows
    assert stored(services) == before_files


async def test_a_well_formed_pdf_passes_the_same_checks(
    clerk: httpx.AsyncClient, request_id: int, services: Any, test_db: Any
) -> None:
    """The control: the refusals above are about the bytes, not about uploading at all."""
    content = PDF.replace(b"<< >>", b"<< /Note (control) >>")
    response = await upload(clerk, request_id, content, "ok.pdf", "application/octet-stream")
    assert response.status_code == 201, response.text
    assert response.json()["content_type"] == "application/pdf"
    assert len(await rows(test_db, request_id)) == 2 and len(stored(services)) == 2
