"""The Connect page with AppTest, against the live API and the suite's real servers."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send
from streamlit.testing.v1 import AppTest

from backend.api.errors import message_response
from backend.diagnosis.messages import Code
from components.api_client import ApiClient
from components.form import choice_key, escape_md, hook_key, widget_key
from components.metadata import Forms, connector_section, connector_types, hook_section
from components.session import CLIENT
from tests.conftest import DB, NASTY_PASSWORD
from tests.helpers import wait_until
from tests.servers.common import SilentListener
from tests.ui.conftest import APP, RUN_TIMEOUT, LiveAPI, new_app, start_api
from tests.ui.helpers import (
    all_text,
    choose,
    curl_body,
    field_keys,
    fill,
    flags_of,
    press_test,
    shown_fields,
    toggle_hook,
)

pytestmark = pytest.mark.usefixtures("ui_env")
PG = "PostgreSQLConnector"

MASK = "**********"  # DESIGN.md "Saved connections": how a stored secret reads


def pg_values(db: DB, **overrides: Any) -> dict[str, Any]:
    return {"host": db.host, "port": db.port, "database": db.database, "username": db.user,
            "password": db.password, **overrides}


def in_expander(at: Any, label: str) -> set[str]:
    """The widget keys inside the expanders labelled ``label``."""
    keys: set[str] = set()
    for expander in at.expander:
        if expander.label == label:
            for kind in ("text_input", "number_input", "checkbox", "selectbox", "text_area"):
                keys.update(str(w.key) for w in expander.get(kind))
    return keys


def test_the_picker_is_searchable_grouped_and_starts_on_nothing(supported: dict[str, Any], forms: Forms) -> None:
    at = new_app()
    picker = at.selectbox(key="connector")
    assert picker.value is None, "no connector is chosen for the user"
    assert any("Choose a database" in i.value for i in at.info)
    assert not field_keys(at, PG)
    for destination in (False, True):
        at.button_group(key="direction").set_value("destination" if destination else "source").run()
        types = connector_types(forms, not destination)
        options = at.selectbox(key="connector").options
        assert options == [f"{forms.label(t)}  ·  {forms.connectors[t].category.title()}" for t in types]
        groups = [forms.connectors[t].category for t in types]
        assert groups == sorted(groups, key=lambda g: g != "database"), "databases first, then storage"


def test_every_connector_renders_its_fields_from_the_metadata(supported: dict[str, Any], forms: Forms) -> None:
    at = new_app()
    for connector_type in supported["write_connectors"]:
        choose(at, connector_type, destination=True)
        assert at.header[0].value == forms.label(connector_type)
        assert field_keys(at, connector_type) == shown_fields(forms, connector_type), connector_type
        advanced = in_expander(at, "Advanced")
        for spec in connector_section(forms, connector_type).fields:
            key = widget_key(connector_type, spec.path)
            if spec.path not in field_keys(at, connector_type):
                continue
            widget = at.get_by_key(key)
            assert escape_md(spec.label) in widget.label, (key, widget.label)  # type: ignore[union-attr]
            assert widget.label == escape_md(spec.label), (key, widget.label)  # type: ignore[union-attr]  # plain: the accessible name
            assert (key in advanced) == spec.advanced, (key, "advanced fields are folded away, the others not")
            if spec.kind == "password":
                assert any(w.key == key and w.proto.type == w.proto.PASSWORD for w in at.text_input), key
            elif spec.values:
                assert at.selectbox(key=key).options[-len(spec.values):] == list(spec.values)
            elif spec.kind in ("integer", "number"):
                assert at.number_input(key=key).value == spec.default
        toggles = {t.key for t in at.toggle}
        hooks = (supported["write_connectors"][connector_type]["hooks_params"] or {}).get("values") or []
        assert toggles == {hook_key(connector_type, h) for h in hooks}, connector_type
        for hook in hooks:
            toggle_hook(at, connector_type, hook)
        for choice in at.radio:  # every option of every choice, so that every field is drawn once
            for option in choice.options[1:]:
                choice.set_value(option).run()
                assert_every_text_input_stages_each_keystroke(at)
        assert_every_text_input_stages_each_keystroke(at)


def assert_every_text_input_stages_each_keystroke(at: Any) -> None:
    """Issue 11.1: a text input commits on blur only when focus leaves the whole widget, and Tab from a masked
    input lands on its own eye button; so every text input of a form stages each change at once, without a
    rerun (``live`` with ``on_change="ignore"``), and the next Test carries it however the field was left."""
    for widget in at.text_input:
        if str(widget.key).startswith("w-") or widget.key == "uri_text":
            live = widget.proto.HasField("live_debounce_ms") and widget.proto.live_debounce_ms == 0
            assert live and widget.proto.ignore_rerun, widget.key


def test_layout_host_and_port_side_by_side_advanced_folded_and_ssh_sign_in_choice(
    supported: dict[str, Any], forms: Forms
) -> None:
    at = new_app()
    choose(at, PG)
    # Host and port share one row (columns); the driver and "include views" are folded under Advanced.
    rows = [c for c in at.columns]
    side_by_side = [{str(w.key) for w in col.get("text_input")} | {str(w.key) for w in col.get("number_input")}
                    for col in rows]
    assert {widget_key(PG, "host")} in side_by_side and {widget_key(PG, "port")} in side_by_side
    advanced = [e for e in at.expander if e.label == "Advanced"]
    assert advanced and not advanced[0].proto.expanded, "Advanced starts folded"
    assert widget_key(PG, "protocol") in in_expander(at, "Advanced")

    # SSH: port 22 prefilled, the sign-in choice shows only its own fields, the tunnel's local end is advanced.
    toggle_hook(at, PG, "SSHTunnel")
    ssh = "hooks_params.SSHTunnel."
    assert at.number_input(key=widget_key(PG, ssh + "port")).value == 22
    choice = at.radio(key=choice_key(PG, "SSHTunnel", "auth"))
    assert choice.options == ["Password", "Private key"] and choice.value == "Password"
    assert {ssh + "password"} <= field_keys(at, PG) and not {ssh + "pkey", ssh + "pkey_password"} & field_keys(at, PG)
    choice.set_value("Private key").run()
    assert {ssh + "pkey", ssh + "pkey_password"} <= field_keys(at, PG) and ssh + "password" not in field_keys(at, PG)
    assert widget_key(PG, ssh + "local_port") in in_expander(at, "Advanced")

    # SSL: the mode first, then the certificates.
    toggle_hook(at, PG, "SSL")
    box = at.get_by_key(f"box-{hook_key(PG, 'SSL')}")
    assert box.selectbox[0].key == widget_key(PG, "hooks_params.SSL.ssl_mode")
    section = hook_section(forms, PG, "SSL")
    assert section.fields[0].name == "ssl_mode"


def test_each_hook_section_adds_its_fields_with_the_connectors_overrides(supported: dict[str, Any], forms: Forms) -> None:
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
            assert added == shown_fields(forms, connector_type, hook), (connector_type, hook)
            override = props.get(f"hooks_params.{hook}.ssl_mode")
            if override and override.get("values"):
                box = at.selectbox(key=widget_key(connector_type, f"hooks_params.{hook}.ssl_mode"))
                assert box.options[1:] == override["values"], connector_type
            toggle_hook(at, connector_type, hook, on=False)
            assert field_keys(at, connector_type) == before


def test_a_working_postgresql_connection_shows_the_success_verdict(postgres: DB, caplog: pytest.LogCaptureFixture) -> None:
    at = new_app()
    choose(at, PG)
    fill(at, PG, pg_values(postgres, schema_name="sales"))
    press_test(at)
    assert [s.state for s in at.status] == ["complete"]
    assert at.status[0].label == "How the test went, step by step"
    timeline = "\n".join(m.value for m in at.status[0].markdown)
    assert "Log in" in timeline and "Run a test query" in timeline
    assert timeline.count(":material/check_circle:") >= 6
    # The stages came live from test/stream/, each one.
    result = at.session_state["test_result"]
    assert len(result["live"]) == len(result["message"]["payload"]["stages"]) == 8
    assert len(at.success) == 1 and not at.error
    assert "connect" in at.success[0].value.lower()
    assert not flags_of(at, PG, "password")
    # The driver's name is a technical detail: folded away, not in the verdict.
    assert "psycopg2" not in at.success[0].value
    assert [e.label for e in at.expander if e.label == "Technical details"] == ["Technical details"]
    # The secret stays in the session: not on screen, not in the URL, not in a log line.
    assert NASTY_PASSWORD not in all_text(at)
    assert dict(at.query_params) == {}
    assert NASTY_PASSWORD not in caplog.text


def test_a_failed_then_a_passing_test_leaves_no_red(postgres: DB) -> None:
    """Each Test starts from a clean slate: the old flag and verdict go, whatever the new test says."""
    at = new_app()
    choose(at, PG)
    fill(at, PG, pg_values(postgres, password="not-the-password"))
    press_test(at)
    assert flags_of(at, PG, "password") and len(at.error) == 1
    fill(at, PG, {"password": postgres.password})
    press_test(at)
    assert not flags_of(at, PG, "password"), "no stale flag under the fixed field"
    assert not at.error and len(at.success) == 1
    assert all(":red[" not in m.value for m in at.markdown)


def test_the_verdict_leads_with_plain_words_and_the_driver_text_comes_once_folded(postgres: DB) -> None:
    at = new_app()
    choose(at, PG)
    fill(at, PG, pg_values(postgres, password="not-the-password"))
    press_test(at)
    message = at.session_state["test_result"]["message"]
    driver = [s["detail"] for s in message["payload"]["stages"] if s["status"] == "failed" and s.get("detail")]
    assert driver, "the failed stage carries the driver's words"
    verdict = at.error[0].value
    assert verdict.startswith(f"**{escape_md(message['title'])}**"), "one plain sentence first"
    technical = next(e for e in at.expander if e.label == "Technical details")
    folded = "\n".join(m.value for m in technical.markdown)
    for words in driver:
        assert escape_md(words) not in verdict, "the driver's words are not in the verdict box"
        assert folded.count(escape_md(words)) == 1, "they are in Technical details, once"
    assert not technical.proto.expanded


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
    # A new port: its old flag (which names the old port) goes; the verdict, about the test that ran, stays.
    fill(at, "PostgreSQLConnector", {"port": postgres.port})
    assert not flags_of(at, "PostgreSQLConnector", "port")
    assert len(at.error) == 1


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

    at.text_input(key="uri_text").input("jdbc:postgresql://db.example.invalid:5433/sales").run()
    at.button(key="uri_fill").click().run()
    assert at.text_input(key=widget_key(ct, "host")).value == "db.example.invalid"
    assert at.number_input(key=widget_key(ct, "port")).value == 5433

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


def test_a_busy_api_says_so_and_offers_a_retry(postgres: DB, monkeypatch: pytest.MonkeyPatch) -> None:
    # The holding test is held by a silent server of its own until this test lets it go (closing the
    # listener ends it), not by a deadline a slow rerun of the page could outlast.
    silent = SilentListener()
    busy_api: LiveAPI = start_api(max_concurrent_tests=1, test_timeout_s=120)
    monkeypatch.setenv("WIZARD_API_URL", busy_api.url)
    hold = {"connector_type": "PostgreSQLConnector", "host": "127.0.0.1", "port": silent.port, "database": "d",
            "username": "u", "password": "p"}
    holder = threading.Thread(
        target=lambda: httpx.post(f"{busy_api.url}/api/v1/database_connections/test/", json=hold, timeout=150)
    )
    try:
        at = new_app()
        choose(at, "PostgreSQLConnector")
        fill(at, "PostgreSQLConnector", pg_values(postgres))
        holder.start()
        wait_until(lambda: busy_api.app.state.service.in_flight >= 1, what="the holding test in flight")
        press_test(at)
        assert busy_api.app.state.service.in_flight == 1, "still held while the page was answered"
        assert not at.status and not at.error, "a busy API is not a verdict on the settings"
        assert "busy" in at.warning[0].value.lower()
        assert "again" in "\n".join(c.value for c in at.caption)
    finally:
        silent.close()
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
    assert at.session_state["test_result"]["problem"]["kind"] == "timeout"
    assert not at.status, "no verdict timeline from a test that never answered"


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
        assert at.session_state["test_result"]["live"] == {}, "no live stages from an API without the stream"
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
    at.radio(key=choice_key(ct, "SSHTunnel", "auth")).set_value("Private key").run()
    pkey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
    at.file_uploader(key=f"up-{widget_key(ct, 'hooks_params.SSHTunnel.pkey')}").upload("id_ed25519", pkey.encode()).run()
    assert any("id\\_ed25519" in c.value for c in at.caption)
    at.switch_page("pages/api.py").run()
    body = curl_body(at.code[0].value)
    assert body["hooks_params"]["SSL"]["ca"] == ca
    assert body["hooks_params"]["SSHTunnel"]["pkey"] == "<SSHTUNNEL_PKEY>"
    assert "b3BlbnNzaC1rZXktdjEAAAAA" not in all_text(at)


def test_a_saved_connection_opens_by_its_link_with_stored_secrets_kept(postgres: DB, live_api: LiveAPI) -> None:
    """``?connection=<id>``: the form is prefilled, the stored password shows as the mask and is never fetched;
    Test uses the stored one (``{id}/test/``), and a changed host with the mask left is refused by the API."""
    body = {"connector_type": PG, "host": postgres.host, "port": postgres.port, "database": postgres.database,
            "username": postgres.user, "password": postgres.password}
    created = httpx.post(f"{live_api.url}/api/v1/database_connections/",
                         json={"name": "ui-link-test", "description": None, "connection": body}, timeout=10)
    assert created.status_code == 201, created.text
    saved_id = created.json()["id"]
    try:
        at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT)
        at.query_params["connection"] = saved_id
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.selectbox(key="connector").value == PG
        assert at.text_input(key=widget_key(PG, "host")).value == postgres.host
        password = at.text_input(key=widget_key(PG, "password"))
        assert password.value == MASK and password.placeholder == "stored — leave as is to keep"
        assert any("Stored with the saved connection" in c.value for c in at.caption), "the kept secret is said in words"
        assert any("ui-link-test" in i.value for i in at.info)
        press_test(at)
        assert len(at.success) == 1, "the stored password was used"
        assert postgres.password not in all_text(at)

        fill(at, PG, {"host": "db.example.invalid"})
        at.button(key="save_changes").click().run()
        assert flags_of(at, PG, "password"), "moving a stored password to another host needs it typed again"
    finally:
        httpx.delete(f"{live_api.url}/api/v1/database_connections/{saved_id}/", timeout=10)


def test_check_what_i_can_do_after_a_successful_test_of_a_destination(postgres: DB) -> None:
    at = new_app()
    choose(at, PG, destination=True)
    fill(at, PG, pg_values(postgres))
    press_test(at)
    assert len(at.success) == 1
    at.button(key="check_capabilities").click().run()
    assert not at.exception
    answer = at.session_state["live_capabilities"]
    assert {item["name"] for item in answer["access"]} == {"READ", "WRITE", "CREATE", "DELETE"}
    text = "\n".join(m.value for m in at.markdown)
    for item in answer["capabilities"]:
        assert item["status"] in ("available", "unavailable", "unknown", "not_supported")
    assert "Access" in text and ":material/check_circle:" in text
    assert f"**Examined:** {postgres.user} on database {postgres.database}" in text, "whose answer, in words"
    assert "\\_" not in text.split("Examined:")[1].split("\n")[0] or "_" in postgres.user
    # The schema is chosen from the answer's list, not guessed.
    assert "sales" in answer["schemas"]
    at.selectbox(key="live_schema").set_value("sales").run()
    at.button(key="check_capabilities").click().run()
    assert at.session_state["live_capabilities"]["scope"].endswith("schema sales")
    assert not any("_MANAGEMENT" in m.value or "IDENTITY_WRITING" in m.value for m in at.markdown), "plain names"
    # The Capabilities page shows the same answer, above the connectors' tabs.
    at.switch_page("pages/capabilities.py").run()
    assert not at.exception
    assert any("Examined:" in m.value and "schema sales" in m.value for m in at.markdown)


def test_an_unverified_certificate_is_a_success_with_a_note_asking_for_the_ca(mariadb_tls: DB, pki: Any) -> None:
    """Issue 20.3: a working connection reads as a success — green "Connected", two sentences at most, nothing
    flagged red — and the unchecked certificate is a secondary line whose action asks for the CA certificate, then
    tests again with the connector's own verifying mode (here the suite's CA: the check passes)."""
    ct = "MySQLMariaDBConnector"
    mode = widget_key(ct, "hooks_params.SSL.ssl_mode")
    at = new_app()
    choose(at, ct)
    fill(at, ct, {"host": mariadb_tls.host, "port": mariadb_tls.port, "database": mariadb_tls.database,
                  "username": mariadb_tls.user, "password": mariadb_tls.password})
    toggle_hook(at, ct, "SSL")
    at.selectbox(key=mode).set_value("REQUIRED").run()
    press_test(at)
    assert at.session_state["test_result"]["message"]["kind"] == "warning", "the API keeps kind: warning"
    [success] = at.success
    assert success.value.startswith("**Connected to MariaDB") or success.value.startswith("**Connected to MySQL")
    assert len([x for x in success.value.replace("**", "").split(". ") if x.strip()]) <= 2
    assert not at.warning and not flags_of(at, ct, "hooks_params.SSL.ssl_mode"), "nothing red or yellow on a success"
    assert any("Not checked: the server's certificate" in m.value for m in at.markdown)
    assert at.button(key="verify_tls").disabled, "nothing to check with before the CA is given"
    at.text_area(key="verify_ca_text").input(pki.ca.cert.read_text()).run()
    at.button(key="verify_tls").click().run()
    assert not at.exception
    assert at.selectbox(key=mode).value in ("verify-full", "VERIFY_IDENTITY"), "a verifying word this connector accepts"
    message = at.session_state["test_result"]["message"]
    assert (message["code"], message["kind"]) == ("CONNECTION_SUCCESSFUL", "success"), message["title"]
    assert not any("Not checked" in m.value for m in at.markdown)


def test_every_example_the_paste_box_gives_fills_its_connectors_form(forms: Forms) -> None:
    """The paste box's help lists the API's URI examples: each one really reads, into its own connector."""
    at = new_app()
    examples = {t: info.uri_example for t, info in forms.connectors.items() if info.uri_example}
    assert examples, "forms/ gives URI examples"
    assert all(e in str(at.text_input(key="uri_text").help) for e in examples.values())
    first = next(iter(examples.values()))
    assert at.text_input(key="uri_text").placeholder == first, "nothing chosen: the first the API lists (no name in the UI)"
    for connector_type, example in examples.items():
        at.text_input(key="uri_text").input(example).run()
        at.button(key="uri_fill").click().run()
        assert not at.error, (example, [e.value for e in at.error])
        assert at.selectbox(key="connector").value == connector_type, example
        assert at.text_input(key="uri_text").placeholder == example, "the empty box shows the chosen one's form"


def test_a_silent_server_marks_the_step_the_test_was_waiting_on(silent_port: int, forms: Forms) -> None:
    """A black hole accepts the connection and never answers: the step under way when the deadline hit is the
    one marked, and no later step is shown as passed or blamed."""
    at = new_app()
    choose(at, PG)
    fill(at, PG, {"host": "127.0.0.1", "port": silent_port, "database": "d", "username": "u", "password": "p"})
    press_test(at)
    result = at.session_state["test_result"]
    assert result["message"]["code"] == "CONNECTION_TIMEOUT"
    waited_on = result["running"]
    assert waited_on, "the stream said which step was under way"
    lines = at.status[0].markdown[0].value.split("  \n")
    failed = [line for line in lines if ":material/cancel:" in line]
    assert len(failed) == 1 and forms.stage(waited_on) in failed[0], lines
    after = lines[lines.index(failed[0]) + 1:]
    assert after and all("not reached" in line for line in after), after
