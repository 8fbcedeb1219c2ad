"""Log in: shown when the API answers 401 (a session cookie via POST /api/v1/auth/, or a bearer token)."""

from __future__ import annotations

import streamlit as st

from components.api_client import ApiProblem
from components.session import client, forget_data

st.title("Log in", anchor=False)
st.caption("The wizard's API asks who you are before it tests connections.")

api = client()
with st.form("login", border=True):
    username = st.text_input("User name", key="login_username", autocomplete="username")
    password = st.text_input("Password", type="password", key="login_password", autocomplete="current-password")
    submitted = st.form_submit_button("Log in", type="primary", icon=":material/login:", width="stretch")

st.caption(
    "On a fresh wizard the first user is `admin` (or `WIZARD_ADMIN_USERNAME`); its password is "
    "`WIZARD_ADMIN_PASSWORD`, or the one printed once in the console where the wizard started."
)

if submitted:
    if not username.strip() or not password:
        st.error("Enter both your user name and your password.", icon=":material/error:")
    else:
        try:
            api.login(username.strip(), password)
        except ApiProblem as problem:
            st.error(f"**{problem.title}**\n\n{problem.body}", icon=":material/lock:")
        else:
            forget_data()
            st.session_state.pop("needs_login", None)
            st.rerun()

with st.expander("Use a bearer token instead", icon=":material/key:"):
    st.caption("A token from your organisation's identity provider (OIDC). It stays in this browser session.")
    token = st.text_input("Bearer token", type="password", key="login_token")
    if st.button("Use this token", key="use_token", disabled=not token):
        try:
            who = api.use_token(token)
        except ApiProblem as problem:
            st.error(f"**{problem.title}**\n\n{problem.body}", icon=":material/lock:")
        else:
            if who is None:
                api.token = None
                st.error("The API did not accept this token.", icon=":material/lock:")
            else:
                forget_data()
                st.session_state.pop("needs_login", None)
                st.rerun()
