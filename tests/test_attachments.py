"""Attachments: versions per name, content dedupe, size and type limits, clearance."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from engine import Docroute, NotFound
from engine.models import Blob
from engine.org.identity import Actor
from engine.registry import attachments, documents
from engine.registry.attachments import AttachmentRefused, AttachmentTooLarge, Limits

PDF = b"%PDF-1.7\n" + b"0" * 2000 + b"\n%%EOF\n"


def docx_bytes(text: str = "正文") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", f"<w:document>{text}</w:document>")
    return buffer.getvalue()


@pytest.fixture
def people() -> dict[str, Actor]:
    """Actors as the engine sees them; the registry needs no user rows (faster than the
    shared fixture, which hashes passwords)."""
    return {"clerk": Actor(1, "clerk", "张丽", 1, frozenset()),
            "rev1": Actor(2, "rev1", "吴静", 2, frozenset()),
            "boss": Actor(3, "boss", "林海", 3, frozenset()),
            "admin": Actor(4, "admin", "管理员", 3, frozenset(), is_admin=True)}


@pytest.fixture
def limits(docroute: Docroute) -> Limits:
    return Limits(docroute.settings.attachments_dir, 64 * 1024)


def _document(app: Docroute, actor: Actor, classification: str = "none") -> int:
    with app.session() as s:
        return documents.create_document(s, actor, "incoming", {
            "title": "关于做好台风“海葵”防御工作的紧急通知", "source_org": "深圳市三防指挥部",
            "doc_type": "通知", "classification": classification}).id


def _add(app: Docroute, limits: Limits, actor: Actor, doc_id: int, name: str, content: bytes,
         declared: int | None = None) -> tuple[int, int, str]:
    with app.session() as s:
        document = documents.get_document(s, actor, doc_id)
        row = attachments.add(s, limits, actor, document, name, io.BytesIO(content), declared)
        return row.id, row.version, row.content_type


def test_versions_per_name(docroute: Docroute, people: dict[str, Actor], limits: Limits) -> None:
    clerk = people["clerk"]
    doc_id = _document(docroute, clerk)
    first = _add(docroute, limits, clerk, doc_id, "通知.pdf", PDF)
    second = _add(docroute, limits, clerk, doc_id, "通知.pdf", PDF + b"revised")
    other = _add(docroute, limits, clerk, doc_id, "附件1 防御措施.docx", docx_bytes())
    same_again = _add(docroute, limits, clerk, doc_id, "通知.pdf", PDF + b"revised")
    assert [first[1], second[1], other[1]] == [1, 2, 1]
    assert same_again == second  # identical content as the newest version: nothing new
    assert other[2].endswith("wordprocessingml.document")
    with docroute.session() as s:
        rows = attachments.list_for(s, doc_id)
        newest = attachments.list_for(s, doc_id, newest_only=True)
        document = documents.get_document(s, clerk, doc_id)
        _, path = attachments.content_path(limits, s, document, first[0])
        assert path.read_bytes() == PDF  # version 1 was not overwritten
    assert [(r.name, r.version) for r in rows] == [("通知.pdf", 1), ("通知.pdf", 2),
                                                   ("附件1 防御措施.docx", 1)]
    assert [(r.name, r.version) for r in newest] == [("通知.pdf", 2), ("附件1 防御措施.docx", 1)]


def test_content_stored_once(docroute: Docroute, people: dict[str, Actor],
                             limits: Limits) -> None:
    clerk = people["clerk"]
    one, two = _document(docroute, clerk), _document(docroute, clerk)
    _add(docroute, limits, clerk, one, "a.pdf", PDF)
    _add(docroute, limits, clerk, two, "b.pdf", PDF)
    files = [p for p in limits.storage.rglob("*") if p.is_file()]
    with docroute.session() as s:
        blobs = s.query(Blob).all()
    assert len(files) == 1 and len(blobs) == 1
    assert blobs[0].size == len(PDF) and files[0].name == blobs[0].sha256
    assert not list((limits.storage / "tmp").iterdir())  # no temporary file left behind


def test_too_large(docroute: Docroute, people: dict[str, Actor], limits: Limits) -> None:
    clerk = people["clerk"]
    doc_id = _document(docroute, clerk)
    big = b"%PDF-" + b"x" * limits.max_bytes
    with pytest.raises(AttachmentTooLarge) as caught:
        _add(docroute, limits, clerk, doc_id, "big.pdf", big)
    assert str(caught.value) == "附件超过 0.0625 MB 的上限 / the attachment is larger than the " \
                                "0.0625 MB limit"

    class Unreadable(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise AssertionError("the body was read although its declared size was too large")

    with pytest.raises(AttachmentTooLarge), docroute.session() as s:
        document = documents.get_document(s, clerk, doc_id)
        attachments.add(s, limits, clerk, document, "big.pdf", Unreadable(),
                        declared_size=limits.max_bytes + attachments.ENVELOPE + 1)
    with docroute.session() as s:
        assert attachments.list_for(s, doc_id) == []
    assert not list((limits.storage / "tmp").iterdir())


@pytest.mark.parametrize(("name", "content", "message"), [
    ("setup.exe", b"MZ\x90\x00", "不接受此类附件 / files of type .exe are not accepted; allowed "
     "types: doc, docx, jpg, ofd, pdf, png, txt, wps, xls, xlsx, zip"),
    ("通知.pdf", b"MZ\x90\x00" + b"\x00" * 100, "附件是可执行程序，已拒收 / the file is an "
     "executable program and was refused"),
    ("page.html", b"<html></html>", "不接受此类附件 / files of type .html are not accepted; "
     "allowed types: doc, docx, jpg, ofd, pdf, png, txt, wps, xls, xlsx, zip"),
    ("logo.svg", b"<svg/>", "不接受此类附件 / files of type .svg are not accepted; allowed "
     "types: doc, docx, jpg, ofd, pdf, png, txt, wps, xls, xlsx, zip"),
    ("说明.txt", b"<!DOCTYPE html><script>alert(1)</script>",
     "文本附件含有二进制或网页内容，已拒收 / a text attachment must be plain text, not binary, "
     "HTML or SVG"),
    ("说明.txt", b"<svg onload=alert(1)>", "文本附件含有二进制或网页内容，已拒收 / a text "
     "attachment must be plain text, not binary, HTML or SVG"),
    ("照片.png", b"\xff\xd8\xff\xe0jpeg", "文件内容与扩展名 .png 不符 / the file's content is not "
     "a .png file"),
    ("通知.docx", PDF, "文件内容与扩展名 .docx 不符 / the file's content is not a .docx file"),
    ("报表.xlsx", docx_bytes(), "文件内容与扩展名 .xlsx 不符 / the file's content is not a "
     ".xlsx file"),
    ("README", b"plain", "不接受此类附件 / files of type .? are not accepted; allowed types: doc, "
     "docx, jpg, ofd, pdf, png, txt, wps, xls, xlsx, zip"),
    ("empty.pdf", b"", "附件是空文件 / the attachment is empty"),
])
def test_refused_types(docroute: Docroute, people: dict[str, Actor], limits: Limits,
                       name: str, content: bytes, message: str) -> None:
    doc_id = _document(docroute, people["clerk"])
    with pytest.raises(AttachmentRefused) as caught:
        _add(docroute, limits, people["clerk"], doc_id, name, content)
    assert str(caught.value) == message
    assert not list((limits.storage / "tmp").iterdir())


@pytest.mark.parametrize(("name", "content"), [
    ("扫描件.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 600),
    ("截图.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40),
    ("旧稿.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600),
    ("报表.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 60),
    ("公文.wps", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 60),
    ("备注.txt", "大鹏所城保护范围内禁止新建建筑。\n".encode() * 40),
    ("备注GBK.txt", "民宿备案".encode("gb18030")),
    ("材料.zip", docx_bytes()),
])
def test_accepted_types(docroute: Docroute, people: dict[str, Actor], limits: Limits,
                        name: str, content: bytes) -> None:
    doc_id = _document(docroute, people["clerk"])
    assert _add(docroute, limits, people["clerk"], doc_id, name, content)[1] == 1


def test_names_are_cleaned() -> None:
    assert attachments.clean_name("C:\\Users\\张丽\\桌面\\通知.pdf") == "通知.pdf"
    assert attachments.clean_name("../../etc/通知\x00.pdf") == "通知.pdf"
    with pytest.raises(AttachmentRefused):
        attachments.clean_name("../")


def test_download_needs_clearance(docroute: Docroute, people: dict[str, Actor],
                                  limits: Limits) -> None:
    doc_id = _document(docroute, people["rev1"], "secret")
    att_id, _, _ = _add(docroute, limits, people["rev1"], doc_id, "预案.pdf", PDF)
    with docroute.session() as s:
        document = documents.get_document(s, people["admin"], doc_id)
        _, path = attachments.content_path(limits, s, document, att_id)
        assert path.read_bytes() == PDF
        with pytest.raises(NotFound):
            documents.get_document(s, people["clerk"], doc_id)
        with pytest.raises(NotFound):  # cleared, but not involved in it
            documents.get_document(s, people["boss"], doc_id)
        with pytest.raises(NotFound):
            attachments.content_path(limits, s, document, att_id + 1)


def test_archived_classified_withholds_content(docroute: Docroute, people: dict[str, Actor],
                                               limits: Limits) -> None:
    doc_id = _document(docroute, people["rev1"], "secret")
    att_id, _, _ = _add(docroute, limits, people["rev1"], doc_id, "预案.pdf", PDF)
    with docroute.session() as s:
        documents.archive_document(s, documents.get_document(s, people["rev1"], doc_id))
    with docroute.session() as s:
        document = documents.get_document(s, people["rev1"], doc_id)
        assert [a.name for a in attachments.list_for(s, doc_id)] == ["预案.pdf"]  # metadata kept
        with pytest.raises(AttachmentRefused) as caught:
            attachments.content_path(limits, s, document, att_id)
    assert "attachments are withheld" in str(caught.value)
    with pytest.raises(AttachmentRefused):
        _add(docroute, limits, people["rev1"], doc_id, "新.pdf", PDF)


def test_storage_path_is_content_addressed(tmp_path: Path) -> None:
    sha = "ab" * 32
    assert attachments.blob_path(tmp_path, sha) == tmp_path / "ab" / "ab" / sha
