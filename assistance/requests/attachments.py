"""Documents on a request: received as a multipart stream, sniffed, hashed and stored by content.

* Only the requesting and the target court add documents (their users and court systems); every
  court that may see the request (supervisors included) may list and download them.
* A body is parsed as it arrives and the file part goes straight to a temporary file while its
  SHA-256 is computed, so an upload never sits in memory and one over `max_upload_bytes` is refused
  (413) as soon as it crosses the limit.
* The type is decided by the bytes, never by the filename or the declared Content-Type: PDF, JPEG,
  PNG and OFD (GB/T 33190-2016, a ZIP package with `OFD.xml` at its root) are accepted, anything else is
  a 422. A PDF must also end with `startxref <offset> %%EOF` whose offset points at its
  cross-reference section, so a truncated one, or a header glued onto something else, is refused.
* Files live under `<var_dir>/attachments/<sha[:2]>/<sha>`: identical content is stored once, and
  a file is moved into place by an atomic rename only after its row, audit entry and event are
  written. A refused upload leaves neither a row nor a file.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote, unquote

import anyio.to_thread
import sqlalchemy as sa
from pydantic import Field
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from assistance.enums import AttachmentPurpose
from assistance.requests.messages import UtcDatetime, thread_rooms
from assistance.requests.models import AssistanceRequest, Attachment
from assistance.requests.queries import SUBJECT_TYPE, get_visible_request
from command_center.api import Schema
from command_center.audit import service as audit
from command_center.db import utcnow
from command_center.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge
from command_center.masking import mask_text
from command_center.outbox.service import record_event

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from command_center.courts.directory import CourtDirectory
    from command_center.identity.principal import Principal
    from command_center.settings import Settings

PDF, JPEG, PNG, OFD = "application/pdf", "image/jpeg", "image/png", "application/ofd"
EXTENSIONS = {PDF: (".pdf",), JPEG: (".jpg", ".jpeg"), PNG: (".png",), OFD: (".ofd",)}
UNSUPPORTED_TYPE = "unsupported file type; allowed: PDF, JPEG, PNG, OFD"
MALFORMED_PDF = "not a well-formed PDF: no trailer (startxref, %%EOF) pointing at a cross-reference section"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# ISO 32000-1 §7.5.5: a PDF's last line is %%EOF; like common readers, look for it in the last 1024 bytes.
PDF_TAIL = 1024
MAX_FILENAME_LENGTH = 200  # the column's length
MAX_FIELD_BYTES = 256  # the `purpose` field
# Room for the multipart framing and the small fields around the file part.
MULTIPART_OVERHEAD = 64 * 1024
_WINDOWS_RESERVED = re.compile(r'[<>:"|?*]')
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_STARTXREF = re.compile(rb"startxref\s+(\d{1,12})\s+%%EOF")
_XREF_SECTION = re.compile(rb"\s*(?:xref|\d+\s+\d+\s+obj)\b")
_ATTACHMENT = Attachment.__table__


# --- schemas -------------------------------------------------------------------------------------


class AttachmentRead(Schema):
    id: int
    request_id: int
    purpose: AttachmentPurpose
    filename: str
    content_type: str = Field(description="the type found in the file's bytes")
    size: int = Field(description="bytes")
    sha256: str
    uploaded_by: str
    uploaded_court: str
    created_at: UtcDatetime
    download_url: str


def attachment_read(attachment: Attachment) -> AttachmentRead:
    """The read schema of a stored attachment, with the address it is downloaded from."""
    url = f"/api/v1/assistance-requests/{attachment.request_id}/attachments/{attachment.id}"
    fields = {
        name: getattr(attachment, name) for name in AttachmentRead.model_fields if name != "download_url"
    }
    return AttachmentRead.model_validate({**fields, "download_url": url})


# --- content: types, names ---------------------------------------------------------------------


def sniff_bytes(head: bytes, tail: bytes) -> str | None:
    """The content type of a file from its first bytes (and, for PDF, its last 1024), or None."""
    if head.startswith(b"%PDF-"):
        return PDF if b"%%EOF" in tail else None
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(PNG_SIGNATURE):
        return PNG
    return None


def _is_ofd_package(path: Path) -> bool:
    # GB/T 33190-2016: an OFD file is a ZIP package whose entry file, OFD.xml, sits at its root.
    # Only the central directory is read; nothing is decompressed.
    try:
        with zipfile.ZipFile(path) as package:
            return "OFD.xml" in package.namelist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        return False


def _pdf_trailer_is_sound(fh: BinaryIO, tail: bytes) -> bool:
    # ISO 32000-1 §7.5.5: the file ends with `startxref`, the byte offset of the last cross-reference
    # section, and `%%EOF`; that offset holds a table (`xref`) or a cross-reference stream object
    # (`12 0 obj`). A header and an %%EOF around anything else is not a PDF.
    found = _STARTXREF.findall(tail)
    if not found:
        return False
    fh.seek(int(found[-1]))
    return _XREF_SECTION.match(fh.read(32)) is not None


def _starts_as_pdf(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(5) == b"%PDF-"


def sniff_file(path: Path) -> str | None:
    """The content type of a stored file judged by its bytes alone, or None when it is not allowed."""
    with path.open("rb") as fh:
        head = fh.read(8)
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - PDF_TAIL))
        tail = fh.read()
        if head.startswith(b"PK\x03\x04"):
            return OFD if _is_ofd_package(path) else None
        sniffed = sniff_bytes(head, tail)
        if sniffed == PDF and not _pdf_trailer_is_sound(fh, tail):
            return None
    return sniffed


def safe_filename(raw: str | None, content_type: str) -> str:
    """A filename safe to store and send back: no directories or control characters, at most 200
    characters, ending in an extension that matches the content (Chinese names are kept)."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[/\\]", name)[-1]  # a path separator never survives
    name = "".join(c for c in name if not unicodedata.category(c).startswith("C"))
    name = _WINDOWS_RESERVED.sub("_", name).strip(" .")
    extensions = EXTENSIONS.get(content_type, ())
    stem, suffix = name, ""
    if not name.lower().endswith(extensions):
        suffix = extensions[0] if extensions else ""
    else:
        stem, dot, ext = name.rpartition(".")
        suffix = dot + ext
    stem = stem.strip(" .") or "attachment"
    return stem[: MAX_FILENAME_LENGTH - len(suffix)] + suffix


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback and the UTF-8 name in RFC 5987 form (`filename*`)."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in filename)
    stem, dot, ext = fallback.rpartition(".")
    if dot and not stem.strip("_ "):
        fallback = "attachment." + ext
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _filename_star(disposition: bytes) -> str | None:
    # RFC 7578 tells senders not to use filename* in form data, but some do; honour a UTF-8 one.
    match = re.search(rb"filename\*\s*=\s*(?:UTF-8|utf-8)''([^;\s]+)", disposition)
    if not match:
        return None
    return unquote(match.group(1).decode("latin-1"), encoding="utf-8", errors="replace")


# --- the store -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StagedUpload:
    """A received, sniffed and hashed file waiting in the staging folder for its row."""

    path: Path
    size: int
    sha256: str
    content_type: str
    filename: str
    purpose: AttachmentPurpose

    def discard(self) -> None:
        """Removes the staged file, if it is still there."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@dataclass(frozen=True, slots=True)
class AttachmentStore:
    """Content-addressed files under one folder; `tmp/` stages uploads on the same file system."""

    root: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> AttachmentStore:
        return cls(Path(settings.var_dir) / "attachments")

    @property
    def staging(self) -> Path:
        path = self.root / "tmp"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def path_for(self, sha256: str) -> Path:
        if not _SHA256.match(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def place(self, upload: StagedUpload) -> bool:
        """Moves a staged file to its content address; True when it is new, False when the same
        content was already stored (the staged copy is then dropped)."""
        target = self.path_for(upload.sha256)
        if target.exists():
            upload.discard()
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        # Atomic on one file system: readers see the whole file or none. Two uploads of the same
        # content racing here both write identical bytes, so the later rename is harmless.
        os.replace(upload.path, target)
        return True


# --- receiving a multipart stream ----------------------------------------------------------------


@dataclass
class _FormReader:
    """python-multipart callbacks that route the `file` part to disk and keep the small fields."""

    max_bytes: int
    charset: str
    pending: list[bytes] = field(default_factory=list)  # file bytes not yet written
    fields: dict[str, bytes] = field(default_factory=dict)
    file_size: int = 0
    file_seen: bool = False
    filename: str | None = None
    ended: bool = False
    _header_name: bytes = b""
    _header_value: bytes = b""
    _disposition: bytes = b""
    _name: str = ""
    _is_file: bool = False
    _buffer: bytearray = field(default_factory=bytearray)

    def callbacks(self) -> dict[str, Any]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
            "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self._disposition, self._name, self._is_file = b"", "", False
        self._buffer = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode(self.charset, errors="replace")
        if name == "file":
            if self.file_seen:
                raise InvalidInput("Send one file per upload.", details=[_field("file", "only one file")])
            self.file_seen, self._is_file = True, True
            raw = options.get(b"filename")
            self.filename = (
                _decode(raw, self.charset) if raw is not None else _filename_star(self._disposition)
            )
        elif name == "purpose":
            if name in self.fields:
                raise InvalidInput("Send the purpose once.", details=[_field("purpose", "given twice")])
        else:
            message = f"unknown field {name!r}; an upload has the fields file and purpose"
            raise InvalidInput(f"Invalid form: {message}.", details=[_field(name or "(form)", message)])
        self._name = name

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._is_file:
            self.file_size += len(chunk)
            if self.file_size > self.max_bytes:
                raise _too_large(self.max_bytes)
            self.pending.append(chunk)
            return
        if len(self._buffer) + len(chunk) > MAX_FIELD_BYTES:
            raise InvalidInput(
                f"The field {self._name} is too long.", details=[_field(self._name, "too long")]
            )
        self._buffer.extend(chunk)

    def on_part_end(self) -> None:
        if not self._is_file:
            self.fields[self._name] = bytes(self._buffer)

    def on_end(self) -> None:
        self.ended = True


def _field(name: str, message: str) -> dict[str, str]:
    return {"field": name, "message": message}


def _decode(raw: bytes, charset: str) -> str:
    # Browsers send the filename's UTF-8 bytes as they are; python-multipart hands them over as latin-1.
    try:
        return raw.decode(charset)
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _human(size: int) -> str:
    for unit, factor in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size} bytes"


def _too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The file is larger than the upload limit of {_human(max_bytes)}.",
        details={"max_upload_bytes": max_bytes},
    )


def _append(fh: BinaryIO, digest: Any, data: bytes) -> None:
    digest.update(data)
    fh.write(data)


def _finish(fh: BinaryIO) -> None:
    fh.flush()
    os.fsync(fh.fileno())


async def receive_upload(
    *,
    content_type: str | None,
    content_length: str | None,
    stream: AsyncIterator[bytes],
    store: AttachmentStore,
    max_bytes: int,
) -> StagedUpload:
    """Reads a multipart/form-data body (`file`, `purpose`) into the staging folder while hashing it;
    413 past `max_bytes`, 422 for a malformed form or a type other than PDF, JPEG, PNG or OFD.
    On any refusal the staged file is removed."""
    kind, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidInput("Send the file as multipart/form-data with the fields file and purpose.")
    charset = params.get(b"charset", b"utf-8").decode("latin-1")
    try:
        charset = codecs.lookup(charset).name
    except LookupError:
        charset = "utf-8"
    body_limit = max_bytes + MULTIPART_OVERHEAD
    if content_length and content_length.isdigit() and int(content_length) > body_limit:
        raise _too_large(max_bytes)  # refused before a byte of the body is read

    reader = _FormReader(max_bytes=max_bytes, charset=charset)
    try:
        parser = MultipartParser(boundary, reader.callbacks())  # type: ignore[arg-type]
    except FormParserError as exc:
        raise InvalidInput(f"The multipart body cannot be read ({exc}).") from None
    fd, name = tempfile.mkstemp(dir=await anyio.to_thread.run_sync(lambda: store.staging), prefix="upload-")
    path, digest, received = Path(name), hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as fh:
            async for chunk in stream:
                received += len(chunk)
                if received > body_limit:
                    raise _too_large(max_bytes)
                try:
                    parser.write(chunk)
                except FormParserError as exc:
                    raise InvalidInput(f"The multipart body cannot be read ({exc}).") from None
                if reader.pending:
                    data = b"".join(reader.pending)
                    reader.pending.clear()
                    # File I/O and hashing off the event loop, one received chunk at a time.
                    await anyio.to_thread.run_sync(_append, fh, digest, data)
            await anyio.to_thread.run_sync(_finish, fh)
        if not reader.ended:
            raise InvalidInput("The multipart body ended before its closing boundary.")
        if not reader.file_seen:
            raise InvalidInput("An upload needs a file.", details=[_field("file", "field required")])
        if reader.file_size == 0:
            raise InvalidInput("The file is empty.", details=[_field("file", "empty file")])
        purpose = _purpose(reader.fields.get("purpose"), charset)
        sniffed = await anyio.to_thread.run_sync(sniff_file, path)
        if sniffed is None:
            why = MALFORMED_PDF if await anyio.to_thread.run_sync(_starts_as_pdf, path) else UNSUPPORTED_TYPE
            raise InvalidInput(f"The file was refused: {UNSUPPORTED_TYPE}.", details=[_field("file", why)])
        return StagedUpload(
            path=path,
            size=reader.file_size,
            sha256=digest.hexdigest(),
            content_type=sniffed,
            filename=safe_filename(reader.filename, sniffed),
            purpose=purpose,
        )
    except BaseException:
        # Refused, malformed, or the client went away: nothing of this upload stays on disk.
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        raise


def _purpose(raw: bytes | None, charset: str) -> AttachmentPurpose:
    allowed = ", ".join(p.value for p in AttachmentPurpose)
    if raw is None:
        raise InvalidInput(
            f"An upload needs a purpose ({allowed}).", details=[_field("purpose", "field required")]
        )
    value = _decode(raw, charset).strip()
    try:
        return AttachmentPurpose(value)
    except ValueError:
        message = f"must be one of {allowed}"
        raise InvalidInput(
            f"Invalid purpose {value!r}: {message}.", details=[_field("purpose", message)]
        ) from None


# --- service -------------------------------------------------------------------------------------


async def ensure_may_upload(
    session: AsyncSession, *, principal: Principal, directory: CourtDirectory, request_id: int
) -> AssistanceRequest:
    """The request, when the caller's court may add documents to it: 404 when the caller may not
    see it, 403 for a court that may see it but is neither the requesting nor the target court."""
    request = await get_visible_request(
        session, principal=principal, directory=directory, request_id=request_id
    )
    if principal.court_code not in (request.requesting_court, request.target_court):
        raise Forbidden(
            "Only the requesting court and the target court may add documents to a request; "
            "supervising courts may view them."
        )
    return request


async def add_attachment(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    request_id: int,
    upload: StagedUpload,
    store: AttachmentStore,
) -> Attachment:
    """Records a staged file on the request and moves it into the store; audits
    `assistance.attachment_added` and emits `assistance:attachment_added` to the thread's rooms."""
    request = await ensure_may_upload(
        session, principal=principal, directory=directory, request_id=request_id
    )
    attachment = Attachment(
        request_id=request_id,
        purpose=upload.purpose,
        filename=upload.filename,
        content_type=upload.content_type,
        size=upload.size,
        sha256=upload.sha256,
        uploaded_by=principal.label[:80],  # the column's length; a token's name may be longer
        uploaded_court=principal.court_code,
        created_at=utcnow(),
    )
    session.add(attachment)
    await session.flush()
    # The file joins the store after its row is written and before the commit: a failed commit can
    # leave an unreferenced file (harmless, content-addressed), never a row without its file.
    await anyio.to_thread.run_sync(store.place, upload)
    await record_event(
        session,
        name="assistance:attachment_added",
        rooms=thread_rooms(request),
        payload={
            "request_id": request_id,
            "attachment_id": attachment.id,
            "purpose": attachment.purpose,
            "filename": mask_text(attachment.filename),
            "content_type": attachment.content_type,
            "size": attachment.size,
            "sha256": attachment.sha256,
            "uploaded_court": attachment.uploaded_court,
            "created_at": attachment.created_at,
        },
    )
    await audit.record(
        session,
        action="assistance.attachment_added",
        actor=principal,
        subject_type=SUBJECT_TYPE,
        subject_id=str(request_id),
        details={
            "attachment_id": attachment.id,
            "sha256": attachment.sha256,
            "size": attachment.size,
            "content_type": attachment.content_type,
            "purpose": attachment.purpose,
            "filename": attachment.filename,
        },
    )
    return attachment


async def list_attachments(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    request_id: int,
    page: int = 1,
    page_size: int = 20,
) -> tuple[list[Attachment], int]:
    """One page of the request's attachments, oldest first, and how many there are."""
    await get_visible_request(session, principal=principal, directory=directory, request_id=request_id)
    where = _ATTACHMENT.c.request_id == request_id
    total = await session.scalar(sa.select(sa.func.count()).select_from(_ATTACHMENT).where(where)) or 0
    stmt = (
        sa.select(Attachment)
        .where(where)
        .order_by(_ATTACHMENT.c.id)
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return list((await session.execute(stmt)).scalars().all()), total


async def get_attachment(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    request_id: int,
    attachment_id: int,
) -> Attachment:
    """One attachment of a request the caller may see (404 otherwise)."""
    await get_visible_request(session, principal=principal, directory=directory, request_id=request_id)
    stmt = sa.select(Attachment).where(
        _ATTACHMENT.c.id == attachment_id, _ATTACHMENT.c.request_id == request_id
    )
    attachment = (await session.execute(stmt)).scalar_one_or_none()
    if attachment is None:
        raise NotFound(f"Request {request_id} has no attachment {attachment_id}.")
    return attachment
