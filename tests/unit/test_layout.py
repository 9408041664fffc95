"""The tree keeps its shape: no import cycles, nobody reaches into another module's private members, the
agent never imports the orchestrator, modules stay small. Read from the source with ast (no imports)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO

#: Source folder -> import name (pyproject's package-dir).
ROOTS = {
    "protos/edgefleet": "edgefleet",
    "core": "edgefleet.core",
    "agent": "edgefleet.agent",
    "orchestrator": "edgefleet.orchestrator",
}
MAX_LINES = 300
#: Private names of the standard library and third-party APIs that are their documented interface.
FOREIGN_PRIVATE = {"_exit", "_getframe", "_replace", "_asdict", "_fields", "_make", "_value_", "_name_"}


def modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for folder, name in ROOTS.items():
        base = REPO / folder
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if name == "edgefleet" and parts and parts[0] != "v1":
                continue
            if "_pb2" in path.name:
                continue
            out[".".join([name, *parts])] = path
    return out


MODULES = modules()


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def imports(module: str) -> Iterator[str]:
    """Every edgefleet module this one imports, wherever the import statement is (functions included)."""
    tree = ast.parse(MODULES[module].read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module:
                yield name


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    graph = {m: {i for i in imports(m) if MODULES[i].name != "__init__.py"} for m in MODULES}
    # a package's __init__ re-exports its modules: an edge to it counts as edges to what it imports
    for m in MODULES:
        graph[m] |= {j for i in imports(m) if MODULES[i].name == "__init__.py" for j in imports(i) if j != m}
    assert _cycles(graph) == []


def test_the_agent_never_imports_the_orchestrator_and_core_imports_neither() -> None:
    bad = [
        (m, i)
        for m in MODULES
        for i in imports(m)
        if (m.startswith("edgefleet.agent") and i.startswith("edgefleet.orchestrator"))
        or (m.startswith("edgefleet.core") and i.startswith(("edgefleet.agent", "edgefleet.orchestrator")))
    ]
    assert bad == []


def test_the_orchestrator_uses_only_the_agents_runtime_wrapper() -> None:
    """The orchestrator evaluates variants with the agent's runtime wrapper (same code, same figures);
    its tools (the simulator emulates agents) may use more. Nothing else of the agent."""
    bad = [
        (m, i)
        for m in MODULES
        if m.startswith("edgefleet.orchestrator") and not m.startswith("edgefleet.orchestrator.tools")
        for i in imports(m)
        if i.startswith("edgefleet.agent") and not i.startswith("edgefleet.agent.runtime")
    ]
    assert bad == []


def _private_uses(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    yield f"{path}:{node.lineno}: from {node.module} import {alias.name}"
        elif isinstance(node, ast.Attribute):
            attr = node.attr
            if not attr.startswith("_") or attr.startswith("__") or attr in FOREIGN_PRIVATE:
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            yield f"{path}:{node.lineno}: {ast.unparse(node)}"


def test_no_module_reaches_into_another_objects_private_members() -> None:
    found = [use for path in MODULES.values() for use in _private_uses(path)]
    assert found == []


def test_tests_do_not_reach_into_private_members_either() -> None:
    found = [use for path in sorted((REPO / "tests").rglob("*.py")) for use in _private_uses(path)]
    assert found == []


def test_modules_stay_small() -> None:
    large = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert large == {}
