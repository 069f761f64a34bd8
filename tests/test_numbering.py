"""Document numbers: format, gapless allocation under concurrency, voiding, year rollover."""

from __future__ import annotations

import itertools
import multiprocessing
from datetime import UTC, datetime
from typing import Any

import pytest

from engine import Conflict, Docroute, NotFound, db
from engine.clock import ManualClock, set_default_clock
from engine.models import NumberLog
from engine.org.identity import Actor
from engine.registry import documents, numbering

PROCESSES, PER_PROCESS = 4, 50


def test_format_and_regex() -> None:
    assert numbering.format_number("深鹏办", 2026, 12) == "深鹏办〔2026〕12号"
    assert numbering.is_doc_number("深鹏公复〔2026〕8号")
    for bad in ("深鹏办〔2026〕012号", "深鹏办[2026]12号", "深鹏办〔26〕12号", "第12号",
                "深鹏办〔2026〕第12号", "SP〔2026〕1号"):
        assert not numbering.is_doc_number(bad), bad
    parsed = numbering.parse_number("深鹏办函〔2026〕35号")
    assert parsed is not None and (parsed.prefix, parsed.year, parsed.serial) == ("深鹏办函",
                                                                                  2026, 35)


@pytest.mark.parametrize("prefix", ["", "SPB", "深鹏办1", "深鹏 办"])
def test_prefix_must_be_chinese(docroute: Docroute, prefix: str) -> None:
    with pytest.raises(numbering.NumberInvalid) as caught, docroute.session() as s:
        numbering.allocate(s, prefix, "clerk")
    assert str(caught.value) == ("文号代字只能是汉字 / a number prefix is 1 to 20 Chinese "
                                 f"characters (such as 深鹏办), not {prefix!r}")


def test_counters_are_per_prefix_and_year(docroute: Docroute, manual_clock: ManualClock) -> None:
    with docroute.session() as s:
        numbers = [numbering.allocate(s, p, "clerk").number
                   for p in ("深鹏办", "深鹏办", "深鹏办函", "深鹏办")]
    assert numbers == ["深鹏办〔2026〕1号", "深鹏办〔2026〕2号", "深鹏办函〔2026〕1号",
                       "深鹏办〔2026〕3号"]


def test_rolled_back_step_leaves_no_gap(docroute: Docroute) -> None:
    with pytest.raises(RuntimeError), docroute.session() as s:
        numbering.allocate(s, "深鹏办", "clerk")
        raise RuntimeError("the step failed after taking a number")
    with docroute.session() as s:
        assert numbering.allocate(s, "深鹏办", "clerk").serial == 1


def test_year_rollover_in_office_time(docroute: Docroute, manual_clock: ManualClock) -> None:
    # 23:30 on 31 December in Shanghai is still 2026; 00:10 on 1 January is 2027,
    # although UTC still says 31 December.
    manual_clock.set(datetime(2026, 12, 31, 15, 30, tzinfo=UTC))
    with docroute.session() as s:
        assert numbering.allocate(s, "深鹏办", "clerk").number == "深鹏办〔2026〕1号"
        assert numbering.allocate(s, "深鹏办", "clerk").number == "深鹏办〔2026〕2号"
    manual_clock.set(datetime(2026, 12, 31, 16, 10, tzinfo=UTC))
    with docroute.session() as s:
        assert numbering.allocate(s, "深鹏办", "clerk").number == "深鹏办〔2027〕1号"
        assert [e.serial for e in numbering.log_for(s, "深鹏办", 2026)] == [1, 2]


def test_voided_numbers_are_logged_and_never_reused(docroute: Docroute,
                                                    people: dict[str, Actor]) -> None:
    with docroute.session() as s:
        doc = documents.create_document(s, people["clerk"], "outgoing", {
            "title": "关于加强民宿消防安全管理的通知", "doc_type": "通知"})
        first = numbering.allocate(s, "深鹏办", "clerk", document_id=doc.id)
        doc.doc_number = first.number
        doc_id = doc.id
    with docroute.session() as s:
        entry = numbering.void_number(s, first.number, "套红时发现标题错误", "wujing")
        assert (entry.status, entry.reason, entry.actor) == ("void", "套红时发现标题错误", "wujing")
    with docroute.session() as s:
        doc = documents.get_document(s, people["clerk"], doc_id)
        assert doc.doc_number is None
        assert doc.fields["voided_numbers"] == ["深鹏办〔2026〕1号"]
        assert numbering.allocate(s, "深鹏办", "clerk").number == "深鹏办〔2026〕2号"
        log = [(e.serial, e.status) for e in numbering.log_for(s, "深鹏办", 2026)]
    assert log == [(1, "void"), (2, "used")]
    with pytest.raises(Conflict), docroute.session() as s:
        numbering.void_number(s, first.number, "again", "wujing")
    with pytest.raises(NotFound), docroute.session() as s:
        numbering.void_number(s, "深鹏办〔2026〕99号", "never taken", "wujing")
    with pytest.raises(numbering.NumberInvalid), docroute.session() as s:
        numbering.void_number(s, "深鹏办〔2026〕2号", "  ", "wujing")


def _allocate_many(url: str, worker: int, count: int, barrier: Any) -> list[str]:
    # Runs in a separate OS process: its own engine, its own connections, its own clock.
    set_default_clock(ManualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC)))
    engine = db.make_engine(url)
    sessions = db.make_sessionmaker(engine)
    with engine.connect():
        pass
    barrier.wait(timeout=120)  # start together, so the allocations really contend
    numbers = []
    try:
        for _ in range(count):
            with db.unit_of_work(sessions) as s:
                numbers.append(numbering.allocate(s, "深鹏办", f"worker{worker}").number)
    finally:
        engine.dispose()
    return numbers


def test_concurrent_allocation_from_processes(docroute: Docroute) -> None:
    url = docroute.settings.db_url
    docroute.engine.dispose()
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(PROCESSES) as pool:
        barrier = manager.Barrier(PROCESSES)
        results = pool.starmap(_allocate_many,
                               [(url, w, PER_PROCESS, barrier) for w in range(PROCESSES)])
    numbers = [n for batch in results for n in batch]
    total = PROCESSES * PER_PROCESS
    assert len(numbers) == len(set(numbers)) == total
    with docroute.session() as s:
        log = numbering.log_for(s, "深鹏办", 2026)
        serials = [e.serial for e in log]
        logged = s.query(NumberLog).count()
    if url.startswith("postgresql"):
        # The workers took turns (row lock), not one block each. SQLite's busy handler
        # sleeps and lets the holder write again, so there the blocks are expected.
        switches = sum(1 for a, b in itertools.pairwise(log) if a.actor != b.actor)
        assert switches > PROCESSES
    assert serials == list(range(1, total + 1))
    assert logged == total
    assert sorted(numbering.parse_number(n).serial for n in numbers) == serials
