"""Saved connections in the UI: the **Save** form shown after a successful test, and the pieces of the
Connections page (a connection's line, its last verdict in words, the export without secrets).

Everything goes through the API over HTTP (``components/api_client.py``). Stored secrets never come
back from the API: they read as the mask ``**********``, shown here as "stored".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

from components.api_client import ApiProblem
from components.form import escape_md, fingerprint
from components.session import client, show_problem

JUST_SAVED = "saved_connection_note"
CONNECTIONS_PAGE = "pages/connections.py"
NAME_MAX = 100
KIND_MARK = {"success": ":green[:material/check_circle:]", "warning": ":orange[:material/warning:]",
             "error": ":red[:material/cancel:]"}


def render_save(connection: dict[str, Any]) -> None:
    """Offer to save ``connection`` (a ``Create…Connector`` body that just tested well) under a name.

    Once saved, the same body shows where it went instead of the form, so a rerun never saves twice.
    """
    note = st.session_state.get(JUST_SAVED)
    if isinstance(note, dict) and note.get("fingerprint") == fingerprint(connection):
        st.success(f"Saved as **{escape_md(str(note.get('name')))}**.", icon=":material/bookmark_added:")
        try:
            st.page_link(CONNECTIONS_PAGE, label="See your saved connections", icon=":material/bookmarks:")
        except StreamlitAPIException:  # shown outside the wizard's navigation (no Connections page)
            st.caption("Find it on the Connections page.")
        return
    with st.form("save_connection", border=True):
        st.markdown("**Save this connection** to test it again later, or to share its settings with your team "
                    "(its secrets are stored encrypted and never shown again).")
        name = st.text_input("Name", max_chars=NAME_MAX, key="save_name", placeholder="e.g. Sales warehouse (read)")
        description = st.text_area("Description (optional)", key="save_description", height=68)
        submitted = st.form_submit_button("Save", icon=":material/bookmark_add:", type="primary")
    if not submitted:
        return
    if not name.strip():
        st.error("Give the connection a name.", icon=":material/edit:")
        return
    try:
        saved = client().create_saved(name, description.strip() or None, connection)
    except ApiProblem as problem:
        if problem.kind == "invalid" and problem.details:
            for field, texts in problem.details.items():
                where = "Name" if field == "name" else field.removeprefix("connection.")
                st.error(f"**{escape_md(where)}**: {escape_md(' '.join(texts))}", icon=":material/error:")
            return
        show_problem(problem, retry_label=None)
        return
    st.session_state[JUST_SAVED] = {"fingerprint": fingerprint(connection), "name": saved.get("name"), "id": saved.get("id")}
    st.rerun()


# --- the Connections page's pieces ---------------------------------------------------------------


def target_of(connection: dict[str, Any]) -> str:
    """Where a connection points, in a few characters: ``host:port/database``, a bucket, an account."""
    host, port = connection.get("host"), connection.get("port")
    if host:
        where = f"{host}:{port}" if port else str(host)
        database = connection.get("database")
        return f"{where}/{database}" if database else where
    for name in ("bucket", "storage_account_name", "storage_container_name"):
        if connection.get(name):
            return str(connection[name])
    return ""


def ago(stamp: str | None, now: datetime | None = None) -> str:
    """``2026-12-03T07:40:00.123Z`` → "3 min ago" (the date itself past a week)."""
    if not stamp:
        return ""
    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return stamp
    seconds = ((now or datetime.now(tz=UTC)) - when).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    if seconds < 7 * 86400:
        return f"{int(seconds // 86400)} d ago"
    return when.strftime("%Y-%m-%d")


def last_verdict(item: dict[str, Any]) -> str:
    """The last test in words: mark, title and when; or that it was never tested."""
    last = item.get("last_test")
    if not isinstance(last, dict):
        return ":gray[:material/radio_button_unchecked: Not tested since it was saved or changed]"
    mark = KIND_MARK.get(str(last.get("kind")), ":gray[:material/help:]")
    return f"{mark} {escape_md(str(last.get('title') or last.get('code')))} :gray[· {ago(last.get('at'))}]"


def without_secrets(value: Any, mask: str) -> Any:
    """A copy with every stored secret (the API's ``mask``) as null: what an export may carry."""
    if isinstance(value, dict):
        return {k: without_secrets(v, mask) for k, v in value.items()}
    if isinstance(value, list):
        return [without_secrets(v, mask) for v in value]
    return None if value == mask else value


def export_json(items: list[dict[str, Any]], mask: str) -> str:
    """The connections as JSON bodies ready for ``POST /api/v1/database_connections/`` (secrets left out)."""
    bodies = [
        {"name": item.get("name"), "description": item.get("description"),
         "connection": without_secrets(item.get("connection"), mask)}
        for item in items
    ]
    return json.dumps(bodies, indent=2, ensure_ascii=False)
