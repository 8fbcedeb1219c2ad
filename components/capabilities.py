"""The capability matrix and the ``depends_on`` graph, from the ``functionalities`` endpoint."""

from __future__ import annotations

from typing import Any

import pandas as pd

from components.names import CAPABILITY_WORDS, capability_label, connector_name, readable

CAPABILITY_ORDER = (
    "IDENTITY_WRITING",
    "DATA_TRUNCATION",
    "DATA_DELETION",
    "INDEX_MANAGEMENT",
    "FOREIGN_KEY_MANAGEMENT",
    "UNIQUE_CONSTRAINT_MANAGEMENT",
    "TRIGGER_MANAGEMENT",
    "SCHEMA_MANAGEMENT",
)
NONE_CELL = "—"


def _rank(name: str) -> tuple[int, str]:
    return (CAPABILITY_ORDER.index(name) if name in CAPABILITY_ORDER else len(CAPABILITY_ORDER), name)


def functionality_names(by_connector: dict[str, list[dict[str, Any]]]) -> list[str]:
    seen: dict[str, None] = {}
    for items in by_connector.values():
        for item in items:
            if item.get("name"):
                seen.setdefault(str(item["name"]), None)
    return list(seen)


def capability_names(by_connector: dict[str, list[dict[str, Any]]], functionality: str) -> list[str]:
    names: set[str] = set()
    for items in by_connector.values():
        for item in items:
            if item.get("name") == functionality:
                names.update(str(c["name"]) for c in item.get("capabilities") or [] if c.get("name"))
    return sorted(names, key=_rank)


def matrix(by_connector: dict[str, list[dict[str, Any]]], functionality: str) -> pd.DataFrame:
    """Rows: every connector; columns: capabilities; cell: the applicability where listed, else —."""
    columns = capability_names(by_connector, functionality)
    rows = []
    for items in by_connector.values():
        found = next((i for i in items if i.get("name") == functionality), None)
        listed = {str(c.get("name")) for c in (found or {}).get("capabilities") or []}
        applicability = str((found or {}).get("applicability") or NONE_CELL)
        rows.append([applicability if cap in listed else NONE_CELL for cap in columns])
    frame = pd.DataFrame(rows, columns=columns, index=[connector_name(t) for t in by_connector])
    frame.index.name = "Connector"
    return frame


def column_config(frame: pd.DataFrame) -> dict[str, Any]:
    """Short column titles, with the capability's full name and meaning as the tooltip."""
    import streamlit as st

    return {
        name: st.column_config.TextColumn(
            capability_label(name), help=f"{readable(name)}: {CAPABILITY_WORDS.get(name, '')}".rstrip(": ")
        )
        for name in frame.columns
    }


def cell_style(value: Any) -> str:
    return {
        "FULL": "background-color: #d3f2dd; color: #0b5d2a",
        "PARTIAL": "background-color: #fdf0cc; color: #7a5200",
    }.get(str(value), "color: #9aa0a6")


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dependency_dot(functionality: dict[str, Any]) -> str:
    """A Graphviz digraph: capability → the capabilities it depends on."""
    lines = [
        "digraph {",
        "  rankdir=LR; bgcolor=transparent;",
        '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", color="#4a6fa5", fontname="Helvetica", fontsize=11];',
        '  edge [color="#4a6fa5", fontname="Helvetica", fontsize=9, label="needs"];',
    ]
    for cap in functionality.get("capabilities") or []:
        name = str(cap.get("name") or "?")
        lines.append(f"  {_quote(name)} [label={_quote(readable(name))}];")
        for dep in cap.get("depends_on") or []:
            lines.append(f"  {_quote(name)} -> {_quote(str(dep))};")
            lines.append(f"  {_quote(str(dep))} [label={_quote(readable(str(dep)))}];")
    lines.append("}")
    return "\n".join(lines)
