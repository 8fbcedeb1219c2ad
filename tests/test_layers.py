"""The layers of ``backend/`` import downwards only.

The layer order, the domain's freedom from HTTP and the UI's distance from the backend are
import-linter contracts (``.importlinter``), run here contract by contract (and by ``make lint``).
What import-linter does not check stays here: no import cycle inside a layer, read from the source
with ``ast`` (every ``import``, at module level or inside a function, under ``TYPE_CHECKING`` or
not, so a cycle hidden in a lazy import is found too), and the UI scripts (``app.py``, ``pages/``),
which are not packages import-linter can read.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

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


ROOT = BACKEND.parent
UI_ENTRY_POINTS = ("backend.embed", "backend.main")
"""What the UI may import of the backend: the module that embeds the API (issue 20 adds backend.embed)."""


def contract_ids() -> list[str]:
    import configparser

    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    return [section.rpartition(":")[2] for section in config.sections() if section.startswith("importlinter:contract:")]


@pytest.mark.parametrize("contract", contract_ids())
def test_import_contract(contract: str) -> None:
    """``lint-imports --contract ID``: each contract of ``.importlinter`` is kept (no cache written)."""
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache", "--no-logo", "--contract", contract], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_the_contracts_state_the_layers() -> None:
    """The contracts exist and name the layers docs/design.md draws, top to bottom."""
    text = (ROOT / ".importlinter").read_text()
    order = ["backend.api.routers", "backend.diagnosis.service", "backend.connectors", "backend.hooks", "backend.core"]
    layers = text[text.index("layers =") :]
    assert [layers.index(name) for name in order] == sorted(layers.index(name) for name in order)
    assert {"layers", "domain-speaks-no-http", "ui-over-http", "errors-without-registry"} <= set(contract_ids())


def test_the_ui_scripts_import_only_the_embedding_entry_point() -> None:
    """``app.py`` and ``pages/*.py`` (scripts import-linter cannot read as packages)."""
    scripts = {module_name_of(path): path for path in [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]}
    offending: dict[str, list[str]] = {}
    for name, path in scripts.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        found = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        found |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        bad = sorted(m for m in found if m.split(".")[0] == "backend" and not m.startswith(UI_ENTRY_POINTS))
        if bad:
            offending[name] = bad
    assert offending == {}


def module_name_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


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


def test_importing_the_app_loads_no_driver() -> None:
    """docs/design.md, "Layers": drivers are imported where they are used, so ``import backend.main`` stays fast
    (a fresh interpreter: the suite itself loads every driver up front, tests/conftest.py ``drivers_loaded``)."""
    from tests.conftest import installed_drivers

    drivers = [*installed_drivers(), "paramiko", "gssapi"]
    probe = ("import sys, backend.main, backend.connectors as c\nc.registry()\n"
             f"print([m for m in {drivers!r} if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                          cwd=BACKEND.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", f"loaded at import time: {done.stdout}"
