"""The UI speaks only HTTP: ``app.py``, ``pages/`` and ``components/`` import no backend module but the
embedding entry point (``backend.embed``), and name no connector (issue 21, "The UI talks to the API over HTTP only")."""

from __future__ import annotations

import ast
from pathlib import Path

from backend.connectors import registry

ROOT = Path(__file__).resolve().parents[2]
EMBED = "backend.embed"


def ui_modules() -> list[Path]:
    return [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "components").glob("*.py"))]


def imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names if node.module == "backend")
    return found


def test_no_ui_module_imports_the_backend_but_the_embedding_entry_point() -> None:
    assert len(ui_modules()) > 10
    offending = {
        str(path.relative_to(ROOT)): sorted(m for m in imported(path)
                                             if (m == "backend" or m.startswith("backend.")) and m != EMBED)
        for path in ui_modules()
    }
    assert {k: v for k, v in offending.items() if v} == {}
    assert any(EMBED in imported(path) for path in ui_modules()), "the UI embeds the API through backend.embed"


def test_no_ui_module_names_a_connector() -> None:
    names = {*registry(), *(connector.label for connector in registry().values() if len(connector.label) > 3)}
    for path in ui_modules():
        text = path.read_text(encoding="utf-8")
        found = sorted(name for name in names if name in text)
        assert found == [], f"{path.relative_to(ROOT)} names {found}"
