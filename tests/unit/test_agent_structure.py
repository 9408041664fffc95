"""The agent's layout rules, checked on its source: no import cycle, no access to another module's private
members, small modules, protobuf only at the edges, and never an import of the orchestrator."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

AGENT = Path(__file__).resolve().parents[2] / "agent"
#: The agent's protobuf edges: the wire converters, the stream, the downloader, enrolment, the send queue
#: (its message type), the local Inference servicer, the local socket and its messages, and the local
#: socket's client. Nothing else sees edgefleet.v1.
PROTOBUF_EDGES = {
    "edgefleet.agent.connection.wire",
    "edgefleet.agent.connection.wire_benchmark",
    "edgefleet.agent.connection.session",
    "edgefleet.agent.connection.download",
    "edgefleet.agent.connection.uplink",
    "edgefleet.agent.identity.enrolment",
    "edgefleet.agent.workload.predict",
    "edgefleet.agent.workload.local_socket",
    "edgefleet.agent.workload.messages",
    "edgefleet.agent.local_client",
}
MAX_LINES = 300


def _module_name(path: Path) -> str:
    parts = path.relative_to(AGENT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("edgefleet", "agent", *parts))


def _modules() -> dict[str, tuple[Path, ast.Module]]:
    return {
        _module_name(p): (p, ast.parse(p.read_text(), filename=str(p)))
        for p in sorted(AGENT.rglob("*.py"))
        if "__pycache__" not in p.parts
    }


MODULES = _modules()


def _imports(tree: ast.Module) -> set[str]:
    """Every module imported anywhere (top level, functions, TYPE_CHECKING blocks); ``from pkg import mod``
    counts as importing ``pkg.mod`` when that is a module."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(
                f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES
            )
    return found


def test_the_scan_sees_the_agent() -> None:
    assert {"edgefleet.agent.app", "edgefleet.agent.connection.reconciler", "edgefleet.agent.diskio"} <= set(
        MODULES
    )


def test_no_import_cycle() -> None:
    graph = {
        name: {m for m in _imports(tree) if m in MODULES and m != name} for name, (_, tree) in MODULES.items()
    }
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_no_access_to_another_modules_private_members() -> None:
    found = []
    for path, tree in MODULES.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _private(node.attr):
                owner = node.value
                if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                    found.append(f"{path.name}:{node.lineno} .{node.attr}")
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("edgefleet"):
                found += [
                    f"{path.name}:{node.lineno} import {a.name}" for a in node.names if _private(a.name)
                ]
    assert not found, f"private members used from outside their module: {found}"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_modules_stay_small() -> None:
    big = {
        name: n
        for name, (path, _) in MODULES.items()
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not big, f"modules over {MAX_LINES} lines: {big}"


def test_protobuf_stays_at_the_edges_and_the_orchestrator_out() -> None:
    for name, (_, tree) in MODULES.items():
        imports = _imports(tree)
        assert not any(m.startswith("edgefleet.orchestrator") for m in imports), name
        if any(m.startswith("edgefleet.v1") for m in imports):
            assert name in PROTOBUF_EDGES, f"{name} imports protobuf but is not one of the agent's edges"
