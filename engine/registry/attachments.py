"""Attachments: content-addressed files, versioned per (document, name), type-checked.

Content lives once per sha256 under the storage directory (``Settings.attachments_dir``,
shared by every web process), written to a temporary file and renamed into place, so a
reader never sees half a file. A ``Blob`` row records each stored hash; ``Attachment``
rows are the versions. Uploading a name again makes the next version; nothing is ever
overwritten. The type must be an allowed office format by extension *and* by its first
bytes; executables, HTML and SVG are refused whatever they are called.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine import clock
from engine.errors import DocrouteError, NotFound
from engine.models import Attachment, Blob, Document
from engine.org.identity import Actor
from engine.queries.views import AttachmentView

CHUNK = 1 << 16
SNIFF_BYTES = 512
ENVELOPE = 64 * 1024  # multipart headers and boundaries around an uploaded file

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP = (b"PK\x03\x04", b"PK\x05\x06")
# extension -> (content type, accepted leading bytes; None = checked as text)
TYPES: dict[str, tuple[str, tuple[bytes, ...] | None]] = {
    "pdf": ("application/pdf", (b"%PDF-",)),
    "ofd": ("application/ofd", ZIP),
    "doc": ("application/msword", (OLE2,)),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ZIP),
    "xls": ("application/vnd.ms-excel", (OLE2,)),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ZIP),
    "wps": ("application/vnd.ms-works", (OLE2, *ZIP)),
    "jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    "png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    "txt": ("text/plain; charset=utf-8", None),
    "zip": ("application/zip", ZIP),
}
# How a browser may show a type without any plug-in: PDFs through pdf.js, images as they
# are. Office formats (Word, Excel, WPS, OFD) are offered for download. Only types whose
# first bytes were checked on upload are here; SVG and HTML never are (they run scripts).
PREVIEWS = {"application/pdf": "pdf", "image/jpeg": "image", "image/png": "image"}
# The member a zip-based office file must contain to be what its extension claims.
ZIP_MARKERS = {"docx": "word/", "xlsx": "xl/", "ofd": "OFD.xml"}
EXECUTABLE = (b"MZ", b"\x7fELF", b"#!", b"\xca\xfe\xba\xbe", b"\xcf\xfa\xed\xfe",
              b"\xfe\xed\xfa\xce")
MARKUP = re.compile(rb"<\s*(!doctype\s+html|html|script|svg|\?xml|iframe|body)", re.I)
MARKUP_OVERLAP = 64  # bytes carried across chunks, longer than any tag MARKUP matches
WITHHELD_FIELD = "attachments_withheld"


class AttachmentTooLarge(DocrouteError):
    status = 413


class AttachmentRefused(DocrouteError):
    status = 422


@dataclass(frozen=True)
class Limits:
    """Where content is stored and how large an attachment may be."""

    storage: Path
    max_bytes: int


def clean_name(name: str) -> str:
    """A safe display name: no directories, no control characters, at most 200 chars."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip().strip(".")
    if not name:
        raise AttachmentRefused("附件需要文件名 / the attachment needs a file name")
    if len(name) > 200:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 199 - len(ext)] + dot + ext) if dot else name[:200]
    return name


def extension(name: str) -> str:
    return name.rpartition(".")[2].lower() if "." in name else ""


def _allowed_list() -> str:
    return ", ".join(sorted({e for e in TYPES if e != "jpeg"}))


def check_type(name: str, head: bytes) -> str:
    """The content type for an upload, judged by extension and leading bytes.

    Raises AttachmentRefused with the reason when either disagrees with the other or
    the content is an executable or markup.
    """
    ext = extension(name)
    if ext not in TYPES:
        raise AttachmentRefused(
            f"不接受此类附件 / files of type .{ext or '?'} are not accepted; allowed types: "
            f"{_allowed_list()}")
    if head.startswith(EXECUTABLE):
        raise AttachmentRefused("附件是可执行程序，已拒收 / the file is an executable program "
                                "and was refused")
    content_type, magic = TYPES[ext]
    if magic is None:
        _check_text(head)
    elif not head.startswith(magic):
        raise AttachmentRefused(
            f"文件内容与扩展名 .{ext} 不符 / the file's content is not a .{ext} file")
    return content_type


def _check_text(head: bytes) -> None:
    if b"\x00" in head or MARKUP.search(head):
        raise AttachmentRefused("文本附件含有二进制或网页内容，已拒收 / a text attachment "
                                "must be plain text, not binary, HTML or SVG")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 3:  # a character cut at the sniff boundary is fine
            try:
                head.decode("gb18030")
            except UnicodeDecodeError:
                raise AttachmentRefused("文本附件须为 UTF-8 或 GB18030 编码 / a text "
                                        "attachment must be UTF-8 or GB18030") from None


def _check_text_chunk(tail: bytes, chunk: bytes) -> bytes:
    """Refuse markup or binary anywhere in a text file, not only in its first bytes.

    ``tail`` (the end of the previous chunk) catches a tag cut at a chunk boundary; the
    whole file is scanned, at regular-expression speed (about 50 ms for 50 MB).
    """
    window = tail + chunk
    if b"\x00" in chunk or MARKUP.search(window):
        raise AttachmentRefused("文本附件含有二进制或网页内容，已拒收 / a text attachment "
                                "must be plain text, not binary, HTML or SVG")
    return window[-MARKUP_OVERLAP:]


def _check_zip_member(ext: str, path: Path) -> None:
    marker = ZIP_MARKERS.get(ext)
    if marker is None:
        return
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        raise AttachmentRefused(f"文件已损坏 / the .{ext} file is damaged") from None
    if not any(n == marker or n.startswith(marker) for n in names):
        raise AttachmentRefused(
            f"文件内容与扩展名 .{ext} 不符 / the file's content is not a .{ext} file")


def blob_path(storage: Path, sha256: str) -> Path:
    return storage / sha256[:2] / sha256[2:4] / sha256


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int
    content_type: str


def store(limits: Limits, name: str, stream: IO[bytes], declared_size: int | None = None
          ) -> Stored:
    """Check and write an upload's content into storage; returns its hash.

    Refuses before reading anything when ``declared_size`` (the request's Content-Length,
    which may include a multipart envelope of up to ``ENVELOPE`` bytes) is too large, and
    stops reading as soon as the content passes the limit.
    """
    if declared_size is not None and declared_size > limits.max_bytes + ENVELOPE:
        raise too_large(limits)
    tmp_dir = limits.storage / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    digest, size, head = hashlib.sha256(), 0, b""
    fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            content_type = ""
            text, tail = TYPES.get(extension(name), ("", b""))[1] is None, b""
            for chunk in _chunks(stream):
                size += len(chunk)
                if size > limits.max_bytes:
                    raise too_large(limits)
                if not content_type:
                    head += chunk
                    if len(head) >= SNIFF_BYTES:
                        content_type = check_type(name, head[:SNIFF_BYTES])
                if text:
                    tail = _check_text_chunk(tail, chunk)
                out.write(chunk)
                digest.update(chunk)
            if size == 0:
                raise AttachmentRefused("附件是空文件 / the attachment is empty")
            if not content_type:
                content_type = check_type(name, head)
            out.flush()
            os.fsync(out.fileno())
        _check_zip_member(extension(name), tmp)
        sha = digest.hexdigest()
        target = blob_path(limits.storage, sha)
        if target.exists():
            tmp.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)  # atomic within one file system
        return Stored(sha, size, content_type)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _chunks(stream: IO[bytes]) -> Iterable[bytes]:
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            return
        yield chunk


def too_large(limits: Limits) -> AttachmentTooLarge:
    mb = limits.max_bytes / (1024 * 1024)
    return AttachmentTooLarge(f"附件超过 {mb:g} MB 的上限 / the attachment is larger than the "
                              f"{mb:g} MB limit")


def _record_blob(session: Session, stored: Stored) -> None:
    # Two uploads of the same content may race; the second insert does nothing.
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(insert(Blob).values(sha256=stored.sha256, size=stored.size, content=None)
                    .on_conflict_do_nothing())


def add(session: Session, limits: Limits, actor: Actor, document: Document, name: str,
        stream: IO[bytes], declared_size: int | None = None) -> Attachment:
    """Store an upload as the next version of ``name`` on the document.

    Re-uploading exactly the content of the newest version changes nothing and returns
    that version. The caller has checked that the actor may see and change the document.
    """
    name = clean_name(name)
    if (document.fields or {}).get(WITHHELD_FIELD):
        raise AttachmentRefused("该公文已归档，附件不再更改 / this document is archived; its "
                                "attachments can no longer change")
    stored = store(limits, name, stream, declared_size)
    # Lock the document so two uploads of one name cannot both take the same version.
    session.scalars(select(Document.id).where(Document.id == document.id).with_for_update())
    newest = session.scalars(select(Attachment).where(Attachment.document_id == document.id,
                                                      Attachment.name == name)
                             .order_by(Attachment.version.desc()).limit(1)).first()
    if newest is not None and newest.sha256 == stored.sha256:
        return newest
    _record_blob(session, stored)
    row = Attachment(document_id=document.id, name=name,
                     version=(newest.version + 1) if newest else 1, sha256=stored.sha256,
                     size=stored.size, content_type=stored.content_type,
                     uploaded_by=actor.username, uploaded_at=clock.now())
    session.add(row)
    session.flush()
    return row


def list_for(session: Session, document_id: int, *, newest_only: bool = False
             ) -> list[AttachmentView]:
    """A document's attachments by name then version (only the newest of each if asked);
    the document page and the API's document call list them here."""
    rows = [AttachmentView.from_row(row) for row in session.scalars(
        select(Attachment).where(Attachment.document_id == document_id)
        .order_by(Attachment.name, Attachment.version))]
    if not newest_only:
        return rows
    newest: dict[str, AttachmentView] = {}
    for row in rows:
        newest[row.name] = row
    return list(newest.values())


def preview_kind(content_type: str) -> str:
    """"pdf" or "image" when a page may show the file inline, else "download"."""
    return PREVIEWS.get(content_type.split(";")[0].strip().lower(), "download")


def count_for(session: Session, document_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(Attachment)
                              .where(Attachment.document_id == document_id)) or 0)


def content_path(limits: Limits, session: Session, document: Document, attachment_id: int
                 ) -> tuple[Attachment, Path]:
    """The attachment row and the file holding its content.

    Raises NotFound when the attachment is not the document's, AttachmentRefused when
    the document is archived classified (metadata only).
    """
    row = session.get(Attachment, attachment_id)
    if row is None or row.document_id != document.id:
        raise NotFound(f"no attachment with id {attachment_id} on this document")
    if (document.fields or {}).get(WITHHELD_FIELD):
        raise AttachmentRefused("涉密公文归档后仅保留目录信息，附件不予提供 / this classified "
                                "document is archived as metadata only; its attachments "
                                "are withheld")
    path = blob_path(limits.storage, row.sha256)
    if not path.exists():
        raise NotFound(f"the content of attachment {row.name!r} is missing from storage")
    return row, path
