"""The restricted environment that runs diagrams' scripts and expressions.

Diagrams are data uploaded by administrators, so SpiffWorkflow's default script engine
(plain ``eval``/``exec`` with full builtins: remote code execution) is never used.
Every script, condition, timer, multi-instance and assignment expression is compiled by
RestrictedPython (no imports, no dunder or private attribute access, guarded writes and
iteration) and runs with a bounded time and a small library of helpers.

``check_script`` and ``check_expression`` are used at deploy time, so a diagram that tries
more is refused before it is stored.
"""

from __future__ import annotations

import ast
import json
import math
import sys
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import lru_cache
from types import CodeType, FrameType
from typing import Any

from RestrictedPython import (
    RestrictingNodeTransformer,
    compile_restricted_eval,
    compile_restricted_exec,
)
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
)
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment

from engine import clock
from engine.errors import DocrouteError, ScriptError

from . import scriptlimits

SCRIPT_FILENAME = "<diagram script>"
# Builtins a diagram must never name: refused at deploy time with a clear reason (at run
# time they are simply absent from the namespace, so a script fails with a NameError).
FORBIDDEN_NAMES = frozenset({
    "open", "eval", "exec", "compile", "getattr", "setattr", "delattr", "globals", "locals",
    "vars", "input", "breakpoint", "help", "exit", "quit", "memoryview", "dir",
})


class ScriptTimeout(ScriptError):
    pass


# ``str`` is also a type scripts test with isinstance(), so it cannot be replaced in the
# builtins like repr, sorted, min and max are: its calls are routed through a size check.
_CALL_GUARDS = {"str": "_str_"}
_OPERATOR_GUARDS = {ast.Add: "_add_", ast.Mult: "_mul_", ast.Pow: "_pow_",
                    ast.LShift: "_lshift_", ast.Mod: "_mod_"}


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's rules, plus the operators that can grow a value through size
    guards (engine/scriptlimits.py), and f-string widths checked at compile time."""

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        spec = node.format_spec
        if spec is not None:
            parts = spec.values if isinstance(spec, ast.JoinedStr) else [spec]
            if not all(isinstance(p, ast.Constant) for p in parts):
                self.error(node, "a format width must be written out, not computed")
            else:
                problem = scriptlimits.check_format_spec(
                    "".join(str(p.value) for p in parts if isinstance(p, ast.Constant)))
                if problem:
                    self.error(node, problem)
        node = self.node_contents_visit(node)
        # The printed size of the value is checked before it is formatted.
        node.value = ast.fix_missing_locations(ast.copy_location(ast.Call(
            func=ast.Name(id="_fmt_", ctx=ast.Load()), args=[node.value], keywords=[]),
            node.value))
        return node

    def visit_Call(self, node: ast.Call) -> ast.AST:
        visited: Any = super().visit_Call(node)  # RestrictedPython's own checks first
        node = visited
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in _CALL_GUARDS:
            node.func = ast.copy_location(
                ast.Name(id=_CALL_GUARDS[node.func.id], ctx=ast.Load()), node.func)
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        guard = _OPERATOR_GUARDS.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(func=ast.Name(id=guard, ctx=ast.Load()), args=[node.left, node.right],
                        keywords=[])
        return ast.fix_missing_locations(ast.copy_location(call, node))


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    operations: dict[str, Callable[[Any, Any], Any]] = {
        "+=": scriptlimits.add,
        "-=": lambda a, b: a - b,
        "*=": scriptlimits.mul,
        "**=": scriptlimits.power,
        "/=": lambda a, b: a / b,
        "//=": lambda a, b: a // b,
        "%=": scriptlimits.modulo,
        "|=": lambda a, b: a | b,
        "&=": lambda a, b: a & b,
    }
    if op not in operations:
        raise ScriptError(f"the operator {op} is not allowed in scripts")
    return operations[op](x, y)


def _builtins() -> dict[str, Any]:
    allowed = dict(safe_builtins)
    for name in ("setattr", "delattr", "__build_class__", "id", "hash"):
        allowed.pop(name, None)
    allowed.update(
        {
            "list": list, "dict": dict, "set": set, "tuple": tuple, "frozenset": frozenset,
            "sum": scriptlimits.safe_sum, "min": scriptlimits.safe_min,
            "max": scriptlimits.safe_max, "sorted": scriptlimits.safe_sorted,
            "repr": scriptlimits.safe_repr,
            "any": any, "all": all,
            "enumerate": enumerate, "zip": zip, "map": map, "filter": filter,
            "reversed": reversed, "len": len, "range": scriptlimits.bounded_range,
            "pow": scriptlimits.power,
        }
    )
    return allowed


_BUILTINS = _builtins()


def _guards() -> dict[str, Any]:
    return {
        "__builtins__": _BUILTINS,
        "_getattr_": scriptlimits.guarded_getattr,
        "_getitem_": default_guarded_getitem,
        "_getiter_": default_guarded_getiter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": full_write_guard,
        "_inplacevar_": _inplacevar,
        "_add_": scriptlimits.add,
        "_mul_": scriptlimits.mul,
        "_pow_": scriptlimits.power,
        "_lshift_": scriptlimits.lshift,
        "_mod_": scriptlimits.modulo,
        "_fmt_": scriptlimits.formatted,
        "_str_": scriptlimits.safe_str,
        "_print_": None,
        "_apply_": lambda f, *a, **kw: f(*a, **kw),
    }


GUARD_NAMES = frozenset(_guards())


_MATH = scriptlimits.math_module()


def _helpers() -> dict[str, Any]:
    """Functions every script may call: dates, working days, simple lookups."""
    from engine.deadlines import workcalendar  # imported late: it depends on the database layer

    helpers: dict[str, Any] = {
        "now": clock.now,
        "today": lambda: clock.now().astimezone(clock.OFFICE_TZ).date(),
        "date": date,
        "datetime": datetime,
        "timedelta": timedelta,
        "math": _MATH,
        "parse_date": lambda s: date.fromisoformat(str(s)[:10]),
        "parse_datetime": lambda s: datetime.fromisoformat(str(s)),
    }
    helpers.update(workcalendar.script_helpers())
    return helpers


@lru_cache(maxsize=4096)
def _compile_eval(expression: str) -> CodeType:
    result = compile_restricted_eval(expression, filename=SCRIPT_FILENAME, policy=_Policy)
    if result.errors or result.code is None:
        raise ScriptError("; ".join(result.errors) or "the expression does not compile")
    return result.code


@lru_cache(maxsize=4096)
def _compile_exec(script: str) -> CodeType:
    result = compile_restricted_exec(script, filename=SCRIPT_FILENAME, policy=_Policy)
    if result.errors or result.code is None:
        raise ScriptError("; ".join(result.errors) or "the script does not compile")
    return result.code


def _forbidden_name(source: str, mode: str) -> str | None:
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError:
        return None  # the sandbox's compiler reports it
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            return f"Line {node.lineno}: imports are not allowed in diagram scripts"
        if isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            return f"Line {node.lineno}: {node.id!r} is not available in diagram scripts"
    return None


def check_expression(expression: str) -> str | None:
    """Return why an expression is refused, or None when it compiles in the sandbox."""
    try:
        _compile_eval(expression.strip())
    except ScriptError as error:
        return str(error)
    return _forbidden_name(expression.strip(), "eval")


def check_script(script: str) -> str | None:
    """Return why a script is refused, or None when it compiles in the sandbox."""
    try:
        _compile_exec(script)
    except ScriptError as error:
        return str(error)
    return _forbidden_name(script, "exec")


class _Deadline:
    """Stops a diagram's code after a time limit, via a trace on its own frames only."""

    def __init__(self, seconds: float):
        self.until = time.monotonic() + seconds
        self.seconds = seconds

    def _local(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if time.monotonic() > self.until:
            raise ScriptTimeout(f"a script ran longer than {self.seconds:g} s and was stopped")
        return self._local

    def _global(self, frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        if frame.f_code.co_filename == SCRIPT_FILENAME:
            return self._local
        return None

    def run(self, fn: Callable[[], Any]) -> Any:
        previous = sys.gettrace()
        sys.settrace(self._global)
        try:
            return fn()
        finally:
            sys.settrace(previous)


def _to_json_value(value: Any) -> Any:
    # Timer definitions want ISO strings; a helper may hand back a date or datetime.
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


class RestrictedEnvironment(TaskDataEnvironment):
    """SpiffWorkflow script environment backed by RestrictedPython."""

    def __init__(self, timeout_seconds: float = 2.0):
        super().__init__({})
        self.timeout_seconds = timeout_seconds
        self._helpers: dict[str, Any] | None = None

    @property
    def helpers(self) -> dict[str, Any]:
        if self._helpers is None:
            self._helpers = _helpers()
        return self._helpers

    def _namespace(self, context: dict[str, Any], external: dict[str, Any] | None) -> dict:
        # Task data first, guards and helpers last: a data key named like a guard must
        # never replace it (the stock environment lets ``__builtins__`` in data win).
        namespace = {k: v for k, v in context.items() if not k.startswith("_")}
        namespace.update(external or {})
        namespace.update(self.helpers)
        namespace.update(_guards())
        return namespace

    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        code = _compile_eval(expression.strip())
        namespace = self._namespace(context, external_context)
        return _to_json_value(_Deadline(self.timeout_seconds).run(lambda: eval(code, namespace)))

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        code = _compile_exec(script)
        namespace = self._namespace(context, external_context)
        before = set(namespace)
        _Deadline(self.timeout_seconds).run(lambda: exec(code, namespace))
        for key, value in namespace.items():
            if key in GUARD_NAMES or key in self.helpers or callable(value):
                continue
            if key.startswith("_") or isinstance(value, type(math)):
                continue
            if key in before and key not in context:
                continue  # an external-context value the script left alone
            context[key] = value
        for key in [k for k in context if not k.startswith("_") and k not in namespace]:
            del context[key]  # the script deleted it
        return True

    def call_service(self, context: dict, operation_name: str = "",
                     operation_params: dict | None = None, **_: Any) -> str:
        from engine.runtime import operators as services

        params = {k: v.get("value") for k, v in (operation_params or {}).items()}
        return json.dumps(services.call(operation_name, params, context), default=str)


class _ScriptEngine(PythonScriptEngine):
    """The stock engine with ``call_service``'s error path fixed.

    SpiffWorkflow 3.2.0's ``call_service`` names an undefined ``script`` when the service
    raises, so any operator error surfaced as a NameError and failed the whole request.
    An operator's DocrouteError (e.g. ``CalendarMissing``) becomes a task error instead,
    which the runtime records as the case's incident.
    """

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        try:
            return self.environment.call_service(task.data, **kwargs)
        except DocrouteError as error:
            raise WorkflowTaskException(str(error), task=task, exception=error) from error


def set_timeout(engine: PythonScriptEngine, seconds: float) -> None:
    """Apply ``Settings.script_timeout_seconds`` to a script engine made here."""
    engine.environment.timeout_seconds = seconds


def make_script_engine(timeout_seconds: float = 2.0) -> PythonScriptEngine:
    return _ScriptEngine(environment=RestrictedEnvironment(timeout_seconds))

