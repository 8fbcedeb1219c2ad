"""Connection Wizard: ``streamlit run app.py`` starts the UI and the API together, in one process.

This file plays two parts:

- ``streamlit run app.py`` finds the ``app = st.App(...)`` assignment below, imports this file as
  the module ``app`` and serves that ASGI app with uvicorn: the Streamlit UI, and the FastAPI
  backend (``backend.main:app``) mounted beside it under ``/api/`` on the same port and origin.
  Why ``st.App`` rather than uvicorn in a thread: see ``backend/embed.py``.
- Streamlit then runs this same file as the UI script (as ``__main__``, once per rerun): the
  navigation between the pages under ``pages/``. The pages reach the API over HTTP only.

``uvicorn backend.main:app`` still serves the API alone; point the UI at such an API with
``WIZARD_API_URL``.
"""

from __future__ import annotations

import streamlit as st

if __name__ == "__main__":

    from components.api_client import ApiProblem
    from components.form import escape_md
    from components.icon import page_icon
    from components.login import render_login, render_navigation
    from components.session import GO_TO, NEEDS_LOGIN, UNSAVED, client, metadata, require_login

    st.set_page_config(
        page_title="Connection Wizard",
        page_icon=page_icon(),
        layout="centered",
        initial_sidebar_state="collapsed",
    )

    api = client()
    if not st.session_state.get(NEEDS_LOGIN):
        try:
            metadata()
        except ApiProblem as problem:
            if problem.kind == "unauthenticated":
                require_login()
            # Any other problem is shown by the page that needs the data, with a retry button.

    pages = [
        st.Page("pages/connect.py", title="Connect", icon=":material/cable:", default=True),
        st.Page("pages/connections.py", title="Connections", icon=":material/bookmarks:"),
        st.Page("pages/capabilities.py", title="Capabilities", icon=":material/table_chart:"),
        # Not "/api": that path is the API itself, served beside the UI on the same origin.
        st.Page("pages/api.py", title="API", icon=":material/code:", url_path="use-the-api"),
    ]
    # Every page is registered whether or not the user is logged in, so a link to any page works
    # in a fresh browser: the login form stands in for the page, and the page follows the login.
    # The links are drawn by render_navigation (labelled and visible at any width) rather than by
    # Streamlit's top bar, which folds into an unlabelled menu on a phone.
    page = st.navigation(pages, position="hidden")
    if st.session_state.get(NEEDS_LOGIN):
        render_login()
    else:
        going = render_navigation(pages, page)
        if st.session_state.get(UNSAVED) and page is not pages[0]:
            st.warning(f"**{escape_md(str(st.session_state[UNSAVED]))}** has changes you have not saved: go back to "
                       "**Connect** and press **Save changes** to keep them.", icon=":material/edit_note:")
        if going is not None and page is not pages[0]:
            st.switch_page(going)
        # Leaving the form's page: it runs once more, so that what was typed there is kept (and the API page's
        # snippet built from it); the page itself then leaves (components.session.leave_if_asked).
        st.session_state[GO_TO] = going
        try:
            page.run()
        finally:
            st.session_state.pop(GO_TO, None)
else:
    from streamlit.runtime.pages_manager import PagesManager

    from backend.embed import api_lifespan, api_routes, security_middleware

    # The pages are declared with st.navigation above. Without this, Streamlit takes the pages/
    # folder for a v1 multipage app until the first st.navigation call of the process, so a first
    # request for /capabilities would run that page alone, without this script.
    PagesManager.uses_pages_directory = False
    app = st.App(__file__, routes=api_routes(), lifespan=api_lifespan, middleware=security_middleware())
