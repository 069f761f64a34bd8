"""The staff pages through Flask's test client, on SQLite and PostgreSQL.

Uses the shipped workflows and forms and the demo organisation, like a real install.
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine import Docroute, Settings, clock, demo
from engine.models import Document, Draft, Instance, Task, User

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _compiled_catalog() -> None:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    folder = ROOT / "webui" / "translations" / "zh" / "LC_MESSAGES"
    with open(folder / "messages.po", "rb") as po, open(folder / "messages.mo", "wb") as mo:
        write_mo(mo, read_po(po, locale="zh"))


@pytest.fixture(scope="module")
def seeded_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_seeded_sqlite(tmp_path_factory.mktemp("seeded"))


def make_seeded_sqlite(home: Path) -> Path:
    """One SQLite file with the shipped workflows and the demo organisation, copied per test
    (deploying 60-odd forms and hashing 15 passwords takes most of a test's time)."""
    docroute = Docroute(Settings(home=home))
    docroute.init()
    with docroute.session() as s:
        demo.seed_organisation(s)
    docroute.engine.dispose()
    return home / "docroute.sqlite3"


def shipped_docroute(db_url: str, home: Path, seeded: Path | None) -> Docroute:
    """A Docroute on ``db_url`` with the shipped workflows and the demo organisation."""
    if seeded is not None and db_url.startswith("sqlite:///"):
        shutil.copy(seeded, db_url.removeprefix("sqlite:///"))
        return Docroute(Settings(home=home, database_url=db_url))
    docroute = Docroute(Settings(home=home, database_url=db_url))
    docroute.init()
    with docroute.session() as s:
        demo.seed_organisation(s)
    return docroute


@pytest.fixture
def shipped(db_url: str, tmp_path: Path, manual_clock: clock.ManualClock,
            request: pytest.FixtureRequest) -> Iterator[Docroute]:
    seeded = request.getfixturevalue("seeded_sqlite") if db_url.startswith("sqlite") else None
    docroute = shipped_docroute(db_url, tmp_path / "home", seeded)
    yield docroute
    docroute.engine.dispose()


def make_app(docroute: Docroute, **config: Any) -> Flask:
    from webui import create_app

    settings = {"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False,
                "SECRET_KEY": "test"}
    settings.update(config)
    return create_app(settings, docroute=docroute)


@pytest.fixture
def app(shipped: Docroute) -> Flask:
    return make_app(shipped)


def login(app: Flask, username: str, lang: str = "zh") -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = lang
    response = client.post("/login", data={"username": username, "password": demo.PASSWORD})
    assert response.status_code == 302, response.data
    return client


REGISTRATION = {"title": "关于做好森林防火工作的通知", "source_org": "深圳市森林防火指挥部",
                "doc_type": "通知", "received_at": "2026-03-02T09:00", "copies": "2",
                "urgency": "加急", "classification": "none", "issued_on": "2026-02-27"}


def register(client: FlaskClient, **changes: str) -> str:
    """Register an incoming document; returns the first task's URL."""
    response = client.post("/documents/new/incoming", data={**REGISTRATION, **changes})
    assert response.status_code == 302, response.data.decode()
    return response.headers["Location"]


def complete(client: FlaskClient, url: str, data: dict[str, Any], action: str = "complete"
             ) -> Any:
    return client.post(url, data={**data, "action": action})


def run_to_propose(app: Flask) -> str:
    """Register and take the clerk through 签收, 登记, 初审; returns the 拟办 task URL."""
    clerk = login(app, "zhangli")
    url = register(clerk)
    url = complete(clerk, url, {"received_at": "2026-03-02T09:00",
                                "source_org": "深圳市森林防火指挥部", "copies": "2",
                                "urgency": "加急", "classification": "none"}
                   ).headers["Location"]
    url = complete(clerk, url, {"title": REGISTRATION["title"], "doc_type": "通知",
                                "source_org": "深圳市森林防火指挥部",
                                "issued_on": "2026-02-27"}).headers["Location"]
    response = complete(clerk, url, {"check_result": "accept"})
    assert response.headers["Location"] == "/"
    return open_task_url(app, "linhai", "拟办")


def open_task_url(app: Flask, username: str, name: str) -> str:
    docroute: Docroute = app.extensions["docroute"]
    with docroute.session() as s:
        for row in s.scalars(select(Task).where(Task.name == name)):
            return f"/tasks/{row.id}"
    raise AssertionError(f"no open task {name}")


# --- pages and login ------------------------------------------------------------------------


def test_every_page_needs_login(app: Flask) -> None:
    client = app.test_client()
    for path in ("/", "/documents", "/documents/new/incoming", "/notifications",
                 "/documents/1", "/documents/1/sheet", "/cases/1", "/tasks/x"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path
    page = client.get("/login")
    assert page.status_code == 200
    for name in ("username", "password", "csrf_token"):
        assert f'name="{name}"' in page.data.decode()


def test_forms_need_csrf(shipped: Docroute) -> None:
    app = make_app(shipped, WTF_CSRF_ENABLED=True)
    client = app.test_client()
    response = client.post("/login", data={"username": "zhangli", "password": demo.PASSWORD})
    assert response.status_code == 400
    page = client.get("/login").data.decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    response = client.post("/login", data={"username": "zhangli", "password": demo.PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 302
    assert client.post("/documents/new/incoming", data=REGISTRATION).status_code == 400


def test_language_follows_browser_then_choice(app: Flask, shipped: Docroute) -> None:
    client = login(app, "zhangli", lang="en")
    assert "Inbox" in client.get("/").data.decode()
    client.post("/language", data={"lang": "zh", "next": "/"})
    assert "待办" in client.get("/").data.decode()
    with shipped.session() as s:
        assert s.scalar(select(User.locale).where(User.username == "zhangli")) == "zh"
    # The choice is remembered for the user, whatever the next browser says.
    again = login(app, "zhangli", lang="en")
    assert "待办" in again.get("/").data.decode()


def test_session_cookie_is_httponly_and_samesite(app: Flask) -> None:
    client = app.test_client()
    response = client.post("/login", data={"username": "zhangli", "password": demo.PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]


# --- inbox and task page -----------------------------------------------------------------------


def test_registration_errors_in_the_users_language(app: Flask) -> None:
    for lang, required, pattern in (("zh", "此项必填。", "格式不正确，应类似：深府〔2022〕16号"),
                                    ("en", "Please fill in this field.",
                                     "This does not have the expected form; for example: "
                                     "深府〔2022〕16号")):
        client = login(app, "zhangli", lang=lang)
        page = client.post("/documents/new/incoming",
                           data={"source_number": "深府2022-16", "copies": "0"}).data.decode()
        assert required in page
        assert pattern in page
        assert ("不小于 1" if lang == "zh" else "Enter 1 or more.") in page


def test_inbox_filters_search_and_badges(app: Flask) -> None:
    clerk = login(app, "zhangli")
    register(clerk)
    register(clerk, title="关于大鹏所城文物保护的函", doc_type="函", urgency="")
    page = clerk.get("/").data.decode()
    assert page.count('class="taskname"') == 2 and "加急" in page
    assert "大鹏所城" in clerk.get("/?q=所城").data.decode()
    found = clerk.get("/?q=所城").data.decode()
    assert found.count('class="taskname"') == 1 and "森林防火工作" not in found
    assert 'class="taskname"' not in clerk.get("/?overdue=1").data.decode()
    assert 'class="taskname"' not in clerk.get("/?process=outgoing_document").data.decode()
    assert clerk.get("/?kind=incoming").data.decode().count('class="taskname"') == 2


def test_journey_to_instruction_with_opinions_and_send_back(app: Flask) -> None:
    url = run_to_propose(app)
    leader = login(app, "linhai")
    response = complete(leader, url, {"proposed_handling": "建议送周强同志阅。",
                                      "handling_mode": "read", "deadline": "2026-03-10",
                                      "lead_department": "emergency_management",
                                      "instruction_group": "supervising_leaders"})
    # 批示 goes to the leader in charge of the lead unit (应急管理局: 王芳), not to him.
    assert response.headers["Location"] == "/"
    instruct = open_task_url(app, "wangfang", "批示")
    instructor = login(app, "wangfang")
    page = instructor.get(instruct).data.decode()
    assert "建议送周强同志阅。" in page and "林海" in page   # earlier opinion, who
    assert 'value="return"' in page and "退回拟办" in page  # a distinct send-back button
    # Send back (退回): the case returns to 拟办.
    response = complete(instructor, instruct, {"instruction": "请补充办理意见。",
                                               "handling_mode": "read",
                                               "deadline": "2026-03-10"}, action="return")
    assert response.status_code == 302
    assert open_task_url(app, "linhai", "拟办")


def test_draft_is_kept_for_its_author(app: Flask, shipped: Docroute) -> None:
    url = run_to_propose(app)
    leader = login(app, "linhai")
    complete(leader, url, {"proposed_handling": "草稿中的拟办意见"}, action="draft")
    assert "草稿中的拟办意见" in leader.get(url).data.decode()
    other = login(app, "zhouqiang")  # section head: same group, not the draft's author
    assert "草稿中的拟办意见" not in other.get(url).data.decode()
    with shipped.session() as s:
        assert s.scalar(select(Draft.data)) == {"proposed_handling": "草稿中的拟办意见"}


def test_double_submit_and_stale_task_go_back_to_the_inbox(app: Flask) -> None:
    url = run_to_propose(app)
    data = {"proposed_handling": "同意。", "handling_mode": "read",
            "deadline": "2026-03-10", "lead_department": "emergency_management",
            "instruction_group": "supervising_leaders"}
    leader = login(app, "linhai")
    assert complete(leader, url, data).status_code == 302
    again = complete(leader, url, data)   # the same button clicked twice
    assert again.status_code == 302 and again.headers["Location"] == "/"
    page = leader.get("/").data.decode()
    assert "该任务已不在待办中" in page
    other = login(app, "zhouqiang", lang="en")
    response = other.get(url, follow_redirects=True)
    assert "This task is no longer open" in response.data.decode()


def test_claim_unclaim_and_delegate(app: Flask, shipped: Docroute) -> None:
    url = run_to_propose(app)
    task_id = url.rsplit("/", 1)[1]
    leader = login(app, "linhai")
    assert leader.post(f"/tasks/{task_id}/claim").status_code == 302
    assert "由我办理" in leader.get("/").data.decode()
    assert 'class="taskname"' not in login(app, "zhouqiang").get("/").data.decode()
    leader.post(f"/tasks/{task_id}/unclaim")
    assert 'class="taskname"' in login(app, "zhouqiang").get("/").data.decode()
    leader.post(f"/tasks/{task_id}/delegate", data={"to": "wangfang"})  # not a candidate
    with shipped.session() as s:
        assert s.get(Task, task_id).assignee is None
    leader.post(f"/tasks/{task_id}/delegate", data={"to": "zhouqiang"})
    with shipped.session() as s:
        assert s.get(Task, task_id).assignee == "zhouqiang"
    assert "拟办" in login(app, "zhouqiang").get("/?scope=mine").data.decode()


def test_document_page_timeline_diagram_sheet_and_attachments(app: Flask) -> None:
    run_to_propose(app)
    clerk = login(app, "zhangli", lang="en")
    page = clerk.get("/documents").data.decode()
    document_url = re.search(r'href="(/documents/\d+)"', page).group(1)  # type: ignore[union-attr]
    page = clerk.get(document_url).data.decode()
    assert "Sign for receipt" in page and "Initial check" in page  # English step names
    assert '"completed": [' in page and "sign_for" in page        # viewer state
    assert "Document arrives" in page                              # diagram names in English
    response = clerk.post(f"{document_url}/attachments",
                          data={"file": (io.BytesIO(b"%PDF-1.4\n%test\n"), "正文.pdf")},
                          content_type="multipart/form-data")
    assert response.status_code == 302
    page = clerk.get(document_url).data.decode()
    download = re.search(r'href="(/documents/\d+/attachments/\d+)"', page).group(1)  # type: ignore[union-attr]
    assert clerk.get(download).data.startswith(b"%PDF")
    sheet = clerk.get(f"{document_url}/sheet").data.decode()
    assert "Incoming document processing sheet" in sheet and REGISTRATION["title"] in sheet


def test_attachments_read_in_the_page(app: Flask, shipped: Docroute) -> None:
    from sample_files import docx_bytes, pdf_bytes, png_bytes

    clerk = login(app, "zhangli")
    register(clerk)
    with shipped.session() as s:
        document_id = s.scalar(select(Document.id))
    for name, content in (("正文.pdf", pdf_bytes()), ("照片.png", png_bytes()),
                          ("附件.docx", docx_bytes())):
        response = clerk.post(f"/documents/{document_id}/attachments",
                              data={"file": (io.BytesIO(content), name)},
                              content_type="multipart/form-data")
        assert response.status_code == 302
    with shipped.session() as s:
        from engine.models import Attachment

        ids = {a.name: a.id for a in s.scalars(select(Attachment))}
    page = clerk.get(f"/documents/{document_id}").data.decode()
    base = f"/documents/{document_id}/attachments"
    assert f'class="pdf-view" data-src="{base}/{ids["正文.pdf"]}/view"' in page
    assert f'<img class="image-view" src="{base}/{ids["照片.png"]}/view"' in page
    assert "vendor/docroute-pdf.js" in page and "vendor/pdf.worker.js" in page
    assert re.search(r"此Word文档无法在浏览器中显示。\s*<a class=\"button\" "
                     rf'href="{base}/{ids["附件.docx"]}" download>下载（\d+ B）</a>', page)
    shown = clerk.get(f"{base}/{ids['正文.pdf']}/view")
    assert shown.status_code == 200 and shown.mimetype == "application/pdf"
    assert "attachment" not in shown.headers.get("Content-Disposition", "")
    assert "sandbox" in shown.headers["Content-Security-Policy"]
    assert clerk.get(f"{base}/{ids['照片.png']}/view").mimetype == "image/png"
    assert clerk.get(f"{base}/{ids['附件.docx']}/view").status_code == 404  # download only
    english = login(app, "zhangli", lang="en").get(f"/documents/{document_id}").data.decode()
    assert "This Word document cannot be shown in the browser." in english
    # Someone the document is not shown to gets nothing, as with a download.
    assert login(app, "mali").get(f"{base}/{ids['正文.pdf']}/view").status_code == 404


def test_engine_refusals_read_in_one_language(app: Flask, shipped: Docroute) -> None:
    clerk = login(app, "zhangli")
    register(clerk)
    with shipped.session() as s:
        document_id = s.scalar(select(Document.id))
    # The engine says "文件已损坏 / the .xlsx file is damaged"; each page shows its half.
    for lang, wanted, other in (("zh", "文件已损坏", "damaged"),
                                ("en", "the .xlsx file is damaged", "文件已损坏")):
        client = login(app, "zhangli", lang=lang)
        damaged = (io.BytesIO(b"PK\x03\x04" + b"\x00" * 200), "统计表.xlsx")
        page = client.post(f"/documents/{document_id}/attachments", data={"file": damaged},
                           content_type="multipart/form-data", follow_redirects=True)
        flashes = " ".join(re.findall(r'<p class="flash error"[^>]*>(.*?)</p>',
                                      page.data.decode()))
        assert wanted in flashes and other not in flashes and " / " not in flashes, flashes


# --- confidentiality ------------------------------------------------------------------------------


def test_classified_document_is_404_everywhere_for_the_uncleared(app: Flask,
                                                                 shipped: Docroute) -> None:
    clerk = login(app, "zhangli")
    task_url = register(clerk, title="秘密级来文", classification="confidential")
    with shipped.session() as s:
        document = s.scalar(select(Document).where(Document.title == "秘密级来文"))
        document_id = document.id
        instance_id = s.scalar(select(Task.instance_id).where(Task.document_id == document_id))
    clerk.post(f"/documents/{document_id}/attachments",
               data={"file": (io.BytesIO(b"%PDF-1.4\n"), "a.pdf")},
               content_type="multipart/form-data")
    with shipped.session() as s:
        from engine.models import Attachment

        attachment_id = s.scalar(select(Attachment.id))
    assert clerk.get(f"/documents/{document_id}").status_code == 200

    # guoyan: general office, clearance none. Even a member of the clerk's groups would
    # not see it; an administrator-level user with clearance none neither.
    outsider = login(app, "guoyan")
    for path in (f"/documents/{document_id}", f"/documents/{document_id}/sheet",
                 f"/documents/{document_id}/attachments/{attachment_id}",
                 f"/documents/{document_id}/attachments/{attachment_id}/view",
                 f"/cases/{instance_id}"):
        assert outsider.get(path).status_code == 404, path
    assert outsider.post(f"/documents/{document_id}/attachments",
                         data={"file": (io.BytesIO(b"%PDF-1.4\n"), "b.pdf")},
                         content_type="multipart/form-data").status_code == 404
    for path in ("/", "/?q=秘密级", "/documents", "/documents?q=秘密级"):
        assert "秘密级来文" not in outsider.get(path).data.decode(), path
    response = outsider.get(task_url)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    task_id = task_url.rsplit("/", 1)[1]
    for action in ("claim", "unclaim"):
        response = outsider.post(f"/tasks/{task_id}/{action}")
        assert response.headers["Location"] == "/"
    # The JSON API answers 404 too.
    with shipped.session() as s:
        from engine.org import identity

        token = identity.create_token(s, "guoyan")
    headers = {"Authorization": f"Bearer {token}"}
    api = app.test_client()
    assert api.get(f"/api/v1/tasks/{task_id}", headers=headers).status_code == 404
    assert api.get(f"/api/v1/instances/{instance_id}", headers=headers).status_code == 404
    assert "秘密级来文" not in api.get("/api/v1/tasks", headers=headers).data.decode()


def test_clerk_cannot_register_above_her_clearance(app: Flask, shipped: Docroute) -> None:
    clerk = login(app, "zhangli")  # cleared for 秘密 (confidential) only
    page = clerk.post("/documents/new/incoming",
                      data={**REGISTRATION, "classification": "secret"}).data.decode()
    assert "你的涉密等级低于该密级" in page
    with shipped.session() as s:
        assert s.scalar(select(Document.id)) is None


def test_progress_marks_done_active_and_taken_flows(app: Flask, shipped: Docroute) -> None:
    from engine.models import Instance
    from engine.queries.progress import case_progress

    run_to_propose(app)
    with shipped.session() as s:
        instance = s.scalar(select(Instance))
        progress = case_progress(s, instance)
    assert {"start", "sign_for", "register", "initial_check", "gw_check"} \
        <= set(progress.completed)
    assert progress.active == ["propose"]
    assert {"Flow_start_sign_for", "Flow_sign_for_register",
            "Flow_gw_check_propose"} <= set(progress.path)
    assert "Flow_gw_check_return_doc" not in progress.path


def test_notifications_count_in_header_and_page(app: Flask, shipped: Docroute) -> None:
    from engine.models import Notification

    with shipped.session() as s:
        user = s.scalar(select(User).where(User.username == "zhangli"))
        # A row from before keyed messages: plain "中文 / English" text, still shown.
        s.add(Notification(user_id=user.id, level="red", message="《关于做好森林防火工作的通知》"
                           "已逾期 / the notice on forest fires is overdue",
                           created_at=clock.now()))
    clerk = login(app, "zhangli")
    page = clerk.get("/").data.decode()
    assert re.search(r'class="count">1<', page)
    # A form shown again after a validation error keeps the header's count.
    again = clerk.post("/documents/new/incoming", data={"copies": "0"}).data.decode()
    assert "此项必填" in again and re.search(r'class="count">1<', again)
    page = clerk.get("/notifications").data.decode()
    assert "已逾期" in page and "全部标为已读" in page and "is overdue" not in page
    english = login(app, "zhangli", lang="en").get("/notifications").data.decode()
    assert "the notice on forest fires is overdue" in english and "已逾期" not in english
    clerk.post("/notifications/read", data={})
    assert not re.search(r'class="count">1<', clerk.get("/").data.decode())


def _note_texts(page: str) -> list[str]:
    return re.findall(r'<span class="text">(.*?)</span>', page)


def test_reminders_read_in_the_pages_language(app: Flask, shipped: Docroute) -> None:
    from engine.deadlines import reminders

    clerk = login(app, "zhangli")
    register(clerk)  # 加急: starts at the yellow level
    with shipped.session() as s:
        assert reminders.run_reminders(s, clock.now()).notifications >= 1
    zh = _note_texts(clerk.get("/notifications").data.decode())
    en = _note_texts(login(app, "zhangli", lang="en").get("/notifications").data.decode())
    assert zh and len(zh) == len(en)
    assert all("「签收」（关于做好森林防火工作的通知）" in t and "2026年" in t for t in zh)
    assert not [t for t in zh if re.search(r"[A-Za-z]{3,}", t)]  # no English words
    assert all("“Sign for receipt” (关于做好森林防火工作的通知)" in t for t in en), en
    # Chinese only as the document's own title: every other word is English.
    assert not [t for t in en if re.search(r"[\u4e00-\u9fff]", t.replace(
        "关于做好森林防火工作的通知", ""))]
    assert all(re.search(r"[A-Z][a-z]{2} \d{1,2}, 2026", t) for t in en)


def test_inbox_registry_columns_and_urgency_counts(app: Flask, shipped: Docroute) -> None:
    from sqlalchemy import event

    from engine.deadlines import reminders

    clerk = login(app, "zhangli")
    register(clerk)
    with shipped.session() as s:
        reminders.run_reminders(s, clock.now())
        document_id = s.scalar(select(Document.id))

    def statements(client: FlaskClient, url: str) -> tuple[int, str]:
        seen: list[str] = []

        def count(*args: Any) -> None:
            seen.append(str(args[2]))

        event.listen(shipped.engine, "before_cursor_execute", count)
        try:
            body = client.get(url).data.decode()
        finally:
            event.remove(shipped.engine, "before_cursor_execute", count)
        return len(seen), body

    one, page = statements(clerk, "/")
    assert "深圳市森林防火指挥部" in page and "2026年3月2日 09:00" in page  # organ, received
    assert f'href="/documents/{document_id}"' in page  # the title opens the document
    assert re.search(r'data-level="yellow">\s*<span class="n">1</span>', page)
    assert re.search(r'data-level="blue">\s*<span class="n">0</span>', page)
    assert 'class="taskname"' in clerk.get("/?level=yellow").data.decode()
    assert 'class="taskname"' not in clerk.get("/?level=blue").data.decode()
    assert 'class="taskname"' not in clerk.get("/?level=escalated").data.decode()
    for n in range(3):
        register(clerk, title=f"关于第{n}批防汛物资的通知")
    three, page = statements(clerk, "/")
    assert page.count('class="taskname"') == 4
    assert three == one  # more rows, no more queries
    english = login(app, "zhangli", lang="en").get("/").data.decode()
    assert "Mar 2, 2026 09:00" in english and "Yellow warning" in english


def test_start_outgoing_draft(app: Flask) -> None:
    drafter = login(app, "zhouqiang")
    response = drafter.post("/documents/new/outgoing", data={
        "title": "关于开展2026年度安全生产大检查的通知", "doc_type": "通知", "urgency": "",
        "classification": "none"})
    assert response.status_code == 302
    page = drafter.get(response.headers["Location"], follow_redirects=True).data.decode()
    assert "关于开展2026年度安全生产大检查的通知" in page


@pytest.mark.parametrize(("field", "value", "zh", "en"), [
    ({"type": "string", "minLength": 1}, "", "此项必填。", "Please fill in this field."),
    ({"type": "string", "maxLength": 3}, "一二三四", "最多 3 个字（现为 4 个）。",
     "Enter at most 3 characters (now 4)."),
    ({"type": "string", "format": "date"}, "3/8/2026", "请填写日期，例如 2026-03-08。",
     "Enter a date, for example 2026-03-08."),
    ({"type": "string", "enum": ["read", "act"]}, "other", "请从选项中选择一项。",
     "Choose one of the options."),
    ({"type": "integer", "minimum": 1}, "x", "请填写整数。", "Enter a whole number."),
    ({"type": "array", "minItems": 1, "items": {"type": "string"}}, [], "至少选择 1 项。",
     "Choose at least 1."),
])
def test_field_errors_are_sentences_in_both_languages(field: dict[str, Any], value: Any,
                                                      zh: str, en: str) -> None:
    from flask_babel import Babel, force_locale

    from webui.formdata import explain

    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(ROOT / "webui" / "translations")
    Babel(app)
    with app.test_request_context():
        with force_locale("zh"):
            assert explain(field, value, True) == zh
        with force_locale("en"):
            assert explain(field, value, True) == en


def test_document_page_shows_legal_deadline_and_internal_target(app: Flask,
                                                                 shipped: Docroute) -> None:
    from engine import deadlines

    clerk = login(app, "zhangli")
    register(clerk)
    with shipped.session() as s:
        instance = s.scalars(select(Instance).order_by(Instance.id.desc())).first()
        deadlines.start(s, instance.id, "答复期限", kind="workdays", n=20,
                        start_on="2026-09-28", target=15)
        deadlines.pause(s, instance.id, "答复期限", on="2026-10-09")
        document_id = instance.document_id
    page = clerk.get(f"/documents/{document_id}").get_data(as_text=True)
    assert "法定期限" in page and "内部目标" in page
    assert "2026年10月30日" in page  # 20 working days after 2026-09-28 (National Day)
    assert "暂停计时" in page
