"""Form state belongs to the person (issue 20.1): AppTest against the live API."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from components.form import choice_key, hook_key, widget_key
from tests.conftest import DB
from tests.ui.conftest import LiveAPI, new_app
from tests.ui.helpers import choose, curl_body, fill, press_test, toggle_hook

pytestmark = pytest.mark.usefixtures("ui_env")
PG = "PostgreSQLConnector"
CONNECT, CAPABILITIES, API, CONNECTIONS = "pages/connect.py", "pages/capabilities.py", "pages/api.py", "pages/connections.py"
SAVED_API = "/api/v1/database_connections/"
MASK = "**********"


def typed(db: DB) -> dict[str, Any]:
    return {"host": db.host, "port": db.port, "database": db.database, "username": db.user, "password": db.password,
            "hooks_params.SSHTunnel.host": "bastion.example.invalid", "hooks_params.SSHTunnel.username": "jump",
            "hooks_params.SSHTunnel.password": "Ssh-Typed-Secret-1"}


def values_on_screen(at: Any, values: dict[str, Any]) -> dict[str, Any]:
    return {path: at.get_by_key(widget_key(PG, path)).value for path in values}


def test_every_typed_value_survives_page_switches_and_the_snippet_is_built_from_them(postgres: DB) -> None:
    at = new_app()
    choose(at, PG)
    toggle_hook(at, PG, "SSHTunnel")
    values = typed(postgres)
    fill(at, PG, values)
    for page in (CAPABILITIES, CONNECTIONS, API):
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
    snippet = curl_body(at.code[0].value)
    assert snippet["host"] == postgres.host and snippet["database"] == postgres.database
    assert snippet["username"] == postgres.user and snippet["password"] == "<PASSWORD>"
    assert snippet["hooks_params"]["SSHTunnel"] == {"host": "bastion.example.invalid", "port": 22, "username": "jump",
                                                     "password": "<SSHTUNNEL_PASSWORD>"}
    assert postgres.password not in at.code[0].value
    at.switch_page(CONNECT).run()
    assert at.toggle(key=hook_key(PG, "SSHTunnel")).value is True
    assert values_on_screen(at, values) == values


def test_a_field_changed_after_a_test_keeps_its_new_value_and_the_next_test_sends_it(postgres: DB) -> None:
    at = new_app()
    choose(at, PG)
    fill(at, PG, {"host": postgres.host, "port": postgres.port, "database": postgres.database,
                  "username": postgres.user, "password": "not-the-password"})
    press_test(at)
    assert at.session_state["test_result"]["message"]["code"] == "AUTHENTICATION_FAILED"
    fill(at, PG, {"password": postgres.password})
    at.switch_page(CAPABILITIES).run()
    at.switch_page(CONNECT).run()
    assert at.text_input(key=widget_key(PG, "password")).value == postgres.password
    press_test(at)
    assert at.session_state["test_result"]["message"]["code"] == "CONNECTION_SUCCESSFUL"


def save_one(api_url: str, db: DB, name: str, **extra: Any) -> str:
    body = {"connector_type": PG, "host": db.host, "port": db.port, "database": db.database, "username": db.user,
            "password": db.password, **extra}
    created = httpx.post(f"{api_url}{SAVED_API}", json={"name": name, "description": None, "connection": body}, timeout=10)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def opened(saved_id: str) -> Any:
    from streamlit.testing.v1 import AppTest

    from tests.ui.conftest import APP, RUN_TIMEOUT

    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT)
    at.query_params["connection"] = saved_id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_new_connection_is_a_clean_slate_hooks_and_stored_secrets_included(postgres: DB, live_api: LiveAPI) -> None:
    ssh = {"hooks_params": {"SSHTunnel": {"host": "bastion.example.invalid", "username": "jump", "password": "Ssh-Pw-9"}}}
    saved_id = save_one(live_api.url, postgres, "ui-clean-slate", **ssh)
    try:
        at = opened(saved_id)
        assert at.toggle(key=hook_key(PG, "SSHTunnel")).value is True
        assert at.text_input(key=widget_key(PG, "hooks_params.SSHTunnel.password")).value == MASK
        at.button(key="leave_saved").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert "saved_connection" not in at.session_state
        choose(at, PG)
        assert at.toggle(key=hook_key(PG, "SSHTunnel")).value is False
        assert at.text_input(key=widget_key(PG, "password")).value == ""
        assert at.text_input(key=widget_key(PG, "host")).value == ""
        assert not any("Editing the saved connection" in i.value for i in at.info)
    finally:
        httpx.delete(f"{live_api.url}{SAVED_API}{saved_id}/", timeout=10)


def test_unsaved_changes_are_said_on_other_pages_and_new_connection_asks_first(postgres: DB, live_api: LiveAPI) -> None:
    saved_id = save_one(live_api.url, postgres, "ui-unsaved")
    try:
        at = opened(saved_id)
        fill(at, PG, {"database": "another_db"})
        at.switch_page(CAPABILITIES).run()
        assert any("ui-unsaved" in w.value and "not saved" in w.value for w in at.warning)
        at.switch_page(CONNECT).run()
        assert at.text_input(key=widget_key(PG, "database")).value == "another_db"
        at.button(key="leave_saved").click().run()
        assert any("have not saved" in w.value for w in at.warning)
        at.button(key="confirm_new_no").click().run()
        assert at.text_input(key=widget_key(PG, "database")).value == "another_db"
        at.button(key="save_changes").click().run()
        assert any("Changes saved" in s.value for s in at.success)
        stored = httpx.get(f"{live_api.url}{SAVED_API}{saved_id}/", timeout=10).json()
        assert stored["connection"]["database"] == "another_db"
        at.switch_page(CAPABILITIES).run()
        assert not any("not saved" in w.value for w in at.warning)
    finally:
        httpx.delete(f"{live_api.url}{SAVED_API}{saved_id}/", timeout=10)


def test_save_changes_sends_if_match_and_a_412_offers_to_reload(postgres: DB, monkeypatch: pytest.MonkeyPatch) -> None:
    """The UI always sends If-Match with the version it opened; on 412 it says someone else changed the connection,
    what they changed, and offers to reload it. (The API layer below answers as DESIGN.md "Concurrent edits" says:
    a PATCH whose If-Match is not the current version is 412, and each saved PATCH is a new version.)"""
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from backend.api.errors import message_response
    from backend.diagnosis.messages import Code
    from tests.ui.conftest import start_api

    versions: dict[str, int] = {}
    seen: list[str | None] = []

    def versioned(app: ASGIApp) -> ASGIApp:
        async def layer(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or not scope["path"].startswith(SAVED_API) or scope["path"] == SAVED_API:
                await app(scope, receive, send)
                return
            saved_id = scope["path"].removeprefix(SAVED_API).split("/")[0]
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            if scope["method"] == "PATCH":
                seen.append(headers.get("if-match"))
                if headers.get("if-match", "").strip('"') != str(versions.get(saved_id, 1)):
                    await message_response(412, Code.PRECONDITION_FAILED if hasattr(Code, "PRECONDITION_FAILED")
                                           else Code.INVALID_PARAMETERS, "Precondition failed",
                                           "The connection changed since.")(scope, receive, send)
                    return
                versions[saved_id] = versions.get(saved_id, 1) + 1

            async def tagged(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message.get("headers", []),
                                          (b"etag", f'"{versions.get(saved_id, 1)}"'.encode())]
                await send(message)

            await app(scope, receive, tagged)

        return layer

    api = start_api(wrap=versioned)
    monkeypatch.setenv("WIZARD_API_URL", api.url)
    try:
        saved_id = save_one(api.url, postgres, "ui-if-match")
        at = opened(saved_id)
        assert at.session_state["saved_connection"]["version"] == 1
        fill(at, PG, {"database": "mine"})
        # Someone else saves a change meanwhile (version 2), from the form: it always says the direction, which the
        # body made through the API left out — not a change of theirs worth naming.
        stored = httpx.get(f"{api.url}{SAVED_API}{saved_id}/", timeout=10).json()["connection"]
        assert "is_source" not in stored or stored["is_source"] is None
        other = httpx.patch(f"{api.url}{SAVED_API}{saved_id}/",
                            json={"name": "ui-if-match (theirs)", "connection": {**stored, "is_source": True}},
                            headers={"If-Match": '"1"'}, timeout=10)
        assert other.status_code == 200, other.text
        at.button(key="save_changes").click().run()
        assert seen[-1] == '"1"', "Save changes sends the version it opened"
        warning = next(w.value for w in at.warning if "Someone else changed" in w.value)
        assert "Name" in warning
        assert "source" not in warning.lower(), "the direction the form always sends is not someone else's change"
        assert httpx.get(f"{api.url}{SAVED_API}{saved_id}/", timeout=10).json()["connection"]["database"] == postgres.database
        at.button(key="reload_saved").click().run()
        assert at.session_state["saved_connection"]["version"] == 2
        assert at.text_input(key=widget_key(PG, "database")).value == postgres.database
        fill(at, PG, {"database": "mine"})
        at.button(key="save_changes").click().run()
        assert seen[-1] == '"2"' and any("Changes saved" in s.value for s in at.success)
    finally:
        api.stop()


def test_a_run_with_nothing_chosen_leaves_the_pickers_value_to_the_browser() -> None:
    """The picker's value is set from the page only to take back a choice the new direction does not offer.

    A value set from the page is sent with the picker, and the browser shows it whatever the person chose in the
    meantime. The page used to set None on every run where nothing was chosen: the answer to a click on "Write data
    to it" then reached a browser where PostgreSQL had just been picked, emptied the picker while the next run drew
    PostgreSQL's form, and the run after that (any field committed) dropped the form (the browser journey
    ``test_a_connector_picked_while_the_direction_is_on_its_way_stays_picked`` replays that order)."""
    at = new_app()
    at.button_group(key="direction").set_value("destination").run()
    picker = at.selectbox(key="connector")
    assert picker.value is None and not picker.proto.set_value, "nothing chosen: nothing told to the browser"
    at.selectbox(key="connector").set_value("S3FSConnector").run()
    at.button_group(key="direction").set_value("source").run()
    picker = at.selectbox(key="connector")
    assert picker.value is None and picker.proto.set_value, "a choice the direction does not offer is taken back"


def test_the_schema_chosen_for_the_answer_stays_across_pages_and_goes_with_a_new_test(postgres: DB) -> None:
    """The schema box of **Check what I can do** keeps its choice, like the answer it goes with, when another page is
    opened and the Connect page comes back (it used to fall back to the default schema under an answer about
    ``sales``, and the next Check examined the default). A new Test drops the answer and the choice together: no
    choice kept out of sight picks the next answer's schema."""
    at = new_app()
    choose(at, PG, destination=True)
    fill(at, PG, {"host": postgres.host, "port": postgres.port, "database": postgres.database,
                  "username": postgres.user, "password": postgres.password})
    press_test(at)
    at.button(key="check_capabilities").click().run()
    at.selectbox(key="live_schema").set_value("sales").run()
    at.button(key="check_capabilities").click().run()
    assert at.session_state["live_capabilities"]["scope"].endswith("schema sales")
    for page in (CAPABILITIES, CONNECTIONS, CONNECT):
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="live_schema").value == "sales"
    at.button(key="check_capabilities").click().run()
    assert at.session_state["live_capabilities"]["scope"].endswith("schema sales"), "the box's schema is the one asked"
    press_test(at)
    assert "live_capabilities" not in at.session_state and "live_schema" not in at.session_state
    assert not [s for s in at.selectbox if s.key == "live_schema"], "no schema box without an answer to choose from"
    at.button(key="check_capabilities").click().run()
    assert at.session_state["live_capabilities"]["scope"].endswith("schema public"), "the connection's own schema"


def test_the_sign_in_picked_for_a_hook_stays_across_pages() -> None:
    """An alternative's choice (the SSH tunnel's password or private key) is kept like the fields are: with both
    filled in, the one picked is the one sent after another page was opened (it used to fall back to the first
    option holding a value, the password)."""
    choice = choice_key(PG, "SSHTunnel", "auth")
    at = new_app()
    choose(at, PG)
    toggle_hook(at, PG, "SSHTunnel")
    fill(at, PG, {"hooks_params.SSHTunnel.host": "bastion.example.invalid", "hooks_params.SSHTunnel.username": "jump",
                  "hooks_params.SSHTunnel.password": "Ssh-Typed-Secret-2"})
    at.radio(key=choice).set_value("Private key").run()
    fill(at, PG, {"hooks_params.SSHTunnel.pkey": "-----BEGIN OPENSSH PRIVATE KEY-----"})
    for page in (CAPABILITIES, API):
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
    tunnel = curl_body(at.code[0].value)["hooks_params"]["SSHTunnel"]
    assert "pkey" in tunnel and "password" not in tunnel, tunnel
    at.switch_page(CONNECT).run()
    assert at.radio(key=choice).value == "Private key"
    assert widget_key(PG, "hooks_params.SSHTunnel.pkey") in {str(t.key) for t in at.text_input}


def test_the_connector_shown_in_detail_stays_across_pages(supported: dict[str, Any]) -> None:
    """The Capabilities page's "One connector in detail" keeps the connector chosen when another page is opened."""
    last = list(supported["write_connectors"])[-1]
    at = new_app(CAPABILITIES)
    assert at.selectbox(key="cap_connector").value != last
    at.selectbox(key="cap_connector").set_value(last).run()
    for page in (CONNECT, CAPABILITIES):
        at.switch_page(page).run()
        assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="cap_connector").value == last
