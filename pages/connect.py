"""Connect: choose what to connect to, fill in the form the API describes, press Test, read the verdict.

Every Test starts from a clean slate: the **Test** button's callback drops the last result before
the page is drawn again, so no old flag or verdict is on screen while the new test runs. A
running test shows the time it has waited and a **Cancel** button; cancelling closes the test's
stream, which cancels the test on the server.

The Test button and everything below it are one ``st.fragment`` (:func:`test_and_verdict`): a Test
reruns that part alone, and the verdict is on screen without the whole page being run and sent to
the browser again (``bench/felt_speed.py`` measures it).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

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
FLAGGED = "flags_shown"
"""Whether the page as last drawn shows flags under fields (a new verdict then redraws the whole page)."""
WHOLE_PAGE = "whole_page_run"
"""Set while the whole page runs: the Test button's fragment then runs within it, not alone."""
SAVE_REFUSED = "save_refused"
"""**Save changes** refused naming fields: flagged in place by the next run of the whole page, and said once."""
JUST_SAVED_CHANGES = "changes_saved"
QUIET_S = 0.2
"""A test that ends sooner shows its verdict without a running box before it (``LiveTimeline``)."""

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
    """on_click of **Test**: a clean slate before the page is drawn again, then the test runs.

    The click reruns the Test button's fragment alone (:func:`test_and_verdict`), unless the page shows flags
    under its fields: those go before the test starts, so the whole page is drawn again (``st.rerun()`` in a
    callback makes the click's rerun the whole page's).
    """
    st.session_state.pop(RESULT, None)
    forget_live_answer()  # an answer about other settings never stays on screen (nor the schema chosen for it)
    st.session_state[RUN] = True
    if st.session_state.get(FLAGGED):
        st.rerun()


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
    st.rerun()  # the form is redrawn with the reloaded values: the whole page, not the Test button's fragment


def as_the_form_sends(body: dict[str, Any]) -> dict[str, Any]:
    """A stored body as the form would send it back: empty fields left out, the direction always said
    (a body made through the API without ``is_source`` is a source, as the form shows it)."""
    return {**without_nulls(body), "is_source": body.get("is_source") is not False}


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

refused = st.session_state.get(SAVE_REFUSED)
if isinstance(refused, dict):  # Save changes was refused naming fields: flagged in place, this once
    flags.update({str(k).removeprefix("connection."): v for k, v in (refused.get("details") or {}).items()})

st.header(forms.label(connector_type), anchor=False, divider="gray")
form = render_form(connector_type, is_source, forms, flags=flags)
st.session_state[FLAGGED] = bool(flags)
enter_runs_test()
# Only the masked copy is kept for the API page: the secrets stay in the widgets' own state.
st.session_state[LAST_REQUEST] = masked(form.body, form.secret_paths)
leave_if_asked()


def note_unsaved(body: dict[str, Any], saved: dict[str, Any] | None) -> dict[str, Any] | None:
    """Say (for the other pages) whether the open saved connection has changes not saved; returns its stored body."""
    stored = without_nulls({**saved["connection"], "is_source": is_source}) if saved else None
    if saved and body != stored:
        st.session_state[UNSAVED] = str(saved.get("name") or "")
    else:
        st.session_state.pop(UNSAVED, None)
    return stored


note_unsaved(form.body, saved_now)


def run_test(form: Form, running_slot: DeltaGenerator, below: DeltaGenerator, saved: dict[str, Any] | None,
             stored_body: dict[str, Any] | None) -> dict[str, Any] | None:
    """Run the test, live; returns the result to keep (None: nothing ran)."""
    connector_type = form.connector_type
    info = forms.connectors.get(connector_type)
    target = ":".join(str(form.value(f)) for f in (info.target_fields if info else ()) if form.value(f))
    label = f"Testing {forms.label(connector_type)}" + (f" at {target}" if target else "")
    if any(form.value(path) == forms.mask for path in form.secret_paths):
        below.empty()
        if saved and form.body == stored_body:
            with running_slot.container(), st.spinner(f"{label}…"):
                answer = api.test_saved(saved["id"])
            return {"connector_type": connector_type, "message": answer.message, "live": {}, "running": None,
                    "sent": fingerprints(form.body)}
        running_slot.warning("You changed settings of a connection whose password or key is stored. Type the password or "
                   "key again to test these settings, or **Save changes** first.", icon=":material/key:")
        return None
    below.empty()  # the old verdict goes now; only this delta writes the slot during the test

    def frame() -> tuple[DeltaGenerator, DeltaGenerator]:
        with running_slot.container(border=True, key="running"):
            clock = st.empty()
            st.button("Cancel", icon=":material/stop_circle:", key="cancel", on_click=cancel_test)
            return clock, st.empty()

    # The box with the time waited, the stages and Cancel shows once the test has taken QUIET_S.
    timeline = LiveTimeline(None, None, label, max(api.test_timeout_s - 5, 1), frame=frame, quiet_s=QUIET_S)
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


def save_changes(form: Form, saved: dict[str, Any]) -> None:
    """**Save changes**: ``PATCH`` with the version the connection was opened at; a 412 offers to reload it."""
    try:
        updated = api.update_saved(saved["id"], {"connection": form.body}, version=saved.get("version"))
    except ApiProblem as problem:
        if problem.kind == "conflict":
            current: dict[str, Any] | None
            try:
                current = api.saved_connection(saved["id"])
            except ApiProblem:
                current = None
            st.session_state[CONFLICT] = {"latest": current}
            return
        if problem.details:
            # The fields it names are flagged in place: the form is the page's, so the whole page is drawn again.
            st.session_state[SAVE_REFUSED] = {"details": problem.details, "kind": problem.kind, "title": problem.title,
                                              "body": problem.body}
            st.rerun()
        show_problem(problem, retry_label=None)
        return
    saved["connection"] = updated.get("connection") or saved["connection"]
    saved["version"] = updated.get("version", saved.get("version"))
    saved["name"] = updated.get("name", saved.get("name"))
    st.session_state.pop(UNSAVED, None)
    st.session_state[JUST_SAVED_CHANGES] = True
    st.rerun()  # the whole page: the notes about unsaved changes, and New connection, follow the saved version


@st.fragment
def test_and_verdict(form: Form) -> None:
    """The **Test** button and what it shows: a click on Test reruns this part of the page alone.

    The rest of the page (the navigation, the picker, every field) is neither run nor sent to the browser again:
    on a whole-page rerun that is ~150 elements, whose sending took longer than the test itself
    (``bench/felt_speed.py``). The body is read from the fields' state (``Form.read``), so it holds what was typed
    since the page was drawn. What only a whole page can show — the flags under the fields, a form changed by a
    callback — is drawn by ``st.rerun()`` once the verdict is on screen.
    """
    body, secret_paths = form.read()
    form = replace(form, body=body, secret_paths=secret_paths)
    st.session_state[LAST_REQUEST] = masked(body, secret_paths)
    saved: dict[str, Any] | None = st.session_state.get(SAVED)
    stored_body = note_unsaved(body, saved)

    buttons = st.container(horizontal=True)
    # A running test draws into its own slot and empties the result's slot first: Streamlit keeps the elements
    # of the last run on screen until the new run has drawn over them, so an old verdict would sit under a new
    # test until it ended. (Emptying a slot and drawing a container into it at once is merged into one update,
    # which keeps the old children: hence two slots.)
    running_slot = st.empty()
    below = st.empty()
    buttons.button("Test", type="primary", icon=":material/play_arrow:", key="test", on_click=start_test)
    wants_save = bool(saved) and buttons.button("Save changes", icon=":material/save:", key="save_changes")

    redraw_page = False
    if st.session_state.pop(RUN, False):
        result = run_test(form, running_slot, below, saved, stored_body)
        if result is not None:
            st.session_state[RESULT] = result
            running_slot.empty()
            fresh = (result.get("message") or {}) if "message" in result else {}
            details = fresh.get("details") if fresh.get("code") != "CONNECTION_SUCCESSFUL" else None
            if st.session_state.get(WHOLE_PAGE):  # the fields were drawn by this same run: flag them now
                form.flag({str(k).removeprefix("connection."): v for k, v in (details or {}).items()})
                st.session_state[FLAGGED] = bool(details)
            else:
                # New flags under the fields, or old ones to take away: the fields are the page's, so the whole
                # page is drawn again, right after this run has put the verdict on screen.
                redraw_page = bool(details) or bool(st.session_state.get(FLAGGED))

    with below.container():
        if st.session_state.pop("cancelled", False):
            st.info("Test cancelled. Nothing was kept from it.", icon=":material/stop_circle:")
        if wants_save and saved:
            save_changes(form, saved)
        if st.session_state.pop(JUST_SAVED_CHANGES, False):
            st.success("Changes saved.", icon=":material/save:")
        refusal = st.session_state.pop(SAVE_REFUSED, None)
        if isinstance(refusal, dict):
            show_problem(ApiProblem(refusal["kind"], refusal["title"], refusal["body"]), retry_label=None)
        conflict = st.session_state.get(CONFLICT)
        if saved and isinstance(conflict, dict):
            found_now = conflict.get("latest")
            now_stored: dict[str, Any] = found_now if isinstance(found_now, dict) else {}
            theirs = changed_fields(as_the_form_sends(saved["connection"]),
                                    as_the_form_sends(now_stored.get("connection") or {}))
            if now_stored and now_stored.get("name") != saved.get("name"):
                theirs.insert(0, "name")
            said = ", ".join(path_label(forms, form.connector_type, p) if p != "name" else "Name" for p in theirs)
            st.warning("**Someone else changed this connection** since you opened it, so your changes were not saved. "
                       + (f"They changed: {escape_md(said)}. " if said else "")
                       + "Reload it to see their version (your changes here are dropped), then make yours again.",
                       icon=":material/group:")
            st.button("Reload it", key="reload_saved", on_click=reload_saved, icon=":material/refresh:", type="primary")
        render_result(form, saved)
    if redraw_page:
        st.rerun()


def render_result(form: Form, saved: dict[str, Any] | None) -> None:
    """The last test's verdict (or the problem that kept it from running), and what may follow it."""
    connector_type = form.connector_type
    done: dict[str, Any] | None = st.session_state.get(RESULT)
    if not done or done.get("connector_type") != connector_type:
        return
    if "problem" in done:
        old = done["problem"]
        show_problem(ApiProblem(old["kind"], old["title"], old["body"]), retry_label=None)
        if old["kind"] in ("busy", "throttled", "timeout"):
            st.caption("Nothing was wrong with your settings: press **Test** again in a moment.")
        return
    message = done["message"]
    unplaced = [p for p in (message.get("details") or {}) if p.removeprefix("connection.") not in form.slots]
    render_verdict(message, lambda p: path_label(forms, connector_type, p), unplaced)
    render_timeline(stages_of(message), "How the test went, step by step", message.get("kind"))
    if unverified_tls(message):
        from components.tls import offer_verification

        offer_verification(connector_type, forms)
    if message.get("code") == "CONNECTION_SUCCESSFUL" and not saved:
        from components.saved import render_save

        render_save(form.body)
    uses_stored = any(form.value(path) == forms.mask for path in form.secret_paths)
    if message.get("code") in ("CONNECTION_SUCCESSFUL", "PERMISSION_DENIED") and not is_source and not uses_stored:
        from components.capabilities import render_live_check

        render_live_check(form.body)


st.session_state[WHOLE_PAGE] = True
try:
    test_and_verdict(form)
finally:
    st.session_state.pop(WHOLE_PAGE, None)
