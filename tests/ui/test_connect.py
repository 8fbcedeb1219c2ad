"""The Connect page with AppTest, against the live API and the suite's real servers."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.errors import message_response
from backend.messages import Code
from components.api_client import ApiClient
from components.form import hook_key, widget_key
from components.names import connector_name
from components.session import CLIENT
from tests.conftest import DB, NASTY_PASSWORD
from tests.ui.conftest import LiveAPI, new_app, start_api
from tests.ui.helpers import all_text, choose, curl_body, field_keys, fill, flags_of, press_test, toggle_hook

pytestmark = pytest.mark.usefixtures("ui_env")


def kind_of(prop: dict[str, Any]) -> tuple[str, bool]:
    t = prop["type"]
    if isinstance(t, list):
        return next(k for k in t if k != "null"), "null" in t
    return t, False


def own_fields(props: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in props.items() if k not in ("hooks_params", "is_source") and "." not in k}


def pg_values(db: DB, **overrides: Any) -> dict[str, Any]:
    return {"host": db.host, "port": db.port, "database": db.database, "username": db.user,
            "password": db.password, **overrides}


def test_direction_lists_sources_or_destinations(supported: dict[str, Any]) -> None:
    at = new_app()
    assert at.selectbox(key="connector").options == [connector_name(t) for t in supported["connectors"]]
    at.button_group(key="direction").set_value("destination").run()
    assert at.selectbox(key="connector").options == [connector_name(t) for t in supported["write_connectors"]]


def test_every_connector_renders_its_fields_from_the_metadata(supported: dict[str, Any]) -> None:
    at = new_app()
    for connector_type, props in supported["write_connectors"].items():
        choose(at, connector_type, destination=True)
        fields = own_fields(props)
        assert field_keys(at, connector_type) == set(fields), connector_type
        for name, prop in fields.items():
            kind, optional = kind_of(prop)
            key = widget_key(connector_type, name)
            if prop.get("values"):
                choice = at.selectbox(key=key)
                expected = list(prop["values"]) if not optional else ["— not set —", *prop["values"]]
                assert choice.options == expected
                if prop.get("default") is not None:
                    assert choice.value == prop["default"]
            elif kind == "boolean":
                assert at.checkbox(key=key).value == bool(prop.get("default"))
            elif kind in ("integer", "number"):
                number = at.number_input(key=key)
                assert number.value == prop.get("default")
                if name == "port":
                    assert (number.min, number.max) == (1, 65535)
            elif kind == "password":
                assert any(w.key == key and w.proto.type == w.proto.PASSWORD for w in at.text_input), key
            elif kind == "text":
                assert at.text_area(key=key).value == (prop.get("default") or "")
            else:
                box = at.text_input(key=key)
                assert box.proto.type == box.proto.DEFAULT
                assert box.value == (prop.get("default") or "")
            label = at.get_by_key(key).label  # type: ignore[union-attr]
            assert label.endswith(r":red[\*]") == (not optional), (connector_type, name, label)
        toggles = {t.key for t in at.toggle}
        hooks = (props["hooks_params"] or {}).get("values") or []
        assert toggles == {hook_key(connector_type, h) for h in hooks}, connector_type


def test_switching_connector_switches_the_fields(supported: dict[str, Any]) -> None:
    at = new_app()
    choose(at, "PostgreSQLConnector")
    assert "schema_name" in field_keys(at, "PostgreSQLConnector")
    choose(at, "MySQLMariaDBConnector")
    assert field_keys(at, "PostgreSQLConnector") == set()
    assert field_keys(at, "MySQLMariaDBConnector") == set(own_fields(supported["connectors"]["MySQLMariaDBConnector"]))
    assert at.subheader[0].value == connector_name("MySQLMariaDBConnector")


def test_each_hook_section_adds_its_fields_with_the_connectors_overrides(supported: dict[str, Any]) -> None:
    at = new_app()
    for connector_type, props in supported["write_connectors"].items():
        hooks = (props["hooks_params"] or {}).get("values") or []
        if not hooks:
            continue
        choose(at, connector_type, destination=True)
        before = field_keys(at, connector_type)
        for hook in hooks:
            toggle_hook(at, connector_type, hook)
            added = field_keys(at, connector_type) - before
            assert added == {f"hooks_params.{hook}.{f}" for f in supported["hooks"][hook]}, (connector_type, hook)
            for name, prop in supported["hooks"][hook].items():
                override = props.get(f"hooks_params.{hook}.{name}")
                values = (override or prop).get("values")
                if values:
                    box = at.selectbox(key=widget_key(connector_type, f"hooks_params.{hook}.{name}"))
                    assert box.options[1:] == values, (connector_type, hook, name)
            toggle_hook(at, connector_type, hook, on=False)
            assert field_keys(at, connector_type) == before


def test_a_working_postgresql_connection_shows_the_success_verdict(postgres: DB, caplog: pytest.LogCaptureFixture) -> None:
    at = new_app()
    choose(at, "PostgreSQLConnector")
    fill(at, "PostgreSQLConnector", pg_values(postgres, schema_name="sales"))
    press_test(at)
    assert [s.state for s in at.status] == ["complete"]
    timeline = "\n".join(m.value for m in at.status[0].markdown)
    assert "Log in" in timeline and "Run a test query" in timeline
    assert " ms" in timeline or " s" in timeline
    # The stages came live from test/stream/, each one, and the final timeline replaced the live lines.
    result = at.session_state["test_result"]
    assert result["live_stages"] == len(result["message"]["payload"]["stages"]) == 8
    assert len(at.status[0].markdown) == 1 and timeline.count(":material/check_circle:") >= 6
    assert at.status[0].label.startswith("Result: Connected to PostgreSQL")
    assert len(at.success) == 1 and not at.error
    assert "connect" in at.success[0].value.lower()
    assert not flags_of(at, "PostgreSQLConnector", "password")
    # The secret stays in the session: not on screen, not in the URL, not in a log line.
    assert NASTY_PASSWORD not in all_text(at)
    assert dict(at.query_params) == {}
    assert NASTY_PASSWORD not in caplog.text


def test_a_closed_port_fails_and_flags_the_port_field(postgres: DB, closed_port: int) -> None:
    at = new_app()
    choose(at, "PostgreSQLConnector")
    fill(at, "PostgreSQLConnector", pg_values(postgres, port=closed_port))
    press_test(at)
    assert [s.state for s in at.status] == ["error"]
    assert len(at.error) == 1 and "port" in at.error[0].value.lower()
    assert flags_of(at, "PostgreSQLConnector", "port"), "the port field carries the verdict's flag"
    assert not flags_of(at, "PostgreSQLConnector", "host")
    # The verdict stays on screen, with its flag, on the next rerun.
    at.run()
    assert flags_of(at, "PostgreSQLConnector", "port") and len(at.error) == 1


def test_a_wrong_password_flags_the_password_field(postgres: DB) -> None:
    at = new_app()
    choose(at, "PostgreSQLConnector")
    fill(at, "PostgreSQLConnector", pg_values(postgres, password="not-the-password"))
    press_test(at)
    assert flags_of(at, "PostgreSQLConnector", "password")
    assert "What to fix" in "\n".join(m.value for m in at.markdown)


def test_settings_the_api_refuses_are_flagged_per_field() -> None:
    at = new_app()
    choose(at, "PostgreSQLConnector")
    fill(at, "PostgreSQLConnector", {"host": "db.example.invalid", "database": "d", "username": "u"})
    press_test(at)  # no password: the API answers 422 naming the field
    assert "not valid" in at.error[0].value
    assert flags_of(at, "PostgreSQLConnector", "password")
    assert not flags_of(at, "PostgreSQLConnector", "host")


def test_a_pasted_uri_fills_the_form(supported: dict[str, Any]) -> None:
    at = new_app()
    at.text_input(key="uri_text").input("postgresql://wizard:s%40cret@127.0.0.1:6543/appdb?sslmode=require").run()
    at.button(key="uri_fill").click().run()  # "Fill the form"
    ct = "PostgreSQLConnector"
    assert at.selectbox(key="connector").value == ct
    assert at.text_input(key=widget_key(ct, "host")).value == "127.0.0.1"
    assert at.number_input(key=widget_key(ct, "port")).value == 6543
    assert at.text_input(key=widget_key(ct, "database")).value == "appdb"
    assert at.text_input(key=widget_key(ct, "username")).value == "wizard"
    assert at.text_input(key=widget_key(ct, "password")).value == "s@cret"
    assert at.toggle(key=hook_key(ct, "SSL")).value is True
    assert at.selectbox(key=widget_key(ct, "hooks_params.SSL.ssl_mode")).value == "require"
    assert at.text_input(key="uri_text").value == "", "a URI may hold a password: it is not kept"
    assert "s@cret" not in all_text(at)

    at.text_input(key="uri_text").input("mysql://root@127.0.0.1/shop").run()
    at.button(key="uri_fill").click().run()
    assert at.selectbox(key="connector").value == "MySQLMariaDBConnector"
    assert at.text_input(key=widget_key("MySQLMariaDBConnector", "database")).value == "shop"

    at.text_input(key="uri_text").input("s3://my-bucket/exports/daily?region=eu-west-1").run()
    at.button(key="uri_fill").click().run()
    if "S3FSConnector" in supported["write_connectors"]:
        assert at.button_group(key="direction").value == (
            "source" if "S3FSConnector" in supported["connectors"] else "destination"
        )
        assert at.selectbox(key="connector").value == "S3FSConnector"
        assert at.text_input(key=widget_key("S3FSConnector", "bucket")).value == "my-bucket"
        assert at.text_input(key=widget_key("S3FSConnector", "region")).value == "eu-west-1"
    else:
        assert "s3://" in at.error[0].value


def test_the_backend_down_is_a_clear_message(closed_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIZARD_API_URL", f"http://127.0.0.1:{closed_port}")
    at = new_app()
    text = "\n".join(e.value for e in at.error)
    assert "not answering" in text and "could not be loaded" in text
    assert any(b.label == "Load again" for b in at.button)
    assert not at.text_input, "no form without metadata"


def test_a_busy_api_says_so_and_offers_a_retry(postgres: DB, silent_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    busy_api: LiveAPI = start_api(max_concurrent_tests=1)
    monkeypatch.setenv("WIZARD_API_URL", busy_api.url)
    hold = {"connector_type": "PostgreSQLConnector", "host": "127.0.0.1", "port": silent_port, "database": "d",
            "username": "u", "password": "p"}
    holder = threading.Thread(
        target=lambda: httpx.post(f"{busy_api.url}/api/v1/database_connections/test/", json=hold, timeout=30)
    )
    try:
        at = new_app()
        choose(at, "PostgreSQLConnector")
        fill(at, "PostgreSQLConnector", pg_values(postgres))
        holder.start()
        for _ in range(250):  # until the holding test is in flight
            if busy_api.app.state.service.in_flight >= 1:
                break
            threading.Event().wait(0.02)
        assert busy_api.app.state.service.in_flight == 1
        press_test(at)
        assert [s.state for s in at.status] == ["error"]
        assert "busy" in at.warning[0].value.lower()
        assert "again" in "\n".join(c.value for c in at.caption)
    finally:
        holder.join(timeout=30)
        busy_api.stop()


def test_a_test_that_outlasts_the_client_is_a_timeout_message(silent_port: int, live_api: LiveAPI) -> None:
    at = new_app()
    at.session_state[CLIENT] = ApiClient(base_url=live_api.url, test_timeout_s=1.0)
    at.run()
    choose(at, "PostgreSQLConnector")
    fill(at, "PostgreSQLConnector", {"host": "127.0.0.1", "port": silent_port, "database": "d", "username": "u",
                                     "password": "p"})
    press_test(at)
    assert "No answer in time" in at.warning[0].value
    assert [s.state for s in at.status] == ["error"]
    # The stages that arrived before the client gave up stay in the box: the silent host accepted the
    # connection (dns and tcp passed), and the login was where the wait stopped.
    timeline = at.status[0].markdown[0].value
    lines = timeline.split("  \n")
    assert len(lines) == 5, timeline
    for line, name in zip(lines, ("Check the settings", "Find the host (DNS)", "Reach the port (TCP)"), strict=False):
        assert line.startswith(":green[:material/check_circle:]") and name in line, line
    assert "accepted the connection" in lines[2] and str(silent_port) in lines[2]
    assert "Open the SSH tunnel" in lines[3] and "No SSH tunnel was asked for" in lines[3]
    assert "Encrypt (TLS)" in lines[4], "the login step is where the wait stopped"
    assert ":material/pause_circle:" in lines[4] and "stopped waiting" in lines[4]


def without_stream(app: ASGIApp) -> ASGIApp:
    """The API as a version before ``test/stream/`` existed: that path is not found (404, its usual body)."""

    async def older(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/test/stream/"):
            response = message_response(404, Code.NOT_FOUND, "Not Found", "Not Found")
            await response(scope, receive, send)
            return
        await app(scope, receive, send)

    return older


def test_an_api_without_the_stream_falls_back_to_test(postgres: DB, closed_port: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An older API (WIZARD_API_URL) has no test/stream/: it answers 404, and the UI asks test/ instead."""
    legacy: LiveAPI = start_api(wrap=without_stream)
    monkeypatch.setenv("WIZARD_API_URL", legacy.url)
    try:
        assert httpx.post(f"{legacy.url}/api/v1/database_connections/test/stream/", json={}, timeout=10).status_code == 404
        at = new_app()
        choose(at, "PostgreSQLConnector")
        fill(at, "PostgreSQLConnector", pg_values(postgres))
        press_test(at)
        assert [s.state for s in at.status] == ["complete"] and len(at.success) == 1
        assert "Run a test query" in at.status[0].markdown[0].value
        assert at.session_state["test_result"]["live_stages"] == 0, "no live stages from an API without the stream"
        fill(at, "PostgreSQLConnector", {"port": closed_port})
        press_test(at)
        assert flags_of(at, "PostgreSQLConnector", "port"), "field flags come with the fallback too"
    finally:
        legacy.stop()


def test_uploaded_files_fill_text_fields_and_keys_stay_masked() -> None:
    ct = "PostgreSQLConnector"
    at = new_app()
    choose(at, ct)
    toggle_hook(at, ct, "SSL")
    toggle_hook(at, ct, "SSHTunnel")
    ca = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n"
    at.file_uploader(key=f"up-{widget_key(ct, 'hooks_params.SSL.ca')}").upload("ca.pem", ca.encode()).run()
    assert at.text_area(key=widget_key(ct, "hooks_params.SSL.ca")).value == ca
    pkey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    at.file_uploader(key=f"up-{widget_key(ct, 'hooks_params.SSHTunnel.pkey')}").upload("id_ed25519", pkey.encode()).run()
    assert any("id_ed25519" in c.value for c in at.caption)
    at.switch_page("pages/api.py").run()
    body = curl_body(at.code[0].value)
    assert body["hooks_params"]["SSL"]["ca"] == ca
    assert body["hooks_params"]["SSHTunnel"]["pkey"] == "<SSHTUNNEL_PKEY>"
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in all_text(at)
