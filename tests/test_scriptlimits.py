"""Size limits on single C-level calls in diagram scripts (issue 12 item 8), and the script
time limit taken from the settings."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from engine import Docroute, ScriptError, Settings, runtime
from engine.definitions import SourceFile
from engine.definitions.scripting import RestrictedEnvironment, check_script
from engine.models import Instance

# Generous, so a loaded machine never turns a refusal into a time-out; the message
# tells which of the two stopped the script.
ENV = RestrictedEnvironment(timeout_seconds=2)


def run(script: str, **data: Any) -> dict[str, Any]:
    context = dict(data)
    ENV.execute(script, context)
    return context


@pytest.mark.parametrize("script", [
    "x = math.factorial(1000000)",
    "x = math.comb(10**6, 5 * 10**5)",
    "x = math.perm(10**6)",
    "x = math.prod(range(1, 10**6))",
    "x = math.lcm(*range(1, 10**5))",
    "x = 'x'.zfill(30000000)",
    "x = 'x'.ljust(30000000)",
    "x = 'x'.rjust(30000000, '-')",
    "x = 'x'.center(30000000)",
    "x = ('\\t' * 1000).expandtabs(10**6)",
    "x = 'x'.encode().zfill(30000000)",
    "x = 'x'.encode().center(30000000)",
    "x = ('x' * 999999).join(['a'] * 1000)",
    "x = ('a' * 1000).replace('a', 'b' * 10000)",
    "x = (1).to_bytes(10**9, 'big')",
    "x = pow(3, 10**7)",
    "x = pow(3, 10**100, 7**10**4)",
    "x = 3 ** 10**7",
    "x = 1 << 10**9",
    "x = 2**4096\nfor i in range(40):\n    x = x * x",
    "x = '%1000000000d' % 1",
    "x = b'%1000000000d' % 1",
    "x = '%*d' % (10**9, 1)",
    "a = [1]\nfor i in range(40):\n    a = a + a",
    "a = 'ab'\nfor i in range(40):\n    a += a",
    "a = [1]\nfor i in range(40):\n    a.extend(a)",
    "x = sum([[0] * 1000] * 1000, [])",
    "big = 'x' * 999999\nx = str([big] * 1000)",
    "big = 'x' * 999999\nx = repr({'a': [big] * 1000})",
    "big = 'x' * 999999\nx = f'{[big] * 1000}'",
    "big = 'x' * 999999\nx = '%s' % ([big] * 1000,)",
    "big = 'x' * 999999\nx = sorted([big] * 1000)",
    "big = 'x' * 999999\nx = max([big] * 1000)",
    "big = 'x' * 999999\nx = min(big, big, big, big, big, big, big, big, big, big, big)",
])
def test_unbounded_c_calls_refused_quickly(script: str) -> None:
    started = time.monotonic()
    with pytest.raises(ScriptError, match=r"too large|numbers only"):
        run(script)
    assert time.monotonic() - started < 2  # refused, not stopped by the time limit


@pytest.mark.parametrize("script", [
    "x = str.zfill('x', 30000000)",
    "x = str.center('x', 30000000)",
    "x = 'x'.translate({120: 'y' * 10**6})",
])
def test_unbound_and_unboundable_methods_refused(script: str) -> None:
    with pytest.raises(ScriptError, match="not available"):
        run(script)


@pytest.mark.parametrize("script", [
    "x = f'{1:>1000000000}'",
    "w = 10**9\nx = f'{1:>{w}}'",
])
def test_fstring_widths_refused_at_deploy(script: str) -> None:
    assert check_script(script) is not None


def test_int_from_a_huge_text_refused() -> None:
    with pytest.raises(ValueError, match="limit"):
        run("x = int('9' * 100000)")


def test_ordinary_uses_still_work() -> None:
    out = run(
        "a = math.factorial(20)\n"
        "b = math.comb(10, 3) + math.perm(5, 2)\n"
        "c = 'x'.zfill(5) + '7'.rjust(3, '0') + 'm'.center(3)\n"
        "d = '-'.join(['a', 'b']) + 'a\\tb'.expandtabs(4) + 'aa'.replace('a', 'bb')\n"
        "e = f'{3.14159:.2f}|{7:>4}' + '%05d' % 42\n"
        "f = sum([1, 2, 3]) + sum([0.5, 0.5]) + math.prod([2, 3]) + math.lcm(4, 6)\n"
        "g = [1, 2] + [3]\n"
        "g.extend([4])\n"
        "h = 2 ** 100 + (1 << 10) + pow(2, 10, 1000) + round(math.sqrt(16))\n"
        "i = (258).to_bytes(2, 'big')\n"
        "j = str([1, 'a']) + repr({'k': 1}) + f'{[1, 2]}' + str(sorted([3, 1])) + str(max(1, 2))\n"
    )
    assert out["a"] == 2432902008176640000
    assert out["b"] == 140
    assert out["c"] == "0000x007 m "
    assert out["d"] == "a-ba   bbbbb"
    assert out["e"] == "3.14|   700042"
    assert out["f"] == 6 + 1.0 + 6 + 12
    assert out["g"] == [1, 2, 3, 4]
    assert out["h"] == 2**100 + 1024 + 24 + 4
    assert out["i"] == b"\x01\x02"
    assert out["j"] == "[1, 'a']{'k': 1}[1, 2][1, 3]2"


LOOPING = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  id="defs" targetNamespace="http://docroute.example/test">
  <bpmn:process id="looping" name="Looping" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="spin"/>
    <bpmn:scriptTask id="spin" name="Spin">
      <bpmn:script>x = 0
while True:
    x += 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="spin" targetRef="end"/>
    <bpmn:endEvent id="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_time_limit_comes_from_settings(settings: Settings, people: dict) -> None:
    app = Docroute(replace(settings, script_timeout_seconds=0.2))
    try:
        with app.session() as s:
            app.deploy(s, [SourceFile("looping.bpmn", LOOPING)], actor="test")
        started = time.monotonic()
        with app.session() as s:
            case_id = runtime.start_case(s, people["admin"], "looping", {}).id
        assert time.monotonic() - started < 1.5
        with app.session() as s:
            instance = s.get(Instance, case_id)
            assert instance is not None and instance.status == "error"
            assert "0.2 s" in (instance.incident or "")
    finally:
        Docroute(replace(settings, script_timeout_seconds=2.0)).engine.dispose()
        app.engine.dispose()


def test_settings_read_the_script_timeout() -> None:
    assert Settings.from_env({"DOCROUTE_SCRIPT_TIMEOUT_SECONDS": "0.5"}).script_timeout_seconds \
        == 0.5
    with pytest.raises(ValueError, match="DOCROUTE_SCRIPT_TIMEOUT_SECONDS"):
        Settings.from_env({"DOCROUTE_SCRIPT_TIMEOUT_SECONDS": "soon"})
