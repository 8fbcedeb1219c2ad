"""The login page, against the live API with authentication on (session cookie + CSRF header)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from components.session import CLIENT
from tests.ui.conftest import LiveAPI, new_app, start_api
from tests.ui.helpers import choose, fill, flags_of, press_test

ADMIN_PASSWORD = "Ui-Admin-Pw-4-Tests!"


@pytest.fixture
def auth_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveAPI]:
    api = start_api(auth_enabled=True, admin_password=ADMIN_PASSWORD, database_url=f"sqlite:///{tmp_path}/w.db")
    monkeypatch.setenv("WIZARD_API_URL", api.url)
    yield api
    api.stop()


def log_in(at: AppTest, username: str, password: str) -> None:
    at.text_input(key="login_username").input(username)
    at.text_input(key="login_password").input(password)
    at.button[0].click().run()


def test_login_then_test_then_logout(auth_api: LiveAPI, closed_port: int) -> None:
    at = new_app()
    assert at.title[0].value == "Log in", "the API answered 401: only the login page"
    assert all(str(w.key).startswith("login_") for w in at.text_input), "no form before login"

    log_in(at, "admin", "wrong-password")
    assert "Wrong user name or password" in at.error[0].value
    assert at.title[0].value == "Log in"

    log_in(at, "admin", ADMIN_PASSWORD)
    assert not at.exception
    assert at.title[0].value == "Test a connection"
    # A cookie-authenticated POST passes the API's CSRF check: the verdict is the test's own.
    choose(at, "PostgreSQLConnector")
    fill(at, "PostgreSQLConnector", {"host": "127.0.0.1", "port": closed_port, "database": "d", "username": "u",
                                     "password": "p"})
    press_test(at)
    assert flags_of(at, "PostgreSQLConnector", "port")
    assert "Logged in as **admin**" in "\n".join(c.value for c in at.caption)

    session = at.session_state[CLIENT].session_id
    me = httpx.get(f"{auth_api.url}/api/v1/auth/", cookies={"sessionid": session}, timeout=10)
    assert me.status_code == 200, "the UI's session is a real API session"

    at.button(key="logout").click().run()
    assert at.title[0].value == "Log in"
    # The session is over on the server (for every tab and browser holding it), not only forgotten here.
    gone = httpx.get(f"{auth_api.url}/api/v1/auth/", cookies={"sessionid": session}, timeout=10)
    assert gone.status_code == 401


@pytest.mark.parametrize(("page", "title"), [("pages/capabilities.py", "What each connector can do"),
                                             ("pages/api.py", "Use the API")])
def test_a_link_to_a_page_shows_the_login_then_that_page(auth_api: LiveAPI, page: str, title: str) -> None:
    at = new_app(page)
    assert at.title[0].value == "Log in", "the login stands in for the page asked for"
    assert not [b for b in at.button if str(b.key).startswith("nav-")], "no navigation before login"
    log_in(at, "admin", ADMIN_PASSWORD)
    assert not at.exception
    assert at.title[0].value == title
    assert {b.label for b in at.button if str(b.key).startswith("nav-")} >= {"Connect", "Capabilities", "API"}
