"""The API page with AppTest: endpoints, links, and the filled form as curl and Python, secrets masked."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from components.form import placeholder_for
from components.snippets import curl_snippet, python_snippet
from tests.conftest import DB, NASTY_PASSWORD
from tests.ui.conftest import new_app, start_api
from tests.ui.helpers import choose, curl_body, fill

pytestmark = pytest.mark.usefixtures("ui_env")
PAGE = "pages/api.py"


def test_links_endpoints_and_an_example_before_any_form(supported: dict[str, Any], ui_env: str) -> None:
    at = new_app(PAGE)
    links = {b.proto.url for b in at.get("link_button")}
    assert links == {f"{ui_env}/api/playground/", f"{ui_env}/api/schema/"}
    text = "\n".join(m.value for m in at.markdown)
    schema = httpx.get(f"{ui_env}/api/schema/", timeout=10).json()
    for path, item in schema["paths"].items():  # every endpoint the API documents, none hard-coded
        for method in item:
            assert f"`{method.upper()} {path}`" in text, (method, path)
    assert "Bearer" in text and "sessionid" in text
    body = curl_body(at.code[0].value)
    assert body["connector_type"] in supported["write_connectors"]


def test_the_filled_form_becomes_curl_and_python_with_placeholders(postgres: DB) -> None:
    at = new_app()
    choose(at, "PostgreSQLConnector")
    fill(at, "PostgreSQLConnector", {"host": postgres.host, "port": postgres.port, "database": "appdb",
                                     "username": "wizard", "password": NASTY_PASSWORD})
    at.toggle(key="hook-PostgreSQLConnector-SSL").set_value(True).run()
    at.selectbox(key="w-PostgreSQLConnector-hooks_params-SSL-ssl_mode").set_value("require").run()
    at.switch_page(PAGE).run()
    assert not at.exception
    curl, python = at.code[0].value, at.code[1].value
    body = curl_body(curl)
    assert body == {
        "connector_type": "PostgreSQLConnector", "is_source": True, "host": postgres.host, "database": "appdb",
        "username": "wizard", "password": "<PASSWORD>", "port": postgres.port, "protocol": "postgresql+psycopg2",
        "include_views": False, "hooks_params": {"SSL": {"ssl_mode": "require"}},
    }
    assert "'password': '<PASSWORD>'" in python and "httpx.Client" in python
    compile(python, "snippet", "exec")
    for code in (curl, python):
        assert NASTY_PASSWORD not in code
    # Back on the Connect page, the form is as it was left (values persist across pages).
    at.switch_page("pages/connect.py").run()
    assert at.text_input(key="w-PostgreSQLConnector-password").value == NASTY_PASSWORD
    assert at.toggle(key="hook-PostgreSQLConnector-SSL").value is True


def test_the_snippets_run_against_the_api_with_login(tmp_path: Path, postgres: DB) -> None:
    """The curl and Python snippets, placeholders filled in, log in (cookie + CSRF token) and test."""
    admin_password = "Snippet-Admin-Pw-1!"
    api = start_api(auth_enabled=True, admin_password=admin_password, database_url=f"sqlite:///{tmp_path}/w.db")
    try:
        body = {"connector_type": "PostgreSQLConnector", "is_source": True, "host": postgres.host,
                "port": postgres.port, "database": postgres.database, "username": postgres.user,
                "password": placeholder_for("password")}

        def filled(code: str, quote: Callable[[str], str]) -> str:
            for placeholder, value in (("<USERNAME>", "admin"), ("<WIZARD_PASSWORD>", admin_password),
                                       ("<PASSWORD>", postgres.password)):
                for quoted in (f'"{placeholder}"', f"'{placeholder}'"):
                    code = code.replace(quoted, quote(value))
            assert "<" + "PASSWORD>" not in code
            return code

        python = filled(python_snippet(api.url, body), repr)
        out = subprocess.run([sys.executable, "-c", python], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.startswith("CONNECTION_SUCCESSFUL"), out.stdout

        curl = filled(curl_snippet(api.url, body), json.dumps)
        out = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["code"] == "CONNECTION_SUCCESSFUL", out.stdout
    finally:
        api.stop()
