"""The capability matrix and the ``depends_on`` graph, from the ``functionalities`` endpoint."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from components.words import capability_label, meaning, plain

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


OVERALL = "Overall"
LISTED = "✓"


def matrix(by_connector: dict[str, list[dict[str, Any]]], functionality: str, label: Callable[[str], str]) -> pd.DataFrame:
    """Rows: every connector; first column: how fully it offers the functionality; then one column per capability.

    The spec gives a level (Full / Partial) per functionality, not per capability: the overall
    column carries it, and a capability cell says only whether the connector uses it (✓) or not (—).
    So a functionality offered without any capability (S3's multipart upload) still reads
    "Partial", not "—".
    """
    columns = capability_names(by_connector, functionality)
    rows = []
    for items in by_connector.values():
        found = next((i for i in items if i.get("name") == functionality), None)
        listed = {str(c.get("name")) for c in (found or {}).get("capabilities") or []}
        overall = str((found or {}).get("applicability") or "").title() or NONE_CELL
        rows.append([overall, *[LISTED if cap in listed else NONE_CELL for cap in columns]])
    frame = pd.DataFrame(rows, columns=[OVERALL, *columns], index=[label(t) for t in by_connector])
    frame.index.name = "Connector"
    return frame


def column_config(frame: pd.DataFrame) -> dict[str, Any]:
    """Short column titles, with the capability's full name and meaning as the tooltip."""
    import streamlit as st

    config: dict[str, Any] = {
        OVERALL: st.column_config.TextColumn(OVERALL, help="Full: works as described; Partial: with the limits "
                                             "in the connector's details below; —: not offered."),
    }
    for name in frame.columns:
        if name != OVERALL:
            config[name] = st.column_config.TextColumn(
                capability_label(name), help=f"{plain(name)}: {meaning(name)}".rstrip(": ")
            )
    return config


def cell_style(value: Any) -> str:
    return {
        "Full": "background-color: #d3f2dd; color: #0b5d2a",
        "Partial": "background-color: #fdf0cc; color: #7a5200",
        LISTED: "color: #0b5d2a",
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
        lines.append(f"  {_quote(name)} [label={_quote(plain(name))}];")
        for dep in cap.get("depends_on") or []:
            lines.append(f"  {_quote(name)} -> {_quote(str(dep))};")
            lines.append(f"  {_quote(str(dep))} [label={_quote(plain(str(dep)))}];")
    lines.append("}")
    return "\n".join(lines)


# --- live: what this connection can do (docs/design.md, "Live capabilities") ---------------------------

LIVE = "live_capabilities"
"""The last live answer, kept for the Capabilities page's "with my connection" view."""
STATUS_ICONS = {
    "available": ":green[:material/check_circle:]",
    "unavailable": ":red[:material/cancel:]",
    "unknown": ":gray[:material/help:]",
    "not_supported": ":gray[:material/remove_circle_outline:]",
}
STATUS_WORDS = {
    "available": "yes",
    "unavailable": "no",
    "unknown": "could not tell",
    "not_supported": "not offered by this connector",
}


SCHEMA_CHOICE = "live_schema"
"""The schema the user chose to examine (None: the connection's own default)."""


def forget_live_answer() -> None:
    """Drop the live answer and the schema chosen from its list (a new test: other settings, maybe another user).

    The choice goes with the answer: without an answer its box is not drawn, and a choice kept out of sight would
    still pick the schema of the next **Check what I can do**.
    """
    import streamlit as st

    st.session_state.pop(LIVE, None)
    st.session_state.pop(SCHEMA_CHOICE, None)


def render_items(answer: dict[str, Any]) -> None:
    """Whose answer this is, then each item: icon and plain label, one sentence, and the fix to copy."""
    import streamlit as st

    from components.form import escape_md

    scope = str(answer.get("scope") or "")
    found = answer.get("verdict")
    verdict: dict[str, Any] = found if isinstance(found, dict) else {}
    if scope:
        st.markdown(f"**Examined:** {escape_md(scope)}")
    if verdict.get("code") not in (None, "CONNECTION_SUCCESSFUL", "PATH_NOT_FOUND"):
        st.error(f"**{escape_md(str(verdict.get('title') or ''))}** {escape_md(str(verdict.get('body') or ''))}",
                 icon=":material/error:")
    for title, key in (("Access", "access"), ("Functionalities", "functionalities"), ("Capabilities", "capabilities")):
        items = [i for i in answer.get(key) or [] if isinstance(i, dict)]
        if not items:
            continue
        st.markdown(f"### {title}")
        for item in items:
            status = str(item.get("status") or "unknown")
            line = (f"{STATUS_ICONS.get(status, STATUS_ICONS['unknown'])} **{escape_md(plain(str(item.get('name'))))}**"
                    f" · {STATUS_WORDS.get(status, status)}")
            if item.get("reason"):
                line += f"  \n{escape_md(str(item['reason']))}"
            st.markdown(line)
            if item.get("fix"):
                # Plain, not highlighted as SQL: Streamlit colours SQL keywords with a fixed blue (#1c83e1, not
                # themable) that reads at 3.8:1 on the code background, under WCAG AA's 4.5:1 (axe-core).
                st.code(str(item["fix"]), language="text", wrap_lines=True)


def render_live_check(body: dict[str, Any]) -> None:
    """**Check what I can do** after a test of a connection to write to: the schema is chosen, not guessed."""
    import streamlit as st

    from components.api_client import ApiProblem
    from components.session import client, show_problem

    st.header("What can the wizard do here?", anchor=False, divider="gray")
    st.caption("Asks the database which of the writing shortcuts this user may use. Nothing is written.")
    answer = st.session_state.get(LIVE)
    schemas = [str(s) for s in (answer or {}).get("schemas") or []] if isinstance(answer, dict) else []
    if schemas:
        options: list[str | None] = [None, *schemas]
        # Kept when another page is opened and this one comes back, as the answer it goes with is.
        st.selectbox("Schema to examine", options, key=SCHEMA_CHOICE,
                     format_func=lambda s: "The connection's own default schema" if s is None else s,
                     help="The schemas this user can see in the database, as the last answer listed them.",
                     persist_state="session")
    if st.button("Check what I can do", icon=":material/fact_check:", key="check_capabilities"):
        try:
            with st.spinner("Asking the database…"):
                st.session_state[LIVE] = client().capabilities(body, schema=st.session_state.get(SCHEMA_CHOICE))
        except ApiProblem as problem:
            show_problem(problem, retry_label=None)
            return
        st.rerun()  # the schema list of the new answer is drawn above the button
    if isinstance(answer, dict) and (answer.get("verdict") or {}).get("code") is not None:
        render_items(answer)
