"""Logging in and out, and the navigation bar every page shares.

The login form is drawn in place of whatever page was asked for, so a link to any page works
before login too: once logged in, the same address shows the page it names. With the embedded
API the new session is handed to the browser (see ``backend/embed.py``): a reload or a
second tab stays logged in, and logging out ends the session everywhere.
"""

from __future__ import annotations

import html
from urllib.parse import urlencode, urlsplit

import streamlit as st
from streamlit.navigation.page import Page

from components.api_client import ApiProblem
from components.session import NEEDS_LOGIN, browser_address, client, embedded, forget_data, forget_person, require_login

CLEAR_COOKIE = "clear_session_cookie"


def here() -> str:
    """The path and query of the page the browser shows (where to come back to after logging in)."""
    try:
        path = urlsplit(st.context.url or "").path or "/"
    except Exception:  # noqa: BLE001 - no browser context: the start page
        path = "/"
    query = urlencode(st.query_params.to_dict())
    return path + (f"?{query}" if query else "")


def hand_off(ticket: str, next_path: str) -> None:
    """Post the one-time ticket from the browser: the answer sets (or, without a ticket, clears) the session cookie."""
    from backend.embed import HANDOFF_PATH

    st.html(
        f'<form id="wizard-session" method="post" action="{HANDOFF_PATH}">'
        f'<input type="hidden" name="ticket" value="{html.escape(ticket)}">'
        f'<input type="hidden" name="next" value="{html.escape(next_path)}"></form>'
        '<script>document.getElementById("wizard-session").submit();</script>',
        unsafe_allow_javascript=True,
    )


def _logged_in() -> None:
    api = client()
    forget_data()
    st.session_state.pop(NEEDS_LOGIN, None)
    if embedded(api) and api.session_id:
        from backend.embed import issue_ticket

        st.caption("Logged in; opening the page…")
        hand_off(issue_ticket(api.session_id), here())
        st.stop()
    st.rerun()


def render_login() -> None:
    """The login form (a session cookie, or a bearer token), drawn in place of the page asked for."""
    api = client()
    if st.session_state.pop(CLEAR_COOKIE, False) and embedded(api):
        hand_off("", here())  # logged out: the browser forgets the ended session's cookie
    st.title("Log in", anchor=False)
    st.caption("The wizard asks who you are before it tests connections.")
    with st.form("login", border=True):
        username = st.text_input("User name", key="login_username", autocomplete="username")
        password = st.text_input("Password", type="password", key="login_password", autocomplete="current-password")
        submitted = st.form_submit_button("Log in", type="primary", icon=":material/login:", width="stretch")
    st.caption(
        "On a new wizard the first user is **admin**; its password was printed once in the window where the "
        "wizard was started, unless your administrator chose one."
    )
    if submitted:
        if not username.strip() or not password:
            st.error("Enter both your user name and your password.", icon=":material/error:")
        else:
            try:
                api.login(username.strip(), password, headers=browser_address(api))
            except ApiProblem as problem:
                st.error(f"**{problem.title}**\n\n{problem.body}", icon=":material/lock:")
            else:
                _logged_in()

    with st.expander("Use an access token from your organisation instead", icon=":material/key:"):
        st.caption("A bearer token from your organisation's sign-in service (OIDC). It stays in this browser session.")
        token = st.text_input("Access token", type="password", key="login_token")
        if st.button("Use this token", key="use_token", disabled=not token):
            try:
                who = api.use_token(token)
            except ApiProblem as problem:
                st.error(f"**{problem.title}**\n\n{problem.body}", icon=":material/lock:")
            else:
                if who is None:
                    st.error("The wizard did not accept this token.", icon=":material/lock:")
                else:
                    forget_data()
                    st.session_state.pop(NEEDS_LOGIN, None)
                    st.rerun()


def log_out() -> None:
    """on_click of **Log out**: end the session on the server (every tab), then forget it here and in the browser."""
    api = client()
    ended = api.session_id
    api.logout()
    forget_person()  # what this person typed is not left for whoever logs in next in this browser
    require_login()
    if ended:
        st.session_state[CLEAR_COOKIE] = True


def render_navigation(pages: list[Page], current: Page | None = None) -> Page | None:
    """Labelled buttons to every page, visible at any width (no menu to open on a phone), and who is logged in.

    Buttons, not links: a button's click reruns the page it is on first, carrying every value typed there
    (text inputs stage their keystrokes in the browser, see ``components/form.py``); a link would leave for
    the other page without them, and the person would come back to emptied fields. Returns the page asked
    for: the caller switches to it once the current page has run (and kept what it holds).
    """
    api = client()
    wanted: Page | None = None
    with st.container(horizontal=True, key="nav", vertical_alignment="center", gap="small"):
        for page in pages:
            here = current is not None and page.url_path == current.url_path
            if st.button(page.title, icon=page.icon or None, key=f"nav-{page.url_path or 'home'}",
                         type="primary" if here else "tertiary") and not here:
                wanted = page
        if api.authenticated:
            st.space("stretch")
            with st.popover(api.user or "Account", icon=":material/account_circle:"):
                st.caption(f"Logged in as **{api.user or 'you'}**")
                st.button("Log out", icon=":material/logout:", key="logout", on_click=log_out)
    return wanted
