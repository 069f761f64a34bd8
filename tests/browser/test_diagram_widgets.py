"""The bpmn-js widgets (webui/static/vendor/docroute-*.js) in a real Chromium.

A static test page is written to a temporary folder and served, together with the built
bundles, by a local http.server that also fakes the modeler's save endpoint. Each test
fails on any console error or uncaught exception in the page, and leaves a screenshot in
/tmp/widgets-*.png.

Build the bundles first: ``scripts/build-frontend.sh``.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "webui" / "static" / "vendor"
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not (VENDOR / "docroute-viewer.js").is_file(),
        reason="frontend not built: run scripts/build-frontend.sh",
    ),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed"),
]

# Content-Security-Policy as the Flask pages may send it. The viewer needs nothing inline:
# bpmn-js sets styles through the CSSOM (allowed) and the bpmn.io logo is a data: URL.
# The modeler's properties panel writes style="" attributes, and its code editors add one
# <style> element, which carries the nonce given to DocrouteModeler.mount().
NONCE = "dGVzdC1ub25jZQ"
CSP_COMMON = (
    "default-src 'self'; script-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; "
)
CSP_VIEWER = CSP_COMMON + "style-src 'self'"
CSP_MODELER = (
    CSP_COMMON
    + f"style-src 'self'; style-src-elem 'self' 'nonce-{NONCE}'; style-src-attr 'unsafe-inline'"
)

# Small process with DI and Chinese labels: register -> review -> (approve | return) ...
OLD_XML = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
    id="Definitions_1" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="incoming_test" name="收文办理（测试）" isExecutable="true">
    <bpmn:startEvent id="start" name="收到来文">
      <bpmn:outgoing>f_start_register</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="register" name="收文登记" camunda:formKey="incoming_register"
        camunda:candidateGroups="general_office_clerks">
      <bpmn:incoming>f_start_register</bpmn:incoming>
      <bpmn:incoming>f_return</bpmn:incoming>
      <bpmn:outgoing>f_register_review</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:userTask id="review" name="领导审核" camunda:assignee="${leader}">
      <bpmn:incoming>f_register_review</bpmn:incoming>
      <bpmn:outgoing>f_review_gw</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:exclusiveGateway id="gw" name="是否同意？">
      <bpmn:incoming>f_review_gw</bpmn:incoming>
      <bpmn:outgoing>f_approve</bpmn:outgoing>
      <bpmn:outgoing>f_return</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:endEvent id="end" name="办结">
      <bpmn:incoming>f_approve</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="f_start_register" sourceRef="start" targetRef="register" />
    <bpmn:sequenceFlow id="f_register_review" sourceRef="register" targetRef="review" />
    <bpmn:sequenceFlow id="f_review_gw" sourceRef="review" targetRef="gw" />
    <bpmn:sequenceFlow id="f_approve" name="同意" sourceRef="gw" targetRef="end">
      <bpmn:conditionExpression>decision == "approve"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_return" name="退回" sourceRef="gw" targetRef="register">
      <bpmn:conditionExpression>decision == "return"</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_1">
    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="incoming_test">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start">
        <dc:Bounds x="152" y="102" width="36" height="36" />
        <bpmndi:BPMNLabel><dc:Bounds x="146" y="145" width="48" height="14" /></bpmndi:BPMNLabel>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="register_di" bpmnElement="register">
        <dc:Bounds x="240" y="80" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="review_di" bpmnElement="review">
        <dc:Bounds x="400" y="80" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="gw_di" bpmnElement="gw" isMarkerVisible="true">
        <dc:Bounds x="555" y="95" width="50" height="50" />
        <bpmndi:BPMNLabel><dc:Bounds x="552" y="71" width="56" height="14" /></bpmndi:BPMNLabel>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_di" bpmnElement="end">
        <dc:Bounds x="662" y="102" width="36" height="36" />
        <bpmndi:BPMNLabel><dc:Bounds x="669" y="145" width="22" height="14" /></bpmndi:BPMNLabel>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="f_start_register_di" bpmnElement="f_start_register">
        <di:waypoint x="188" y="120" /><di:waypoint x="240" y="120" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f_register_review_di" bpmnElement="f_register_review">
        <di:waypoint x="340" y="120" /><di:waypoint x="400" y="120" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f_review_gw_di" bpmnElement="f_review_gw">
        <di:waypoint x="500" y="120" /><di:waypoint x="555" y="120" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f_approve_di" bpmnElement="f_approve">
        <di:waypoint x="605" y="120" /><di:waypoint x="662" y="120" />
        <bpmndi:BPMNLabel><dc:Bounds x="622" y="102" width="22" height="14" /></bpmndi:BPMNLabel>
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f_return_di" bpmnElement="f_return">
        <di:waypoint x="580" y="145" /><di:waypoint x="580" y="220" />
        <di:waypoint x="290" y="220" /><di:waypoint x="290" y="160" />
        <bpmndi:BPMNLabel><dc:Bounds x="424" y="202" width="22" height="14" /></bpmndi:BPMNLabel>
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""

# New version: a task 拟办 inserted between 登记 and 审核, the review task renamed, the
# approve condition changed, and a timer boundary event on the review task.
NEW_XML = (
    OLD_XML.replace(
        "<bpmn:outgoing>f_register_review</bpmn:outgoing>\n    </bpmn:userTask>",
        "<bpmn:outgoing>f_register_propose</bpmn:outgoing>\n    </bpmn:userTask>\n"
        '    <bpmn:userTask id="propose" name="拟办意见" camunda:formKey="incoming_propose">\n'
        "      <bpmn:incoming>f_register_propose</bpmn:incoming>\n"
        "      <bpmn:outgoing>f_propose_review</bpmn:outgoing>\n"
        "    </bpmn:userTask>\n"
        '    <bpmn:boundaryEvent id="review_timer" name="超期" attachedToRef="review">\n'
        "      <bpmn:timerEventDefinition><bpmn:timeDuration>P3D</bpmn:timeDuration>"
        "</bpmn:timerEventDefinition>\n"
        "    </bpmn:boundaryEvent>",
    )
    .replace(
        "<bpmn:incoming>f_register_review</bpmn:incoming>",
        "<bpmn:incoming>f_propose_review</bpmn:incoming>",
    )
    .replace('name="领导审核"', 'name="分管领导审核"')
    .replace('decision == "approve"', 'decision in ("approve", "同意")')
    .replace(
        '<bpmn:sequenceFlow id="f_register_review" sourceRef="register" targetRef="review" />',
        '<bpmn:sequenceFlow id="f_register_propose" sourceRef="register" targetRef="propose" />\n'
        '    <bpmn:sequenceFlow id="f_propose_review" sourceRef="propose" targetRef="review" />',
    )
    .replace('<dc:Bounds x="400" y="80"', '<dc:Bounds x="520" y="80"')
    .replace('<dc:Bounds x="555" y="95"', '<dc:Bounds x="675" y="95"')
    .replace('<dc:Bounds x="552" y="71"', '<dc:Bounds x="672" y="71"')
    .replace('<dc:Bounds x="662" y="102"', '<dc:Bounds x="782" y="102"')
    .replace('<dc:Bounds x="669" y="145"', '<dc:Bounds x="789" y="145"')
    .replace('<dc:Bounds x="622" y="102"', '<dc:Bounds x="742" y="102"')
    .replace(
        """      <bpmndi:BPMNEdge id="f_register_review_di" bpmnElement="f_register_review">
        <di:waypoint x="340" y="120" /><di:waypoint x="400" y="120" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f_review_gw_di" bpmnElement="f_review_gw">
        <di:waypoint x="500" y="120" /><di:waypoint x="555" y="120" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f_approve_di" bpmnElement="f_approve">
        <di:waypoint x="605" y="120" /><di:waypoint x="662" y="120" />""",
        """      <bpmndi:BPMNShape id="propose_di" bpmnElement="propose">
        <dc:Bounds x="380" y="80" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="review_timer_di" bpmnElement="review_timer">
        <dc:Bounds x="582" y="62" width="36" height="36" />
        <bpmndi:BPMNLabel><dc:Bounds x="588" y="40" width="24" height="14" /></bpmndi:BPMNLabel>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="f_register_propose_di" bpmnElement="f_register_propose">
        <di:waypoint x="340" y="120" /><di:waypoint x="380" y="120" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f_propose_review_di" bpmnElement="f_propose_review">
        <di:waypoint x="480" y="120" /><di:waypoint x="520" y="120" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f_review_gw_di" bpmnElement="f_review_gw">
        <di:waypoint x="620" y="120" /><di:waypoint x="675" y="120" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f_approve_di" bpmnElement="f_approve">
        <di:waypoint x="725" y="120" /><di:waypoint x="782" y="120" />""",
    )
    .replace(
        '<di:waypoint x="580" y="145" /><di:waypoint x="580" y="220" />',
        '<di:waypoint x="700" y="145" /><di:waypoint x="700" y="220" />',
    )
)

PAGE = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>docroute widgets</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/vendor/docroute-{kind}.css">
<link rel="stylesheet" href="/test.css">
<script src="/vendor/docroute-{kind}.js"></script>
</head>
<body>
{body}
</body>
</html>
"""

BODIES = {
    "viewer": '<div id="canvas" class="pane"></div>',
    "diff": '<div class="row"><div id="left" class="half"></div><div id="right" class="half">'
    "</div></div>",
    "modeler": '<div class="row"><div id="canvas" class="pane wide"></div>'
    '<div id="panel" class="panel"></div></div>',
}

TEST_CSS = """
body { margin: 8px; font-family: "WenQuanYi Micro Hei", sans-serif; background: #fff; }
.pane { height: 360px; border: 1px solid #ccc; }
.row { display: flex; gap: 8px; }
.half { flex: 1; height: 360px; border: 1px solid #ccc; }
.wide { flex: 1; }
.panel { width: 300px; height: 480px; overflow: auto; border: 1px solid #ccc; }
"""

PROBLEMS = [
    {
        "file": "incoming_test.bpmn",
        "line": 13,
        "element": "review",
        "message": "表单 incoming_review 不存在 (form key not found)",
    },
    {"file": "incoming_test.bpmn", "line": 2, "element": "incoming_test", "message": "<b>x</b>"},
]


class _Handler(SimpleHTTPRequestHandler):
    """Static files, plus POST /save: 422 with PROBLEMS, or 200 once `accept` is set."""

    posts: ClassVar[list[dict[str, Any]]] = []
    accept: ClassVar[bool] = False

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def end_headers(self) -> None:
        csp = CSP_MODELER if self.path.startswith("/modeler") else CSP_VIEWER
        self.send_header("Content-Security-Policy", csp)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        self.posts.append(
            {
                "path": self.path,
                "csrf": self.headers.get("X-CSRFToken"),
                "content_type": self.headers.get("Content-Type"),
                "body": body,
            }
        )
        if self.accept:
            status, answer = (
                200,
                {"deployed": [{"key": "incoming_test", "version": 2, "status": "deployed"}]},
            )
        else:
            status, answer = 422, {"problems": PROBLEMS}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("widgets")
    (root / "vendor").symlink_to(VENDOR, target_is_directory=True)
    (root / "test.css").write_text(TEST_CSS, encoding="utf-8")
    for name, body in BODIES.items():
        kind = "modeler" if name == "modeler" else "viewer"
        page = PAGE.replace("{kind}", kind).replace("{body}", body)
        (root / f"{name}.html").write_text(page, encoding="utf-8")

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 760})
    page = context.new_page()
    errors: list[str] = []

    def on_console(msg: ConsoleMessage) -> None:
        text, url = msg.text, msg.location.get("url", "")
        # Chromium logs every non-2xx fetch; the fake endpoint's 422 is expected
        if msg.type == "error" and not (url.endswith("/save") and "status of 422" in text):
            errors.append(f"{text} ({url})")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
    yield page
    context.close()
    assert errors == [], f"errors in the page: {errors}"


def markers(page: Page, selector: str = "#canvas") -> dict[str, list[str]]:
    """Element ids carrying each dr-* marker class."""
    return page.evaluate(
        """(selector) => {
            const out = {};
            for (const g of document.querySelectorAll(selector + ' .djs-element')) {
                for (const c of g.classList) {
                    if (c.startsWith('dr-')) {
                        (out[c] = out[c] || []).push(g.dataset.elementId);
                    }
                }
            }
            for (const k in out) out[k].sort();
            return out;
        }""",
        selector,
    )


def test_viewer_renders_and_update_moves_markers(site: str, page: Page) -> None:
    page.goto(f"{site}/viewer.html")
    warnings = page.evaluate(
        """async (xml) => {
            window.handle = DocrouteViewer.mount(document.getElementById('canvas'), {
                xml, completed: ['start', 'register'], active: ['review'],
                path: ['f_start_register', 'f_register_review']
            });
            const { warnings } = await window.handle.ready;
            return warnings.map(String);
        }""",
        OLD_XML,
    )
    assert warnings == []
    assert page.locator("#canvas .djs-element").count() > 10
    assert page.get_by_text("收文登记").count() == 1
    assert markers(page) == {
        "dr-completed": ["register", "start"],
        "dr-active": ["review"],
        "dr-taken": ["f_register_review", "f_start_register"],
    }
    # the diagram is fitted into the container: the whole process is visible
    box = page.evaluate(
        """() => {
            const c = document.getElementById('canvas').getBoundingClientRect();
            const d = document.querySelector('#canvas .viewport').getBoundingClientRect();
            return [d.left >= c.left, d.right <= c.right, d.top >= c.top, d.bottom <= c.bottom];
        }"""
    )
    assert box == [True, True, True, True]
    page.screenshot(path="/tmp/widgets-viewer-step1.png")

    # a replay slider: many updates, the SVG is patched, never re-imported
    elapsed = page.evaluate(
        """() => {
            const svg = document.querySelector('#canvas svg');
            svg.dataset.sentinel = 'kept';
            const t0 = performance.now();
            for (let i = 0; i < 200; i++) {
                handle.update(i % 2
                    ? {completed: ['start'], active: ['register'], path: ['f_start_register']}
                    : {completed: ['start', 'register', 'review'], active: ['gw']});
            }
            handle.update({
                completed: ['start', 'register', 'review', 'gw'], active: ['register'],
                path: ['f_start_register', 'f_register_review', 'f_review_gw', 'f_return'],
                incidents: ['register', 'no_such_element']
            });
            const ms = performance.now() - t0;
            if (document.querySelector('#canvas svg').dataset.sentinel !== 'kept') {
                throw new Error('diagram was re-rendered');
            }
            return ms;
        }"""
    )
    assert elapsed < 1000
    assert markers(page) == {
        "dr-completed": ["gw", "register", "review", "start"],
        "dr-active": ["register"],
        "dr-incident": ["register"],
        "dr-taken": ["f_register_review", "f_return", "f_review_gw", "f_start_register"],
    }
    # a missing key means "none"
    page.evaluate("() => handle.update({completed: ['start']})")
    assert markers(page) == {"dr-completed": ["start"]}
    page.evaluate(
        """() => handle.update({
            completed: ['start', 'register', 'review'], active: ['gw'], incidents: ['review'],
            path: ['f_start_register', 'f_register_review', 'f_review_gw']
        })"""
    )
    page.screenshot(path="/tmp/widgets-viewer.png")

    # printed: no animation, the markers stay
    page.emulate_media(media="print")
    animation = page.evaluate(
        "() => getComputedStyle(document.querySelector('.dr-active .djs-visual')).animationName"
    )
    assert animation == "none"
    page.screenshot(path="/tmp/widgets-viewer-print.png")
    page.emulate_media(media="screen")

    page.evaluate("() => handle.destroy()")
    assert page.locator("#canvas svg").count() == 0


def test_diff_reports_and_marks_changes(site: str, page: Page) -> None:
    page.goto(f"{site}/diff.html")
    changes = page.evaluate(
        """async ([oldXml, newXml]) => {
            window.diff = await DocrouteViewer.mountDiff(
                document.getElementById('left'), document.getElementById('right'),
                { oldXml, newXml });
            return diff.changes;
        }""",
        [OLD_XML, NEW_XML],
    )
    page.screenshot(path="/tmp/widgets-diff.png")
    by_id = {c["id"]: c for c in changes}
    assert by_id["propose"] == {
        "id": "propose",
        "kind": "added",
        "type": "bpmn:UserTask",
        "name": "拟办意见",
        "details": [],
    }
    assert by_id["review_timer"]["kind"] == "added"
    assert by_id["f_register_review"]["kind"] == "removed"
    assert by_id["review"]["kind"] == "changed"
    assert by_id["review"]["details"] == ['name: "领导审核" → "分管领导审核"']
    assert by_id["f_approve"]["details"] == [
        'conditionExpression: "decision == \\"approve\\"" → '
        '"decision in (\\"approve\\", \\"同意\\")"'
    ]
    # only moved, not changed
    assert "gw" not in by_id
    assert "end" not in by_id
    assert {c["id"] for c in changes} == {
        "propose",
        "review_timer",
        "f_register_propose",
        "f_propose_review",
        "f_register_review",
        "review",
        "f_approve",
    }

    right = markers(page, "#right")
    left = markers(page, "#left")
    assert "propose" in right["dr-added"]
    assert "review_timer" in right["dr-added"]
    assert "propose" not in str(left)
    assert left["dr-removed"] == ["f_register_review"]
    assert "review" in left["dr-changed"]
    assert "review" in right["dr-changed"]

    # panning one side pans the other
    synced = page.evaluate(
        """() => {
            const l = diff.left.get('canvas'), r = diff.right.get('canvas');
            r.scroll({dx: -40, dy: 25});
            r.zoom(0.8);
            const a = l.viewbox(), b = r.viewbox();
            return [a.scale === b.scale, Math.abs(a.x - b.x) < 0.01, Math.abs(a.y - b.y) < 0.01];
        }"""
    )
    assert synced == [True, True, True]

    # timers, scripts, Camunda attributes and extension elements are compared too
    newer = (
        NEW_XML.replace("P3D", "P5D")
        .replace('camunda:formKey="incoming_propose"', 'camunda:formKey="incoming_propose_v2"')
        .replace(
            'camunda:assignee="${leader}">',
            'camunda:assignee="${leader}"><bpmn:extensionElements><camunda:properties>'
            '<camunda:property name="x" value="1" /></camunda:properties>'
            "</bpmn:extensionElements>",
        )
    )
    details = page.evaluate(
        """async ([oldXml, newXml]) => {
            const a = document.createElement('div'), b = document.createElement('div');
            a.style.height = b.style.height = '200px';
            document.body.append(a, b);
            const d = await DocrouteViewer.mountDiff(a, b, { oldXml, newXml });
            d.destroy();
            a.remove();
            b.remove();
            return Object.fromEntries(d.changes.map(c => [c.id, [c.kind, ...c.details]]));
        }""",
        [NEW_XML, newer],
    )
    assert details == {
        "review_timer": ["changed", 'event[0].timeDuration: "P3D" → "P5D"'],
        "propose": [
            "changed",
            'camunda:formKey: "incoming_propose" → "incoming_propose_v2"',
        ],
        "review": ["changed", "extensionElements added"],
    }


def test_modeler_save_marks_problems(site: str, page: Page) -> None:
    _Handler.posts.clear()
    _Handler.accept = False
    page.goto(f"{site}/modeler.html")
    page.evaluate(
        """async ([xml, site, nonce]) => {
            window.results = [];
            window.ed = DocrouteModeler.mount(
                document.getElementById('canvas'), document.getElementById('panel'),
                { xml, saveUrl: site + '/save', csrfToken: 'tok-123', cspNonce: nonce,
                  onResult: (r) => results.push(r) });
            await ed.ready;
        }""",
        [OLD_XML, site, NONCE],
    )
    # the properties panel shows Camunda's user task properties for a selected task
    page.evaluate(
        "() => ed.modeler.get('selection')"
        ".select(ed.modeler.get('elementRegistry').get('register'))"
    )
    panel = page.locator("#panel")
    panel.get_by_text("User assignment").first.wait_for()
    panel.get_by_text("Forms").first.wait_for()

    result = page.evaluate("() => ed.save()")
    assert result == {"ok": False, "status": 422, "problems": PROBLEMS}
    assert page.evaluate("() => results") == [result]

    post = _Handler.posts[-1]
    assert post["csrf"] == "tok-123"
    assert post["content_type"] == "application/json"
    assert post["body"]["filename"] == "incoming_test.bpmn"
    assert 'camunda:formKey="incoming_register"' in post["body"]["xml"]
    assert "收文登记" in post["body"]["xml"]

    assert markers(page) == {"dr-problem": ["review"]}
    overlay = page.locator(".djs-overlay .dr-problem-overlay")
    assert overlay.count() == 1
    assert overlay.inner_text() == PROBLEMS[0]["message"]
    items = page.locator(".dr-problems li")
    assert items.count() == 2
    assert items.nth(0).inner_text() == (
        "incoming_test.bpmn:13: review: 表单 incoming_review 不存在 (form key not found)"
    )
    # server text is shown as text, never as HTML; the process itself is listed, not marked
    assert items.nth(1).inner_text() == "incoming_test.bpmn:2: incoming_test: <b>x</b>"
    assert page.locator(".dr-problems b").count() == 0

    # clicking a problem selects its element, and the properties panel shows it
    items.nth(0).locator("button").click()
    selected = page.evaluate("() => ed.modeler.get('selection').get().map(e => e.id)")
    assert selected == ["review"]
    header = panel.locator(".bio-properties-panel-header-label")
    header.filter(has_text="领导审核").wait_for()
    panel.get_by_text("User assignment").first.click()
    assignee = panel.locator("[name='assignee']")
    assert assignee.input_value() == "${leader}"
    assert panel.locator("[name='candidateGroups']").count() == 1
    page.screenshot(path="/tmp/widgets-modeler.png")

    # the same 422 again: cleared first, so marked once, not twice
    page.evaluate("() => ed.save()")
    assert markers(page) == {"dr-problem": ["review"]}
    assert page.locator(".dr-problem-overlay").count() == 1

    # the next successful save clears the marks and reports what was deployed
    _Handler.accept = True
    result = page.evaluate("() => ed.save()")
    assert result == {
        "ok": True,
        "status": 200,
        "deployed": [{"key": "incoming_test", "version": 2, "status": "deployed"}],
    }
    assert markers(page) == {}
    assert page.locator(".dr-problem-overlay").count() == 0
    assert page.locator(".dr-problems").is_hidden()


def test_modeler_new_diagram_and_xml_round_trip(site: str, page: Page) -> None:
    page.goto(f"{site}/modeler.html")
    xml = page.evaluate(
        """async ([site, nonce]) => {
            const ed = DocrouteModeler.mount(
                document.getElementById('canvas'), document.getElementById('panel'),
                { saveUrl: site + '/save', csrfToken: 't', cspNonce: nonce });
            await ed.ready;
            await ed.newDiagram('new_duty', '新职责 "A&B"');
            return await ed.getXml();
        }""",
        [site, NONCE],
    )
    assert '<bpmn:process id="new_duty" name="新职责 &#34;A&#38;B&#34;" isExecutable="true">' in xml
    assert 'bpmnElement="StartEvent_1"' in xml
    page.screenshot(path="/tmp/widgets-modeler-new.png")
