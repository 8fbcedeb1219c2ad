"""Capabilities: what each connector can do when writing, as a matrix, in plain words, and as a graph."""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.api_client import ApiProblem
from components.capabilities import (
    LIVE,
    cell_style,
    column_config,
    dependency_dot,
    functionality_names,
    matrix,
    render_items,
)
from components.form import escape_md
from components.metadata import connector_types
from components.session import functionalities, require_metadata, show_problem
from components.words import CAPABILITY_SHORT, KIND_WORDS, meaning, plain, readable

st.title("What each connector can do", anchor=False)
st.caption(
    "When the wizard writes data, some databases let it take shortcuts: load faster, or make a load safe "
    "to repeat. **Full** means it works as described, **Partial** that it works with limits (see the "
    "connector's details below), and — that the connector does not offer it; ✓ marks the capabilities it uses."
)

meta = require_metadata()
connector_name = meta.forms.label
types = connector_types(meta.forms, False)
by_connector: dict[str, list[dict[str, Any]]] = {}
try:
    for connector_type in types:
        by_connector[connector_type] = functionalities(connector_type)
except ApiProblem as problem:
    show_problem(problem, retry_label="Load again", key="retry-functionalities")
    st.stop()

names = functionality_names(by_connector)
if not names:
    st.info("No connector declares a functionality yet.", icon=":material/info:")
    st.stop()

live = st.session_state.get(LIVE)
st.header("With your connection", anchor=False, divider="gray")
if isinstance(live, dict):
    render_items(live)
else:
    st.info(
        "Test a connection you write data to on the Connect page, then press **Check what I can do**: "
        "its answer shows here, item by item, with the reason and the fix.",
        icon=":material/fact_check:",
    )
st.header("Every connector", anchor=False, divider="gray")
tabs = st.tabs([plain(n) for n in names])
for tab, name in zip(tabs, names, strict=True):
    with tab:
        st.markdown(escape_md(meaning(name) or plain(name)))
        st.caption(":material/swipe: On a narrow screen, swipe the table sideways to see every column.")
        frame = matrix(by_connector, name, connector_name)
        st.dataframe(
            frame.style.map(cell_style), width="stretch", key=f"matrix-{name}", column_config=column_config(frame)
        )

with st.expander("What the capabilities mean", icon=":material/menu_book:"):
    st.markdown("\n".join(f"- **{escape_md(plain(c))}**: {escape_md(meaning(c))}" for c in CAPABILITY_SHORT))

st.header("One connector in detail", anchor=False, divider="gray")
chosen = st.selectbox("Connector", types, format_func=connector_name, key="cap_connector", persist_state="session")
items = by_connector.get(chosen) or []
if not items:
    st.info(f"{connector_name(chosen)} declares no writing functionality.", icon=":material/info:")
for item in items:
    name = str(item.get("name") or "?")
    kind = str(item.get("kind") or "")
    applicability = str(item.get("applicability") or "—")
    with st.container(border=True, key=f"detail-{name}"):
        st.markdown(f"### {escape_md(plain(name))}")
        color = {"FULL": "green", "PARTIAL": "orange"}.get(applicability, "gray")
        st.markdown(
            f":{color}-badge[{applicability.title()}] :gray-badge[{readable(kind)}"
            + (f": {KIND_WORDS[kind]}" if kind in KIND_WORDS else "")
            + "]"
        )
        st.markdown(escape_md(str(item.get("description") or "")))
        capabilities = item.get("capabilities") or []
        if capabilities:
            st.markdown("**How the capabilities depend on each other** (an arrow reads “needs”):")
            st.graphviz_chart(dependency_dot(item), width="content")
