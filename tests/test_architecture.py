"""The shape of the code: one-way arrows, no import cycle, packages with pinned public names.

``webui -> engine``, never back; inside the engine, modules import each other by their full
path and the packages load lazily, so the module graph alone decides whether an import can
close a cycle. Every package's public names are listed in its ``__init__.pyi`` and pinned in
``tests/data/engine_api.txt``: a change to the interface is a change to that file, on purpose.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import typing
from pathlib import Path
from typing import Any

import engine

ROOT = Path(engine.__file__).parent.parent
ENGINE = ROOT / "engine"
PINNED = ROOT / "tests" / "data" / "engine_api.txt"
FORBIDDEN = ("flask", "flask_babel", "flask_wtf", "flask_limiter", "webui", "jinja2",
             "werkzeug.serving")
PACKAGES = ("definitions", "runtime", "history", "deadlines", "registry", "org", "queries", "demo")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(path: Path, *, top_level_only: bool) -> list[tuple[int, str]]:
    """(line, module) of each import; relative imports resolved to absolute names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    # Imports under ``if TYPE_CHECKING:`` name types for the checker and never run.
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and _is_type_checking(block) for n in ast.walk(block)}
    if top_level_only:
        nodes = [n for stmt in tree.body if not _is_type_checking(stmt) for n in ast.walk(stmt)
                 if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    else:
        nodes = [n for n in ast.walk(tree) if id(n) not in typing_only]
    found: list[tuple[int, str]] = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.append((node.lineno, base))
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
    return found


def _sources(*roots: str) -> list[Path]:
    return sorted(p for root in roots for p in (ROOT / root).rglob("*.py"))


def test_engine_never_imports_flask_or_webui() -> None:
    files = _sources("engine")
    offences = [
        f"{path.relative_to(ROOT)}:{line}: imports {module}"
        for path in files
        for line, module in _imports(path, top_level_only=False)
        if module.split(".")[0] in FORBIDDEN or module.startswith(FORBIDDEN)
    ]
    assert offences == []
    assert len(files) > 50  # the walk saw the engine's packages


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in _sources("engine", "webui")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        edges = set()
        for _, target in _imports(path, top_level_only=True):
            while target and target not in files:
                target = target.rpartition(".")[0]
            # A package's own ancestors are already importing when it runs: no edge.
            if target and target != name and not name.startswith(target + "."):
                edges.add(target)
        graph[name] = edges
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle in the graph, if there is any (depth-first search)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle() -> None:
    graph = _graph()
    assert len(graph) > 80
    assert _cycle(graph) is None


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_engine_modules_import_each_other_by_module_not_by_package_facade() -> None:
    """A facade import (``from engine.runtime import complete``) inside the engine would load
    the whole package; module paths keep each import to what it needs."""
    offences = []
    for path in _sources("engine"):
        if path.name == "__init__.py":
            continue
        for line, module in _imports(path, top_level_only=False):
            parts = module.split(".")
            if (len(parts) == 3 and parts[0] == "engine" and parts[1] in PACKAGES
                    and not (ENGINE / parts[1] / f"{parts[2]}.py").exists()):
                offences.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert offences == []


def _public_names() -> list[str]:
    names = [f"engine: {name}" for name in engine.__all__]
    for package in PACKAGES:
        module = importlib.import_module(f"engine.{package}")
        names += [f"engine.{package}: {name}" for name in sorted(module.__all__)]
    return names


def test_public_names_are_pinned_and_resolve() -> None:
    names = _public_names()
    assert names == PINNED.read_text().split("\n")[:-1], (
        "the engine's public names changed: update tests/data/engine_api.txt on purpose")
    for line in names:
        package, _, name = line.partition(": ")
        assert getattr(importlib.import_module(package), name) is not None


def test_every_engine_module_belongs_to_a_package_or_the_foundation() -> None:
    foundation = {"__init__", "clock", "config", "constants", "db", "errors", "ids", "models",
                  "service", "wiring"}
    flat = {p.stem for p in ENGINE.glob("*.py")}
    assert flat <= foundation, f"new flat engine modules: {sorted(flat - foundation)}"
    assert {p.name for p in ENGINE.iterdir() if (p / "__init__.py").exists()} == set(PACKAGES)


def test_the_web_layer_reads_through_the_engine_never_the_tables() -> None:
    """Pages and the API call engine functions (``engine.queries`` and the packages) for
    every read, so one rule serves both; table classes appear in webui only as types."""
    offences = [
        f"{path.relative_to(ROOT)}:{line}: imports {module}"
        for path in _sources("webui")
        for line, module in _imports(path, top_level_only=False)
        if module == "engine.models" or module.startswith("engine.models.")
    ]
    type_only = [f"{p.relative_to(ROOT)}" for p in _sources("webui")
                 if "engine.models" in p.read_text()]
    assert offences == [] and len(type_only) > 0  # the walk saw the type-only imports


# Reads the web layer calls for pages and the API. A name ending in ``_row``/``_rows``
# returns rows on purpose, for engine calls that take a row (see engine/queries/records.py).
READS = {"engine.queries.records": None,  # every public function
         "engine.queries.inbox": ("list_rows", "list_tasks"),
         "engine.queries.handled": ("handled_steps", "open_steps"),
         "engine.queries.timeline": ("case_events",),
         "engine.queries.progress": ("case_diagram",),
         "engine.registry.documents": ("visible_document", "list_documents", "cases_of"),
         "engine.registry.attachments": ("list_for",)}


def _orm_classes(hint: Any, seen: set[int] | None = None) -> set[str]:
    """The engine.models classes anywhere in a type: inside list[...], dict[...], X | None,
    and in the fields of a dataclass it names (a view holding a row is a row)."""
    seen = set() if seen is None else seen
    if id(hint) in seen:
        return set()
    seen.add(id(hint))
    found: set[str] = set()
    if isinstance(hint, type) and hint.__module__ == "engine.models":
        found.add(hint.__name__)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        for field_type in typing.get_type_hints(hint).values():
            found |= _orm_classes(field_type, seen)
    for arg in typing.get_args(hint):
        found |= _orm_classes(arg, seen)
    return found


def _reads() -> list[tuple[str, Any]]:
    found = []
    for module_name, names in READS.items():
        module = importlib.import_module(module_name)
        if names is None:
            names = tuple(n for n, f in inspect.getmembers(module, inspect.isfunction)
                          if f.__module__ == module_name and not n.startswith("_")
                          and not n.endswith(("_row", "_rows")))
        found += [(f"{module_name}.{n}", getattr(module, n)) for n in names]
    return found


def test_the_reads_pages_and_the_api_call_return_plain_values_never_rows() -> None:
    """A template or a JSON body given a live row could lazy-load, change it, or reach a
    relationship after the session ended; the reads return frozen values instead."""
    reads = _reads()
    offences = {name: sorted(_orm_classes(typing.get_type_hints(function)["return"]))
                for name, function in reads}
    assert {name: found for name, found in offences.items() if found} == {}
    assert len(reads) >= 15  # the walk found records' functions, not an empty module


def test_the_row_check_sees_rows_inside_containers_and_views() -> None:
    from engine.models import Document, Task
    from engine.queries.views import CaseDetail

    holder = dataclasses.make_dataclass("Holder", [("task", Task)], frozen=True)
    assert _orm_classes(dict[int, list[Task]] | None) == {"Task"}
    assert _orm_classes(typing.Optional[Document]) == {"Document"}  # noqa: UP045
    assert _orm_classes(holder) == {"Task"}
    assert _orm_classes(list[CaseDetail]) == set()
