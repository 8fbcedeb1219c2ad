"""The Save form and the Connections page with AppTest, against a real API with a store of its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from streamlit.testing.v1 import AppTest

from components.saved import ago, export_json
from tests.servers.api import LiveAPI
from tests.servers.common import ClosedPort
from tests.ui.conftest import RUN_TIMEOUT, new_app, start_api

PAGE = "pages/connections.py"
SAVED = "/api/v1/database_connections/"
CANARY = "Ui-Canary-Pw-4d2c"

MASK = "**********"  # DESIGN.md "Saved connections": how a stored secret reads


@pytest.fixture
def own_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveAPI]:
    """The API with an empty store of this test's own; the UI pointed at it."""
    api = start_api(database_url=f"sqlite:///{tmp_path}/store/wizard.db", secret_key=Fernet.generate_key().decode())
    monkeypatch.setenv("WIZARD_API_URL", api.url)
    yield api
    api.stop()


def body(port: int, **overrides: Any) -> dict[str, Any]:
    return {"connector_type": "PostgreSQLConnector", "host": "127.0.0.1", "port": port, "database": "appdb",
            "username": "app", "password": CANARY, **overrides}


def listed(api: LiveAPI) -> list[dict[str, Any]]:
    response = httpx.get(f"{api.url}{SAVED}", timeout=10)
    response.raise_for_status()
    results: list[dict[str, Any]] = response.json()["results"]
    return results


def save_script(connection):  # run by AppTest from its own source: no names from this module
    from components.saved import render_save

    render_save(connection)


def test_save_form_saves_once_and_names_refusals(own_api: LiveAPI) -> None:
    connection = body(ClosedPort().port)
    at = AppTest.from_function(save_script, args=(connection,), default_timeout=RUN_TIMEOUT).run()
    at.text_input(key="save_name").set_value("Warehouse")  # in a form: sent with the submit, in one run
    at.text_area(key="save_description").set_value("for the team")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Saved as" in s.value for s in at.success)
    [saved] = listed(own_api)
    assert saved["name"] == "Warehouse" and saved["description"] == "for the team"
    assert saved["connection"]["password"] == MASK
    at.run()  # a rerun shows where it went, never saves again
    assert len(listed(own_api)) == 1 and not at.text_input
    # the same name again, from a new session: refused, naming the name
    again = AppTest.from_function(save_script, args=(body(1),), default_timeout=RUN_TIMEOUT).run()
    again.text_input(key="save_name").set_value("Warehouse")
    again.button[0].click().run()
    assert any("Name" in e.value and "already" in e.value for e in again.error), [e.value for e in again.error]
    assert len(listed(own_api)) == 1


def test_connections_page_lists_tests_edits_deletes_and_exports(own_api: LiveAPI) -> None:
    closed = ClosedPort().port
    made = [httpx.post(f"{own_api.url}{SAVED}", json={"name": name, "connection": body(closed)}, timeout=10).json()
            for name in ("Sales", "Finance")]
    at = new_app(PAGE)
    text = " ".join(m.value for m in at.markdown)
    assert "Sales" in text and "Finance" in text and "Not tested" in text
    assert text.index("Finance") < text.index("Sales")  # newest first
    # Test (never tested yet, so not "Test again"): the verdict comes back and becomes the last verdict shown
    assert at.button(key=f"test-{made[0]['id']}").label == "Test"
    at.button(key=f"test-{made[0]['id']}").click().run()
    assert at.button(key=f"test-{made[0]['id']}").label == "Test again"
    assert not at.exception, [e.value for e in at.exception]
    assert any("Sales" in e.value for e in at.error)  # a closed port: an error verdict
    last = next(c for c in listed(own_api) if c["id"] == made[0]["id"])["last_test"]
    assert last["code"] == "PORT_CLOSED"
    assert any(last["title"] in m.value and "just now" in m.value for m in at.markdown), "the last verdict, and when"
    # Edit opens the Connect page with ?connection=<id>
    links = [link for link in at.get("page_link") if "Edit" in str(link.proto.label)]
    assert len(links) == 2 and any(made[0]["id"] in str(link.proto.query_string) for link in links)
    # search
    at.text_input(key="saved_search").set_value("fin").run()
    assert "Sales" not in " ".join(m.value for m in at.markdown)
    at.text_input(key="saved_search").set_value("").run()
    # delete, with a confirmation
    at.button(key=f"delete-{made[1]['id']}").click().run()
    assert any("cannot be undone" in w.value for w in at.warning)
    at.button(key=f"cancel-{made[1]['id']}").click().run()
    assert len(listed(own_api)) == 2
    at.button(key=f"delete-{made[1]['id']}").click().run()
    at.button(key=f"confirm-{made[1]['id']}").click().run()
    assert [c["name"] for c in listed(own_api)] == ["Sales"]
    assert any("Deleted" in s.value for s in at.success)
    assert not at.exception


def test_export_leaves_the_secrets_out() -> None:
    item = {"id": "x", "name": "n", "description": None, "owner": "o",
            "connection": {"password": MASK, "hooks_params": {"SSHTunnel": {"password": MASK, "host": "h"}}, "port": 1}}
    exported = json.loads(export_json([item], MASK))
    assert exported == [{"name": "n", "description": None,
                         "connection": {"password": None, "hooks_params": {"SSHTunnel": {"password": None, "host": "h"}},
                                        "port": 1}}]
    assert MASK not in export_json([item], MASK)


def test_ago_in_words() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    assert ago("2026-12-03T07:59:30.000Z", now) == "just now"
    assert ago("2026-12-03T07:40:00.000Z", now) == "20 min ago"
    assert ago("2026-12-01T08:00:00.000Z", now) == "2 d ago"
    assert ago("2026-10-01T08:00:00.000Z", now) == "2026-10-01"


def test_a_saved_test_streams_its_stages_into_the_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 20.4: the Connections page tests through ``{id}/test/stream/`` (stages, elapsed time, Cancel), not the
    blocking ``{id}/test/``; the verdict is kept as last_test and said in the card."""
    from starlette.types import ASGIApp, Receive, Scope, Send

    paths: list[str] = []

    def recorded(app: ASGIApp) -> ASGIApp:
        async def layer(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http" and scope["method"] == "POST":
                paths.append(str(scope["path"]))
            await app(scope, receive, send)

        return layer

    api = start_api(recorded, database_url=f"sqlite:///{tmp_path}/store/wizard.db",
                    secret_key=Fernet.generate_key().decode())
    monkeypatch.setenv("WIZARD_API_URL", api.url)
    try:
        made = httpx.post(f"{api.url}{SAVED}", json={"name": "Closed", "description": None,
                                                     "connection": body(ClosedPort().port)}, timeout=10).json()
        at = new_app(PAGE)
        at.button(key=f"test-{made['id']}").click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert f"{SAVED}{made['id']}/test/stream/" in paths and f"{SAVED}{made['id']}/test/" not in paths
        assert any("Nothing is listening" in e.value for e in at.error), [e.value for e in at.error]
        assert listed(api)[0]["last_test"]["code"] == "PORT_CLOSED"
        assert "saved_running" not in at.session_state
    finally:
        api.stop()
