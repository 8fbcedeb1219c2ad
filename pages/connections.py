"""Connections: the user's saved connections, their last verdict and when; test again, edit, delete, export."""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.api_client import ApiProblem
from components.form import escape_md
from components.health import load_health, render_health
from components.saved import export_json, last_verdict, target_of
from components.session import client, require_metadata, show_problem
from components.verdict import LiveTimeline

PAGE_SIZE = 50
SEARCH = "saved_search"
PAGE = "saved_page"
CONFIRM = "saved_confirm_delete"
FLASH = "saved_flash"
RUNNING = "saved_running"
"""The id of the saved connection whose test runs now (its card shows the stages, the time, Cancel)."""
CONNECT_PAGE = "pages/connect.py"

st.title("Saved connections", anchor=False)
st.caption("Your connections, kept with their secrets encrypted. Nobody else sees them. "
           "Save a new one from the **Connect** page after a successful test.")

api = client()
meta = require_metadata()
label = meta.forms.label


def _search_changed() -> None:
    st.session_state[PAGE] = 1


search = st.text_input("Search by name", key=SEARCH, on_change=_search_changed, placeholder="Search by name",
                       label_visibility="collapsed", icon=":material/search:")
page = int(st.session_state.get(PAGE, 1))
try:
    listing = api.list_saved(search.strip() or None, page, PAGE_SIZE)
except ApiProblem as problem:
    show_problem(problem, retry_label="Load again", key="retry-saved")
    st.stop()

flash = st.session_state.pop(FLASH, None)
if isinstance(flash, tuple):
    kind, text = flash
    (st.success if kind == "success" else st.warning if kind == "warning" else st.error)(text)

items: list[dict[str, Any]] = listing["results"]
count = int(listing.get("count") or 0)
if not items:
    st.info("No saved connection matches this search." if search.strip() else
            "No saved connection yet. Test a connection on the **Connect** page, then press **Save**.",
            icon=":material/bookmarks:")
    st.page_link(CONNECT_PAGE, label="Go to Connect", icon=":material/cable:")
    st.stop()


def start_test(item: dict[str, Any]) -> None:
    """on_click of **Test**: the test runs on the next run, inside the connection's card."""
    st.session_state[RUNNING] = str(item["id"])


def cancel_test(item: dict[str, Any]) -> None:
    """on_click of **Cancel**: the click stops the running script, which closes the stream (the API cancels the test)."""
    st.session_state.pop(RUNNING, None)
    st.session_state[FLASH] = ("warning", f"**{escape_md(item['name'])}**: test cancelled. Nothing was kept from it.")


def run_test(item: dict[str, Any]) -> None:
    """The saved connection's test, streamed into its card: each stage as it settles, the time waited, Cancel."""
    label = f"Testing {item['name']}"
    with st.container(border=True, key="saved-running"):
        clock = st.empty()
        st.button("Cancel", icon=":material/stop_circle:", key="saved-cancel", on_click=cancel_test, args=(item,))
        slot = st.empty()
    timeline = LiveTimeline(slot, clock, label, max(api.test_timeout_s - 5, 1))
    timeline.tick()
    try:
        reply = api.test_stream(None, timeline, tick=timeline.tick, saved_id=str(item["id"]))
    except ApiProblem as problem:
        st.session_state[FLASH] = ("error", f"**{escape_md(item['name'])}**: {escape_md(problem.title)}. "
                                            f"{escape_md(problem.body)}")
        return
    message = reply.message
    kind = "success" if message.get("kind") == "success" else "warning" if message.get("kind") == "warning" else "error"
    st.session_state[FLASH] = (kind, f"**{escape_md(item['name'])}**: {escape_md(str(message.get('title')))}")


def delete(item: dict[str, Any]) -> None:
    st.session_state.pop(CONFIRM, None)
    try:
        api.delete_saved(str(item["id"]))
    except ApiProblem as problem:
        st.session_state[FLASH] = ("error", f"{escape_md(problem.title)}. {escape_md(problem.body)}")
        return
    st.session_state[FLASH] = ("success", f"Deleted **{escape_md(item['name'])}**.")


health = load_health(api)  # state, since, expiries, monitor (components/health.py)
for item in items:
    connection_id = str(item["id"])
    with st.container(border=True, key=f"saved-{connection_id}"):
        head, when = st.columns([3, 2])
        connector = label(str(item.get("connector_type")))
        where = target_of(item.get("connection") or {})
        head.markdown(f"**{escape_md(str(item['name']))}**  \n:gray[{escape_md(connector)}"
                      f"{' · ' + escape_md(where) if where else ''}]")
        when.markdown(last_verdict(item))
        if item.get("description"):
            st.caption(escape_md(str(item["description"])))
        render_health(api, item, health.get(connection_id))
        test_col, edit_col, delete_col = st.columns(3, vertical_alignment="center")
        test_col.button("Test again" if item.get("last_test") else "Test", key=f"test-{connection_id}",
                        icon=":material/play_arrow:", on_click=start_test, args=(item,), width="stretch",
                        disabled=st.session_state.get(RUNNING) is not None)
        edit_col.page_link(CONNECT_PAGE, label="Edit", icon=":material/edit:", query_params={"connection": connection_id},
                           width="stretch")
        delete_col.button("Delete", key=f"delete-{connection_id}", icon=":material/delete:", width="stretch",
                          on_click=lambda cid=connection_id: st.session_state.__setitem__(CONFIRM, cid))
        if st.session_state.get(RUNNING) == connection_id:
            run_test(item)
            st.session_state.pop(RUNNING, None)
            st.rerun()  # the card, its last verdict and the flash, from the kept result
        if st.session_state.get(CONFIRM) == connection_id:
            st.warning(f"Delete **{escape_md(str(item['name']))}**? Its stored secrets are erased; this cannot be undone.",
                       icon=":material/warning:")
            yes, no = st.columns(2)
            yes.button("Yes, delete", key=f"confirm-{connection_id}", type="primary", on_click=delete, args=(item,),
                       width="stretch")
            no.button("Cancel", key=f"cancel-{connection_id}", width="stretch",
                      on_click=lambda: st.session_state.pop(CONFIRM, None))

pages = max(1, -(-count // PAGE_SIZE))
if pages > 1:
    back, where_col, forward = st.columns([1, 2, 1])
    back.button("Previous", key="saved-previous", disabled=page <= 1, icon=":material/chevron_left:",
                on_click=lambda: st.session_state.__setitem__(PAGE, page - 1))
    where_col.caption(f"Page {page} of {pages} · {count} connections")
    forward.button("Next", key="saved-next", disabled=page >= pages, icon=":material/chevron_right:",
                   on_click=lambda: st.session_state.__setitem__(PAGE, page + 1))

st.download_button("Export as JSON (without secrets)", export_json(items, require_metadata().forms.mask), file_name="connections.json",
                   mime="application/json", icon=":material/download:", key="saved-export", on_click="ignore")
