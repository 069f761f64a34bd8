"""Saving an unchanged diagram from the modeler deploys nothing (issue 15 item 11).

The modeler re-serialises what it loaded, so the bytes differ while the process and its
drawing do not; only a real change to either makes a new version.
"""

from __future__ import annotations

import re
from pathlib import Path

from engine import Docroute
from engine.definitions import SourceFile
from engine.definitions.diff import same_diagram

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]
REVIEW = (DATA / "workflows" / "review.bpmn").read_text()


def _reserialised(xml: str) -> str:
    """What a modeler writes back: another namespace prefix, other indentation."""
    return (xml.replace("bpmn:", "bpmn2:").replace("xmlns:bpmn=", "xmlns:bpmn2=")
            .replace("\n    ", "\n  "))


def _moved(xml: str) -> str:
    """The first shape drawn 40 pixels further right."""
    start = xml.index("Bounds")
    found = re.search(r'x="(\d+)"', xml[start:])
    assert found is not None
    moved = xml[start:].replace(found.group(0), f'x="{int(found.group(1)) + 40}"', 1)
    return xml[:start] + moved


def test_same_diagram_ignores_writing_not_content() -> None:
    seal = (ROOT / "workflows" / "seal_use.bpmn").read_text()
    assert same_diagram(REVIEW, _reserialised(REVIEW))
    assert not same_diagram(REVIEW, REVIEW.replace("summary = title", "summary = 'x' + title"))
    assert same_diagram(seal, seal) and not same_diagram(seal, _moved(seal))


def test_saving_an_unchanged_diagram_deploys_nothing(docroute: Docroute) -> None:
    with docroute.session() as s:
        docroute.deploy_forms(s, docroute.form_files(), actor="test")
        first = docroute.deploy(s, [SourceFile("review.bpmn", REVIEW.encode())], actor="test")
    with docroute.session() as s:
        again = docroute.deploy(s, [SourceFile("review.bpmn", _reserialised(REVIEW).encode())],
                                actor="test")
    with docroute.session() as s:
        changed = docroute.deploy(s, [SourceFile("review.bpmn", REVIEW.replace(
            "summary = title", "summary = 'v2: ' + title").encode())], actor="test")
    assert [str(r) for r in first + again + changed] == [
        "deployed review v1", "unchanged review v1", "deployed review v2"]
