"""The layers of ``backend/`` import downwards only: no import cycle, and no hook imports a connector.

The imports are read from the source with ``ast`` (every ``import``, at module level or inside a
function, under ``TYPE_CHECKING`` or not), so a cycle hidden in a lazy import is found too.
"""

from __future__ import annotations

import ast
from pathlib import Path

BACKEND = Path(__file__).resolve().parents[1] / "backend"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(BACKEND.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in BACKEND.rglob("*.py")}


def imports_of(path: Path, known: dict[str, Path]) -> set[str]:
    """The backend modules ``path`` imports (``from backend.x import y`` counts ``backend.x.y`` when y is a module)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
    return {name for name in found if name in known}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imports_of(path, known) - {name} for name, path in known.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_graph_sees_the_imports_it_must_judge() -> None:
    """The walker itself: a connector's imports of the core and of a hook are found."""
    edges = graph()
    assert "backend.core" in edges["backend.connectors.sql"]
    assert "backend.hooks.tls" in edges["backend.connectors.postgresql"]
    assert "backend.hooks.ssh" in edges["backend.connectors.sql"]  # a lazy import inside a method


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_backend_has_no_import_cycle() -> None:
    assert find_cycle(graph()) is None


def test_no_hook_imports_a_connector() -> None:
    edges = graph()
    offending = {
        hook: sorted(target for target in targets if target.startswith("backend.connectors"))
        for hook, targets in edges.items()
        if hook.startswith("backend.hooks")
    }
    assert {hook: targets for hook, targets in offending.items() if targets} == {}


def test_the_core_imports_neither_connectors_nor_hooks() -> None:
    targets = {t for name, ts in graph().items() if name == "backend.core" or name.startswith("backend.core.") for t in ts}
    assert not [t for t in targets if t.startswith(("backend.connectors", "backend.hooks"))]


def test_importing_the_connectors_leaves_the_environment_alone() -> None:
    """FREETDSCONF and DB2_MAX_CLIENT_CONNRETRIES are set on first use, never at import (a fresh process)."""
    import json
    import subprocess
    import sys

    script = (
        "import json, os; before = dict(os.environ); "
        "from backend.connectors import registry; registry(); "
        "print(json.dumps(sorted(k for k in set(os.environ) | set(before) if os.environ.get(k) != before.get(k))))"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=BACKEND.parent, capture_output=True, text=True,
                          timeout=60, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_the_registry_skips_private_modules_and_packages() -> None:
    from backend.connectors import registry

    modules = {type(connector).__module__ for connector in registry().values()}
    assert (BACKEND / "connectors" / "_tds").is_dir()  # the private package exists, and is not a connector
    assert not [m for m in modules if m.rpartition(".")[2].startswith("_")]
    public = {f"backend.connectors.{p.stem}" for p in (BACKEND / "connectors").glob("[!_]*.py")} - {
        "backend.connectors.base", "backend.connectors.sql"}
    assert modules == public, "every public connector module defines CONNECTOR, and only those are registered"


# --- tests/: shared helpers live in tests/helpers.py, fixtures in a conftest.py (issue 12) ---------

TESTS = BACKEND.parent / "tests"


def test_no_test_module_imports_another() -> None:
    """A test module imported by another drags its fixtures along and breaks when its tests move;
    what two modules share belongs in ``tests/helpers.py`` or a ``conftest.py``."""
    every = {module_name(path): path for path in TESTS.rglob("*.py")}
    test_modules = {name: path for name, path in every.items() if path.name.startswith("test_")}
    assert "tests.helpers" in imports_of(TESTS / "test_auth.py", every)  # the walker sees the tests' imports
    offending = {name: sorted(imports_of(path, test_modules) - {name}) for name, path in every.items()}
    assert {name: targets for name, targets in offending.items() if targets} == {}
