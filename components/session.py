"""Per-browser-session state: the API client, the metadata, and the messages for every API problem.

Everything a page needs from the API goes through here, once per session (``st.session_state``),
never through a cache shared between sessions: the API may require a login, and one user's
session must not answer another's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import streamlit as st

from components.api_client import SESSION_COOKIE, ApiClient, ApiProblem
from components.metadata import Forms, endpoints, parse_forms

CLIENT = "api_client"
METADATA = "metadata"
FUNCTIONALITIES = "functionalities"
NEEDS_LOGIN = "needs_login"
DEAD_COOKIE = "dead_session_cookie"
TEST_RESULT = "test_result"
"""The Connect page's last test result (dropped by every new Test: a clean slate)."""
RUN_TEST = "run_test"
"""Set to run a test on the Connect page's next run (the Test button, the one-click TLS fix)."""
SAVED = "saved_connection"
"""The saved connection open in the Connect page's form: ``{"id", "name", "connection", "version"}``."""
UNSAVED = "unsaved_changes"
"""The name of the open saved connection while the form holds changes not saved yet (other pages say so)."""
PERSON_KEYS = (TEST_RESULT, RUN_TEST, SAVED, UNSAVED, "last_request", "live_capabilities", "live_schema",
               "saved_connection_note", "connector", "direction", "uri_note", "conflict", "confirm_new", "save_refused",
               "changes_saved", "flags_shown")
"""What one person typed, chose and got, beyond the form's own widgets: forgotten at log-out and New connection."""


GO_TO = "go_to"
"""The page the navigation asked for while the form's page runs once more (``app.py``)."""


def stop_for_a_click() -> None:
    """End this run at once if the browser has asked for another run meanwhile (a click on **Cancel**, or anywhere).

    A click outside the running ``st.fragment`` stops the run by itself: Streamlit raises at the run's next
    element. A click on a widget *inside* it does not: Streamlit queues the fragment's next run behind this one
    (``_fragment_run_should_not_preempt_script`` in ``streamlit/runtime/scriptrunner_utils/script_requests.py``),
    so **Cancel** during the Connect page's test would wait for the verdict. Called while a test waits (each
    tick and stage), this ends the run when such a queued run waits, so that it — the click's — runs now (any
    other pending run stops this one by itself). The pending request is read from Streamlit's private
    ``ScriptRequests._state`` and ``_rerun_data`` (Streamlit is pinned in the lock); if they are not there, the only
    loss is the early stop.
    """
    from streamlit.runtime.scriptrunner import RerunData, StopException, get_script_run_ctx
    from streamlit.runtime.scriptrunner_utils.script_requests import ScriptRequestType

    ctx = get_script_run_ctx(suppress_warning=True)
    requests = ctx.script_requests if ctx is not None else None
    pending = getattr(requests, "_rerun_data", None)
    if (getattr(requests, "_state", None) is ScriptRequestType.RERUN and isinstance(pending, RerunData)
            and pending.fragment_id_queue and not pending.is_fragment_scoped_rerun):
        raise StopException()


def leave_if_asked() -> None:
    """Go to the page the navigation asked for, once this page has kept what it holds."""
    going = st.session_state.pop(GO_TO, None)
    if going is not None:
        st.switch_page(going)


def forget_person() -> None:
    """A clean slate: every value typed (secrets included), the open saved connection, the last results."""
    from components.form import clear_form_state

    clear_form_state(*PERSON_KEYS)


def embedded_api_url() -> str:
    """The API served beside this UI by ``streamlit run app.py`` (see ``backend/embed.py``)."""
    from streamlit import config

    address = str(config.get_option("server.address") or "").strip()
    port = int(config.get_option("server.port") or 8501)
    scheme = "https" if config.get_option("server.sslCertFile") else "http"
    if address in ("", "0.0.0.0", "::", "localhost") or address.startswith("unix://"):
        address = "127.0.0.1"
    host = f"[{address}]" if ":" in address else address
    return f"{scheme}://{host}:{port}"


def _settings() -> tuple[str | None, float]:
    """``WIZARD_API_URL`` and ``WIZARD_TEST_TIMEOUT_S``, from the embedding entry point (not the backend's settings)."""
    from backend.embed import ui_settings

    found = ui_settings()
    return found.api_url, found.test_timeout_s


def client() -> ApiClient:
    """This session's API client (created on first use), logged in with the browser's session cookie if any."""
    found = st.session_state.get(CLIENT)
    if not isinstance(found, ApiClient):
        url, test_timeout = _settings()
        found = ApiClient(base_url=(url or embedded_api_url()).rstrip("/"), test_timeout_s=test_timeout + 5.0)
        st.session_state[CLIENT] = found
    if not found.authenticated and embedded(found):
        cookie = browser_session()
        if cookie and cookie != st.session_state.get(DEAD_COOKIE):
            # The browser's own login (set by the login page's hand-off): a reload or a second tab.
            found.session_id = cookie
            try:
                found.user = found.whoami()  # also fetches the session's CSRF token
            except ApiProblem:
                found.session_id = None  # the API is down: the page says so when it asks for data
            else:
                if found.user is None:
                    st.session_state[DEAD_COOKIE] = cookie
                    found.session_id = found.csrf_token = None
    return found


def embedded(api: ApiClient) -> bool:
    """Whether the API is the one served beside this UI (same origin: the browser's cookie is its cookie)."""
    return api.base_url == embedded_api_url()


def browser_address(api: ApiClient) -> dict[str, str] | None:
    """For the login through the embedded API: the browser's address, with the proof that only this
    process can make (backend/security/auth/throttle.py), so the login throttle counts each browser apart."""
    if not embedded(api):
        return None
    try:
        from backend.embed import browser_headers

        address = st.context.ip_address
    except Exception:  # noqa: BLE001 - no browser, or no backend in this install: the UI's own address counts
        return None
    return browser_headers(address) or None


def browser_session() -> str | None:
    """The ``sessionid`` cookie the browser sent with this session's connection (HttpOnly: never seen by scripts)."""
    try:
        value = st.context.cookies.get(SESSION_COOKIE)
    except Exception:  # noqa: BLE001 - no browser (e.g. a bare script run): no cookie
        return None
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Metadata:
    forms: Forms
    """``GET …/forms/``: everything the form needs (types, bounds, labels, stage words, the mask)."""


ENDPOINTS = "endpoints"


def metadata() -> Metadata:
    """The ``forms/`` document, fetched once per session; raises :class:`ApiProblem`."""
    found = st.session_state.get(METADATA)
    if isinstance(found, Metadata):
        return found
    made = Metadata(parse_forms(client().forms()))
    st.session_state[METADATA] = made
    st.session_state.pop(NEEDS_LOGIN, None)
    return made


def api_endpoints() -> list[tuple[str, str, str, str]]:
    """Every operation of the OpenAPI document (the API page's list), read once per session; raises :class:`ApiProblem`."""
    found = st.session_state.get(ENDPOINTS)
    if isinstance(found, list) and found:
        return found
    listed = endpoints(client().openapi())
    st.session_state[ENDPOINTS] = listed
    return listed


def functionalities(connector_type: str) -> list[dict[str, Any]]:
    cache: dict[str, list[dict[str, Any]]] = st.session_state.setdefault(FUNCTIONALITIES, {})
    if connector_type not in cache:
        cache[connector_type] = client().functionalities(connector_type)
    return cache[connector_type]


def forget_data() -> None:
    for key in (METADATA, FUNCTIONALITIES, ENDPOINTS):
        st.session_state.pop(key, None)


def require_login() -> None:
    """The API answered 401: forget the data and credentials, and show the login page."""
    api = client()
    if api.session_id and api.session_id == browser_session():
        st.session_state[DEAD_COOKIE] = api.session_id  # ended or expired: not to be picked up again
    api.session_id = api.csrf_token = api.token = api.user = None
    forget_data()
    st.session_state[NEEDS_LOGIN] = True


ICONS = {
    "down": ":material/cloud_off:",
    "timeout": ":material/hourglass_empty:",
    "busy": ":material/hourglass_top:",
    "throttled": ":material/speed:",
}


def show_problem(problem: ApiProblem, *, retry_label: str | None = "Try again", key: str = "retry") -> None:
    """One clear message for any API problem, with a way forward."""
    if problem.kind == "unauthenticated":
        require_login()
        st.rerun()
    text = f"**{problem.title}**\n\n{problem.body}"
    if problem.kind in ("busy", "throttled", "timeout"):
        st.warning(text, icon=ICONS[problem.kind])
    else:
        st.error(text, icon=ICONS.get(problem.kind, ":material/error:"))
    if retry_label and st.button(retry_label, key=key, icon=":material/refresh:"):
        forget_data()
        st.rerun()


def require_metadata() -> Metadata:
    """The metadata, or a clear message and a retry button (and the page stops there)."""
    try:
        return metadata()
    except ApiProblem as problem:
        st.error("The list of connectors could not be loaded, so the form cannot be shown yet.", icon=":material/list_alt:")
        show_problem(problem, retry_label="Load again")
        st.stop()
        raise  # unreachable: st.stop() ends the run
