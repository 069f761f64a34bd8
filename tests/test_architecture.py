"""The engine never reaches into the web layer, and its public names stay put."""

from __future__ import annotations

import ast
from pathlib import Path

import engine

ENGINE = Path(engine.__file__).parent
FORBIDDEN = ("flask", "flask_babel", "flask_wtf", "flask_limiter", "werkzeug.serving", "webui",
             "jinja2")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def test_engine_never_imports_flask_or_webui() -> None:
    offences = [
        f"{path.name}:{line}: imports {module}"
        for path in sorted(ENGINE.glob("*.py"))
        for line, module in _imports(path)
        if module.split(".")[0] in FORBIDDEN or module in FORBIDDEN
    ]
    assert offences == []
    assert len(list(ENGINE.glob("*.py"))) > 10  # the walk saw the engine


def test_engine_public_names_are_pinned() -> None:
    assert engine.__all__ == [
        "Actor",
        "Conflict",
        "Docroute",
        "DocrouteError",
        "FormInvalid",
        "NotAllowed",
        "NotFound",
        "Problem",
        "ScriptError",
        "Settings",
        "WorkflowInvalid",
    ]
    for name in engine.__all__:
        assert getattr(engine, name) is not None
