"""Connect: fill in a connection (any connector, from the metadata), press Test, read the verdict."""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.api_client import ApiProblem
from components.form import masked, render_form, widget_key
from components.metadata import connector_types
from components.names import connector_name
from components.session import client, require_metadata, show_problem
from components.uri import UriError, parse_uri
from components.verdict import LiveTimeline, render_timeline, render_verdict

RESULT = "test_result"
LAST_REQUEST = "last_request"

st.title("Test a connection", anchor=False)
st.caption("Choose what you connect to, fill in the details, and press **Test**. Fields marked :red[\\*] are required.")

meta = require_metadata()
supported = meta.supported

# --- direction and connector ---------------------------------------------------------------------

st.session_state.setdefault("direction", "source")
direction = st.segmented_control(
    "I want to…",
    ["source", "destination"],
    key="direction",
    format_func=lambda v: "Write data to it" if v == "destination" else "Read data from it",
    required=True,
    width="stretch",
    persist_state="session",
)
is_source = direction != "destination"
choices = connector_types(supported, is_source)
if not choices:
    st.warning("The API offers no connector for this direction yet.", icon=":material/block:")
    st.stop()
if st.session_state.get("connector") not in choices:
    st.session_state["connector"] = choices[0]
connector_type: str = st.selectbox(
    "Connect to", choices, key="connector", format_func=connector_name, persist_state="session"
)


# --- paste a URI ---------------------------------------------------------------------------------


def fill_from_uri() -> None:
    """on_click: parse the pasted URI and put its parts into the form (before the widgets exist)."""
    text = str(st.session_state.get("uri_text") or "")
    st.session_state["uri_text"] = ""  # a URI may hold a password: do not keep it on screen
    try:
        parsed = parse_uri(text, supported)
    except UriError as exc:
        st.session_state["uri_note"] = ("error", str(exc))
        return
    ct = parsed.connector_type
    if ct not in connector_types(supported, st.session_state.get("direction") != "destination"):
        st.session_state["direction"] = "destination" if ct in connector_types(supported, False) else "source"
    st.session_state["connector"] = ct
    for path, value in parsed.values.items():
        parts = path.split(".")
        if len(parts) == 3 and parts[0] == "hooks_params":
            st.session_state[f"hook-{ct}-{parts[1]}"] = True
        st.session_state[widget_key(ct, path)] = value
    filled = ", ".join(sorted(parsed.values)) or "nothing"
    note = f"Filled from the URI: {filled}."
    if parsed.unused:
        note += f" Not used (no such field for {connector_name(ct)}): {', '.join(parsed.unused)}."
    st.session_state["uri_note"] = ("success", note)


with st.expander("Have a connection string? Paste it to fill the form", icon=":material/link:"):
    st.text_input(
        "Connection URI",
        key="uri_text",
        type="password",
        placeholder="postgresql://user@host:5432/database",
        help="For example postgresql://user@db.example.com:5432/sales, mysql://…, mssql://…, s3://bucket/folder. "
        "A password in it goes into the password field; the URI itself is not kept.",
    )
    st.button("Fill the form", on_click=fill_from_uri, icon=":material/input:", key="uri_fill")
    note = st.session_state.pop("uri_note", None)
    if note:
        (st.success if note[0] == "success" else st.error)(note[1])

# --- the form ------------------------------------------------------------------------------------

previous: dict[str, Any] | None = st.session_state.get(RESULT)
if previous and previous.get("connector_type") != connector_type:
    previous = None
flags = (previous or {}).get("message", {}).get("details") or {}

st.subheader(connector_name(connector_type), anchor=False, divider="gray")
form = render_form(
    connector_type,
    is_source,
    supported,
    bounds=meta.bounds.get(connector_type),
    flags=flags if isinstance(flags, dict) else {},
)
# Only the masked copy is kept for the API page: the secrets stay in the widgets' own state.
st.session_state[LAST_REQUEST] = masked(form.body, form.secret_paths)

pressed = st.button("Test", type="primary", icon=":material/play_arrow:", key="test", width="stretch")

# --- the result ----------------------------------------------------------------------------------

if pressed:
    api = client()
    target = form.body.get("host") or form.body.get("bucket") or form.body.get("storage_account_name") or ""
    where = f" at {target}" + (f":{form.body['port']}" if target and form.body.get("port") else "")
    testing = f"Testing {connector_name(connector_type)}{where}"
    with st.status(f"{testing}…", expanded=True) as status:
        # One slot for the timeline: the waiting note, then each stage as the API reports it, then the result.
        live = st.empty()
        live.markdown(
            "Checking step by step, from the settings to a first query. "
            f"The wizard gives up after about {max(api.test_timeout_s - 5, 1):g} s."
        )
        timeline = LiveTimeline(live, status, testing)
        try:
            reply = api.test_stream(form.body, timeline)
        except ApiProblem as problem:
            timeline.stop()
            if problem.kind == "unauthenticated":
                show_problem(problem)
            status.update(label=problem.title, state="error", expanded=True)
            st.session_state[RESULT] = {
                "connector_type": connector_type,
                "problem": {"kind": problem.kind, "title": problem.title, "body": problem.body},
                "live_stages": timeline.received,
            }
            show_problem(problem, retry_label=None)
        else:
            render_timeline(reply.message, status, label="Result", slot=live)
            st.session_state[RESULT] = {
                "connector_type": connector_type,
                "message": reply.message,
                "live_stages": timeline.received,
            }
    done = st.session_state[RESULT]
    if "message" in done:
        unplaced = form.flag(done["message"].get("details"))
        render_verdict(done["message"], unplaced)
    elif done["problem"]["kind"] in ("busy", "throttled", "timeout"):
        st.caption("Nothing was wrong with your settings: press **Test** again in a moment.")
elif previous:
    if "message" in previous:
        render_timeline(previous["message"], label="Last result")
        unplaced = [p for p in (previous["message"].get("details") or {}) if p not in form.slots]
        render_verdict(previous["message"], unplaced)
    else:
        old = previous["problem"]
        show_problem(ApiProblem(old["kind"], old["title"], old["body"]), retry_label=None)
