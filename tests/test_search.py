"""Search by document number (with or without brackets, by prefix), title and 内容摘要.

One engine query (engine.registry.search) serves the documents list, the inbox and the API; each is
checked here on SQLite (FTS5 trigram table) and PostgreSQL (pg_trgm index).
"""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import text

from engine import Docroute, runtime
from engine.models import Document
from engine.org import identity
from engine.org.identity import Actor
from engine.queries.inbox import InboxFilter, list_tasks
from engine.registry import documents, search
from engine.registry.documents import Search

INCOMING = {"title": "广东省应急管理厅关于开展汛期安全检查的通知", "source_org": "广东省应急管理厅",
            "source_number": "粤应急〔2026〕88号", "doc_type": "通知", "copies": 1,
            "summary": "要求各地于月底前完成危化品企业防汛检查。"}
OTHER = {"title": "深圳市森林防火指挥部关于加强冬春季森林防火工作的通知",
         "source_org": "深圳市森林防火指挥部", "source_number": "深森防〔2026〕7号",
         "doc_type": "通知", "copies": 1}


@pytest.fixture
def shipped(db_url: str, tmp_path, manual_clock, request: pytest.FixtureRequest):
    from test_webui_staff import make_seeded_sqlite, shipped_docroute

    seeded = make_seeded_sqlite(tmp_path / "seed") if db_url.startswith("sqlite") else None
    docroute = shipped_docroute(db_url, tmp_path / "home", seeded)
    yield docroute
    docroute.engine.dispose()


def _clerk(docroute: Docroute) -> Actor:
    with docroute.session() as s:
        return identity.Actor.of(identity.get_user(s, "zhangli"))


def _register(docroute: Docroute, clerk: Actor, fields: dict, receipt: str) -> int:
    with docroute.session() as s:
        document = documents.create_document(s, clerk, "incoming", fields)
        runtime.start_case(s, clerk, "incoming_document", document_id=document.id)
        # What 登记 writes: the receipt number, in the document's fields.
        document.fields = {**document.fields, "receipt_number": receipt}
        return document.id


QUERIES = [
    ("深鹏办收〔2026〕4号", True), ("深鹏办收[2026]4号", True), ("深鹏办收(2026)4号", True),
    ("深鹏办收 2026 4号", True), ("粤应急〔2026〕88号", True), ("粤应急[2026]88号", True),
    ("粤应急", True), ("汛期安全检查", True), ("危化品企业", True), ("广东省应急管理厅", True),
    ("深鹏办收〔2026〕5号", False), ("粤应急〔2025〕88号", False), ("100%", False),
]


@pytest.mark.parametrize(("query", "found"), QUERIES)
def test_engine_finds_numbers_titles_and_summaries(shipped: Docroute, query: str,
                                                   found: bool) -> None:
    clerk = _clerk(shipped)
    wanted = _register(shipped, clerk, INCOMING, "深鹏办收〔2026〕4号")
    other = _register(shipped, clerk, OTHER, "深鹏办收〔2026〕5号")
    with shipped.session() as s:
        listed = [d.id for d in documents.list_documents(s, clerk, Search(q=query))]
        tasks = {t.document_id for t in list_tasks(s, clerk, InboxFilter(search=query))}
    assert (wanted in listed) is found and (wanted in tasks) is found
    assert other not in listed or "5号" in query


def test_search_text_follows_updates_and_brackets(shipped: Docroute) -> None:
    clerk = _clerk(shipped)
    doc_id = _register(shipped, clerk, INCOMING, "深鹏办收〔2026〕4号")
    with shipped.session() as s:
        document = s.get(Document, doc_id)
        assert "深鹏办收20264号" in document.search_text
        document.title = "关于台风“海鸥”防御工作的紧急通知"
    with shipped.session() as s:
        assert [d.id for d in documents.list_documents(s, clerk, Search(q="海鸥"))] == [doc_id]
        assert documents.list_documents(s, clerk, Search(q="汛期安全检查")) == []


def test_search_is_served_by_an_index(shipped: Docroute) -> None:
    clerk = _clerk(shipped)
    _register(shipped, clerk, INCOMING, "深鹏办收〔2026〕4号")
    with shipped.session() as s:
        if s.get_bind().dialect.name == "sqlite":
            rows = s.execute(text("SELECT rowid FROM document_search "
                                  "WHERE search_text LIKE '%粤应急%'")).all()
            plan = s.execute(text("EXPLAIN QUERY PLAN SELECT rowid FROM document_search "
                                  "WHERE search_text LIKE '%粤应急%'")).all()
            assert len(rows) == 1 and "VIRTUAL TABLE INDEX" in str(plan)
        else:
            s.execute(text("SET LOCAL enable_seqscan = off"))
            query = search.matching_documents(s, "粤应急")
            compiled = query.compile(s.get_bind(), compile_kwargs={"literal_binds": True})
            plan = s.execute(text(f"EXPLAIN {compiled}")).scalars().all()
            assert "ix_documents_search_trgm" in " ".join(plan)


def _app(docroute: Docroute) -> Flask:
    from test_webui_staff import make_app

    return make_app(docroute)


@pytest.mark.parametrize("query", ["深鹏办收〔2026〕4号", "粤应急[2026]88号", "粤应急"])
def test_pages_and_api_use_the_same_search(shipped: Docroute, query: str) -> None:
    from test_webui_staff import login

    clerk = _clerk(shipped)
    _register(shipped, clerk, INCOMING, "深鹏办收〔2026〕4号")
    _register(shipped, clerk, OTHER, "深鹏办收〔2026〕5号")
    app = _app(shipped)
    client = login(app, "zhangli")
    for path in ("/documents", "/"):
        page = client.get(path, query_string={"q": query}).data.decode()
        assert INCOMING["title"] in page and OTHER["title"] not in page, path
    with shipped.session() as s:
        token = identity.create_token(s, "zhangli")
    answer = client.get("/api/v1/documents", query_string={"q": query},
                        headers={"Authorization": f"Bearer {token}"}).get_json()
    assert [d["title"] for d in answer] == [INCOMING["title"]]


def test_documents_list_has_the_registry_columns(shipped: Docroute) -> None:
    from test_webui_staff import login

    clerk = _clerk(shipped)
    _register(shipped, clerk, INCOMING, "深鹏办收〔2026〕4号")
    page = login(_app(shipped), "zhangli").get("/documents").data.decode()
    row = page.split('<tr class="docrow">')[1].split("</tr>")[0]
    for shown in ("深鹏办收〔2026〕4号", INCOMING["title"], "广东省应急管理厅", "签收", "收发员"):
        assert shown in row, shown
    assert "文号、标题或摘要" in page
