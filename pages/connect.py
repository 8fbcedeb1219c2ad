"""Connect: choose what to connect to, fill in the form the API describes, press Test, read the verdict.

Every Test starts from a clean slate: the **Test** button's callback drops the last result before
the page is drawn again, so no old flag or verdict is on screen while the new test runs. A
running test shows the time it has waited and a **Cancel** button; cancelling closes the test's
stream, which cancels the test on the server.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from components.api_client import ApiProblem, TestReply
from components.capabilities import forget_live_answer
from components.form import (
    Form,
    enter_runs_test,
    escape_md,
    fingerprint,
    fingerprints,
    hook_key,
    masked,
    render_form,
    widget_key,
)
from components.metadata import ConnectorInfo, connector_section, connector_types, path_label
from components.session import RUN_TEST as RUN
from components.session import SAVED, UNSAVED, client, forget_person, leave_if_asked, require_metadata, show_problem
from components.session import TEST_RESULT as RESULT
from components.verdict import LiveTimeline, render_timeline, render_verdict, stages_of, unverified_tls

LAST_REQUEST = "last_request"
CONNECTOR = "connector"
CONFLICT = "conflict"
CONFIRM_NEW = "confirm_new"

meta = require_metadata()
forms = meta.forms
api = client()


def prefill(connection: dict[str, Any]) -> str | None:
    """Put a connection body's values into the form's widgets (before they are drawn); returns its type."""
    ct = connection.get("connector_type")
    if not isinstance(ct, str) or ct not in forms.connectors:
        return None
    sources = connector_types(forms, True)
    destination = connection.get("is_source") is False or ct not in sources
    st.session_state["direction"] = "destination" if destination else "source"
    st.session_state[CONNECTOR] = ct
    for key in [k for k in st.session_state if str(k).startswith(f"choice-{ct}-")]:
        del st.session_state[key]  # re-picked from the values below (password or key, …)
    for name, value in connection.items():
        if name in ("connector_type", "is_source") or value is None:
            continue
        if name == "hooks_params" and isinstance(value, dict):
            for hook, fields in value.items():
                if not isinstance(fields, dict):
                    continue
                st.session_state[hook_key(ct, hook)] = True
                for field, inner in fields.items():
                    if inner is not None:
                        st.session_state[widget_key(ct, f"hooks_params.{hook}.{field}")] = inner
            continue
        st.session_state[widget_key(ct, name)] = value
    st.session_state.pop(RESULT, None)
    return ct


def open_saved() -> None:
    """``?connection=<id>``: open a saved connection in the form (its stored secrets stay on the server)."""
    wanted = st.query_params.get("connection")
    if not wanted or (st.session_state.get(SAVED) or {}).get("id") == wanted:
        return
    try:
        saved = api.saved_connection(wanted)
    except ApiProblem as problem:
        show_problem(problem, retry_label=None)
        return
    forget_person()  # another connection's values (its hooks, stored secrets) never carry over
    open_connection(wanted, saved)


def open_connection(connection_id: str, saved: dict[str, Any]) -> None:
    """Fill the form with a saved connection as the API gave it (its secrets as the mask) and remember its version."""
    connection = saved.get("connection") if isinstance(saved.get("connection"), dict) else {}
    if prefill(dict(connection or {})):
        st.session_state[SAVED] = {"id": connection_id, "name": saved.get("name"), "connection": connection,
                                   "version": saved.get("version")}


def fill_from_uri() -> None:
    """on_click of **Fill the form**: the API reads the pasted URI (``parse_uri/``); its answer fills the form."""
    text = str(st.session_state.get("uri_text") or "")
    st.session_state["uri_text"] = ""  # a URI may hold a password: do not keep it on screen
    try:
        parsed = api.parse_uri(text)
    except ApiProblem as problem:
        said = " ".join(" ".join(v) for v in (problem.details or {}).values()) or problem.body or problem.title
        st.session_state["uri_note"] = ("error", said)
        return
    connection: dict[str, Any] = parsed["connection"]
    ct = prefill(connection)
    if ct is None:
        st.session_state["uri_note"] = ("error", "This connection string is for a connector this wizard does not offer.")
        return
    filled = [path_label(forms, ct, k) for k in connection if k not in ("connector_type", "is_source")]
    note = f"Filled in for {forms.label(ct)}: {', '.join(filled) or 'nothing'}."
    secrets = [spec for spec in connector_section(forms, ct).fields if spec.secret and connection.get(spec.name)]
    if secrets:
        note += f" The {secrets[0].label.lower()} went into its field; the connection string itself is not kept."
    notes = " ".join(str(n) for n in parsed.get("notes") or [])
    st.session_state["uri_note"] = ("success", f"{note} {notes}".strip())


def start_test() -> None:
    """on_click of **Test**: a clean slate before the page is drawn again, then the test runs."""
    st.session_state.pop(RESULT, None)
    forget_live_answer()  # an answer about other settings never stays on screen (nor the schema chosen for it)
    st.session_state[RUN] = True


def cancel_test() -> None:
    """on_click of **Cancel**: the click itself stops the running script, which closes the test's stream."""
    st.session_state["cancelled"] = True


def without_nulls(body: Any) -> Any:
    """A body as the form would send it: fields left empty are left out."""
    if isinstance(body, dict):
        return {k: without_nulls(v) for k, v in body.items() if v is not None}
    return body


def new_connection() -> None:
    """on_click of **New connection**: a clean slate — no field, hook, stored secret or result is kept."""
    forget_person()
    st.query_params.pop("connection", None)


def ask_new_connection() -> None:
    """on_click of **New connection** while a saved connection has unsaved changes: ask first."""
    st.session_state[CONFIRM_NEW] = True


def reload_saved() -> None:
    """on_click of **Reload it** after a 412: the connection as it is now, the user's edits dropped."""
    conflict = st.session_state.pop(CONFLICT, None) or {}
    latest = conflict.get("latest")
    if isinstance(latest, dict):
        forget_person()
        open_connection(str(latest.get("id")), latest)


def changed_fields(before: dict[str, Any], after: dict[str, Any], prefix: str = "") -> list[str]:
    """Field paths whose value differs between two connection bodies (hooks included)."""
    found: list[str] = []
    for name in dict.fromkeys([*before, *after]):
        old, new = before.get(name), after.get(name)
        if isinstance(old, dict) or isinstance(new, dict):
            found += changed_fields(old if isinstance(old, dict) else {}, new if isinstance(new, dict) else {},
                                    f"{prefix}{name}.")
        elif old != new:
            found.append(f"{prefix}{name}")
    return found


def picker_label(connector_type: str) -> str:
    info: ConnectorInfo | None = forms.connectors.get(connector_type)
    group = "Storage" if info is not None and info.category == "storage" else "Database"
    return f"{forms.label(connector_type)}  ·  {group}"


open_saved()
st.title("Test a connection", anchor=False)
st.caption("Choose what you connect to, fill in the details, and press **Test** (or Enter in a field). "
           "Required fields say so under them.")

saved_now: dict[str, Any] | None = st.session_state.get(SAVED)
# Always drawn, so that what it holds never shifts the form below (a field redrawn loses its focus).
actions = st.container(key="form_actions")
if saved_now:
    left, right = actions.columns([4, 1], vertical_alignment="center")
    left.info(f"Editing the saved connection **{escape_md(str(saved_now.get('name') or ''))}**. "
              "Its stored passwords and keys are kept: their fields show dots in their place (the secrets never come "
              "back to this page) — leave them as they are to keep them, or type a new one.", icon=":material/bookmark:")
    dirty = bool(st.session_state.get(UNSAVED))
    right.button("New connection", on_click=ask_new_connection if dirty else new_connection, key="leave_saved",
                 width="stretch", icon=":material/add:")
    if st.session_state.get(CONFIRM_NEW):
        actions.warning(f"**{escape_md(str(saved_now.get('name') or ''))}** has changes you have not saved. "
                   "Start a new connection anyway and lose them?", icon=":material/warning:")
        yes, no = actions.columns(2)
        yes.button("Discard the changes", key="confirm_new_yes", on_click=new_connection, width="stretch")
        no.button("Keep editing", key="confirm_new_no", on_click=lambda: st.session_state.pop(CONFIRM_NEW, None),
                  width="stretch")
elif any(str(k).startswith("w-") and st.session_state.get(k) not in (None, "") for k in st.session_state):
    actions.button("New connection", on_click=new_connection, key="new_connection", icon=":material/add:",
                   help="Clear every field and start again")

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
choices = connector_types(forms, is_source)
if not choices:
    st.warning("The API offers no connector for this direction yet.", icon=":material/block:")
    leave_if_asked()
    st.stop()
if st.session_state.get(CONNECTOR) not in (None, *choices):
    # Only a choice the other direction does not offer is reset. Setting the picker's value tells the browser to
    # show it: a None set on every run without a choice reached the browser after a choice made meanwhile (the
    # answer to "Write data to it", clicked just before) and emptied the picker while this run drew the form.
    st.session_state[CONNECTOR] = None
connector_type: str | None = st.selectbox(
    "Connect to",
    choices,
    key=CONNECTOR,
    index=None,
    placeholder="Type to search: " + ", ".join(
        dict.fromkeys(forms.label(t) for t in choices[:1] + [t for t in choices if forms.connectors[t].category == "storage"][:1])
    ) + "…",
    format_func=picker_label,
    persist_state="session",
)

examples = [info.uri_example for info in forms.connectors.values() if info.uri_example]
# The example in the empty box is the chosen connector's own (else the first the API lists).
chosen = forms.connectors.get(connector_type or "")
example = chosen.uri_example if chosen and chosen.uri_example else (examples[0] if examples else None)
with st.expander("Have a connection string? Paste it to fill the form", icon=":material/link:"):
    st.text_input(
        "Connection string",
        key="uri_text",
        type="password",
        live="0ms",
        on_change="ignore",
        placeholder=example,
        help="For example " + ", ".join(examples) + " (each also with jdbc: in front). A password in it goes "
        "into the password field; the string itself is not kept." if examples else None,
    )
    st.button("Fill the form", on_click=fill_from_uri, icon=":material/input:", key="uri_fill")
    note = st.session_state.pop("uri_note", None)
    if note:
        (st.success if note[0] == "success" else st.error)(escape_md(note[1]))

if connector_type is None:
    st.info("Choose a database or a storage service above, or paste a connection string.", icon=":material/arrow_upward:")
    leave_if_asked()
    st.stop()

# --- the form ------------------------------------------------------------------------------------

previous: dict[str, Any] | None = st.session_state.get(RESULT)
if previous and previous.get("connector_type") != connector_type:
    previous = None
    st.session_state.pop(RESULT, None)
flags = ((previous or {}).get("message") or {}).get("details") or {}
if ((previous or {}).get("message") or {}).get("code") == "CONNECTION_SUCCESSFUL":
    flags = {}  # a working connection flags nothing red; an unchecked certificate is said under the verdict
flags = {str(k).removeprefix("connection."): v for k, v in flags.items()} if isinstance(flags, dict) else {}


def still_as_tested(path: str) -> bool:
    """Whether a flagged field still holds the value the test sent (a changed field loses its old flag)."""
    key = widget_key(str(connector_type), path)
    if key not in st.session_state:
        return True  # a section's flag (hooks_params.SSL), not a field's
    sent: dict[str, str] = (previous or {}).get("sent") or {}
    now = st.session_state.get(key)
    if now in (None, ""):
        return path not in sent
    return sent.get(path) == fingerprint(now)


flags = {path: messages for path, messages in flags.items() if still_as_tested(path)}

st.header(forms.label(connector_type), anchor=False, divider="gray")
form = render_form(connector_type, is_source, forms, flags=flags)
enter_runs_test()
# Only the masked copy is kept for the API page: the secrets stay in the widgets' own state.
st.session_state[LAST_REQUEST] = masked(form.body, form.secret_paths)
leave_if_asked()
uses_stored = any(form.value(path) == forms.mask for path in form.secret_paths)
stored_body = without_nulls({**saved_now["connection"], "is_source": is_source}) if saved_now else None
if saved_now and form.body != stored_body:
    st.session_state[UNSAVED] = str(saved_now.get("name") or "")
else:
    st.session_state.pop(UNSAVED, None)

buttons = st.container(horizontal=True)
# A running test draws into its own slot and empties the result's slot first: Streamlit keeps the elements
# of the last run on screen until the new run has drawn over them, so an old verdict would sit under a new
# test until it ended. (Emptying a slot and drawing a container into it at once is merged into one update,
# which keeps the old children: hence two slots.)
running_slot = st.empty()
below = st.empty()
buttons.button("Test", type="primary", icon=":material/play_arrow:", key="test", on_click=start_test)
if saved_now:
    save_changes = buttons.button("Save changes", icon=":material/save:", key="save_changes")
else:
    save_changes = False


def run_test(form: Form) -> dict[str, Any] | None:
    """Run the test, live; returns the result to keep (None: nothing ran)."""
    connector_type = form.connector_type
    info = forms.connectors.get(connector_type)
    target = ":".join(str(form.value(f)) for f in (info.target_fields if info else ()) if form.value(f))
    label = f"Testing {forms.label(connector_type)}" + (f" at {target}" if target else "")
    if uses_stored:
        below.empty()
        if saved_now and form.body == stored_body:
            with running_slot.container(), st.spinner(f"{label}…"):
                answer = api.test_saved(saved_now["id"])
            return {"connector_type": connector_type, "message": answer.message, "live": {}, "running": None,
                    "sent": fingerprints(form.body)}
        running_slot.warning("You changed settings of a connection whose password or key is stored. Type the password or "
                   "key again to test these settings, or **Save changes** first.", icon=":material/key:")
        return None
    below.empty()  # the old verdict goes now; only this delta writes the slot during the test
    with running_slot.container(border=True, key="running"):
        clock = st.empty()
        st.button("Cancel", icon=":material/stop_circle:", key="cancel", on_click=cancel_test)
        slot = st.empty()
    timeline = LiveTimeline(slot, clock, label, max(api.test_timeout_s - 5, 1))
    timeline.tick()
    try:
        reply: TestReply = api.test_stream(form.body, timeline, tick=timeline.tick)
    except ApiProblem as problem:
        if problem.kind == "unauthenticated":
            show_problem(problem)
        return {"connector_type": connector_type,
                "problem": {"kind": problem.kind, "title": problem.title, "body": problem.body}}
    return {"connector_type": connector_type, "message": reply.message, "live": timeline.stages,
            "running": timeline.waited_on, "sent": fingerprints(form.body)}


if st.session_state.pop(RUN, False):
    result = run_test(form)
    if result is not None:
        st.session_state[RESULT] = result
        running_slot.empty()
        # Felt speed: the flags go into their slots and the verdict below in this same run (no second rerun of
        # the whole page before the verdict shows); a later rerun draws them the same way from the kept result.
        fresh = (result.get("message") or {}) if "message" in result else {}
        if fresh.get("code") != "CONNECTION_SUCCESSFUL" and isinstance(fresh.get("details"), dict):
            form.flag({str(k).removeprefix("connection."): v for k, v in fresh["details"].items()})

with below.container():
    if st.session_state.pop("cancelled", False):
        st.info("Test cancelled. Nothing was kept from it.", icon=":material/stop_circle:")
    if save_changes and saved_now:
        try:
            updated = api.update_saved(saved_now["id"], {"connection": form.body}, version=saved_now.get("version"))
        except ApiProblem as problem:
            if problem.kind == "conflict":
                current: dict[str, Any] | None
                try:
                    current = api.saved_connection(saved_now["id"])
                except ApiProblem:
                    current = None
                st.session_state[CONFLICT] = {"latest": current}
            else:
                if problem.details:
                    form.flag({k.removeprefix("connection."): v for k, v in problem.details.items()})
                show_problem(problem, retry_label=None)
        else:
            saved_now["connection"] = updated.get("connection") or saved_now["connection"]
            saved_now["version"] = updated.get("version", saved_now.get("version"))
            saved_now["name"] = updated.get("name", saved_now.get("name"))
            st.session_state.pop(UNSAVED, None)
            st.success("Changes saved.", icon=":material/save:")
    conflict = st.session_state.get(CONFLICT)
    if saved_now and isinstance(conflict, dict):
        found_now = conflict.get("latest")
        now_stored: dict[str, Any] = found_now if isinstance(found_now, dict) else {}
        theirs = changed_fields(saved_now["connection"], now_stored.get("connection") or {})
        if now_stored and now_stored.get("name") != saved_now.get("name"):
            theirs.insert(0, "name")
        said = ", ".join(path_label(forms, connector_type, p) if p != "name" else "Name" for p in theirs)
        st.warning("**Someone else changed this connection** since you opened it, so your changes were not saved. "
                   + (f"They changed: {escape_md(said)}. " if said else "")
                   + "Reload it to see their version (your changes here are dropped), then make yours again.",
                   icon=":material/group:")
        st.button("Reload it", key="reload_saved", on_click=reload_saved, icon=":material/refresh:", type="primary")
    # --- the result ----------------------------------------------------------------------------------

    done: dict[str, Any] | None = st.session_state.get(RESULT)
    if done and done.get("connector_type") == connector_type:
        if "message" in done:
            message = done["message"]
            stages = stages_of(message)
            unplaced = [p for p in (message.get("details") or {}) if p.removeprefix("connection.") not in form.slots]
            render_verdict(message, lambda p: path_label(forms, connector_type, p), unplaced)
            render_timeline(stages, "How the test went, step by step", message.get("kind"))
            if unverified_tls(message):
                from components.tls import offer_verification

                offer_verification(connector_type, forms)
            if message.get("code") == "CONNECTION_SUCCESSFUL" and not saved_now:
                from components.saved import render_save

                render_save(form.body)
            if message.get("code") in ("CONNECTION_SUCCESSFUL", "PERMISSION_DENIED") and not is_source and not uses_stored:
                from components.capabilities import render_live_check

                render_live_check(form.body)
        else:
            old = done["problem"]
            show_problem(ApiProblem(old["kind"], old["title"], old["body"]), retry_label=None)
            if old["kind"] in ("busy", "throttled", "timeout"):
                st.caption("Nothing was wrong with your settings: press **Test** again in a moment.")
