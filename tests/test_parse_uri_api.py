"""``POST /api/v1/database_connections/parse_uri/``: the paste box's reader, served (DESIGN.md "Endpoints added")."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from tests.helpers import Captured, auth_settings, login

PARSE = "/api/v1/database_connections/parse_uri/"
SECRET = "Paste-Canary-9q"


def test_a_uri_is_read_into_a_body_with_its_notes(client: httpx.Client) -> None:
    response = client.post(PARSE, json={"uri": f"postgresql://alice:{SECRET}@db.example.com:5433/sales?foo=1"})
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    answer = response.json()
    assert answer["connection"] == {"connector_type": "PostgreSQLConnector", "username": "alice", "password": SECRET,
                                    "host": "db.example.com", "port": 5433, "database": "sales"}
    assert any("foo" in note for note in answer["notes"]) and all(SECRET not in note for note in answer["notes"])


@pytest.mark.parametrize(("uri", "connector_type", "expected"), [
    ("jdbc:sqlserver://sql.example.com:1433;databaseName=shop", "MsSQLConnector", {"host": "sql.example.com", "database": "shop"}),
    ("jdbc:oracle:thin:@ora.example.com:1521/FREEPDB1", "OracleConnector", {"host": "ora.example.com", "port": 1521}),
    ("s3://my-bucket/folder", "S3FSConnector", {"bucket": "my-bucket"}),
])
def test_jdbc_and_storage_forms(client: httpx.Client, uri: str, connector_type: str, expected: dict[str, object]) -> None:
    answer = client.post(PARSE, json={"uri": uri}).json()
    assert answer["connection"]["connector_type"] == connector_type
    assert expected.items() <= answer["connection"].items(), answer


@pytest.mark.parametrize("uri", ["", "not a uri", f"gopher://u:{SECRET}@h/x"])
def test_unreadable_text_is_422_naming_uri_without_the_secret(client: httpx.Client, uri: str) -> None:
    response = client.post(PARSE, json={"uri": uri})
    assert response.status_code == 422, response.text
    message = response.json()
    assert message["code"] == "INVALID_PARAMETERS" and list(message["details"]) == ["uri"]
    assert SECRET not in response.text


def test_a_body_without_uri_names_it(client: httpx.Client) -> None:
    response = client.post(PARSE, json={})
    assert response.status_code == 422 and "uri" in str(response.json()["details"])


def test_login_and_csrf_as_for_other_writes_and_never_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = {"uri": f"mysql://bob:{SECRET}@db.example.com/shop"}
    with TestClient(create_app(auth_settings(tmp_path))) as http, Captured() as logs:
        assert http.post(PARSE, json=body).json()["code"] == "NOT_AUTHENTICATED"
        token = login(http)
        refused = http.post(PARSE, json=body)
        assert (refused.status_code, refused.json()["code"]) == (403, "CSRF_FAILED")
        accepted = http.post(PARSE, json=body, headers={"X-CSRF-Token": token})
        assert accepted.status_code == 200 and accepted.json()["connection"]["password"] == SECRET
    assert SECRET not in logs.text and SECRET not in caplog.text
