"""Live capabilities over HTTP: the contract's shapes, bad input, limits, authentication, secrets and
the saved-connection form (the per-connector answers are in tests/capabilities/)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from tests.capabilities.conftest import CAPABILITIES_API, ask, statuses
from tests.conftest import DB, DEADLINE_S, NASTY_PASSWORD, make_settings
from tests.helpers import assert_within, auth_settings, login

SAVED_API = "/api/v1/database_connections/"


def pg(db: DB, **overrides: Any) -> dict[str, Any]:
    return db.body("PostgreSQLConnector", **overrides)


def test_the_answer_names_every_item_once_in_the_spec_order(client: httpx.Client, postgres: DB) -> None:
    answer = ask(client, pg(postgres), schema="sales")
    assert set(answer) == {"verdict", "scope", "capabilities", "functionalities", "access", "elapsed_ms", "schemas"}
    assert answer["verdict"]["code"] == "CONNECTION_SUCCESSFUL"
    assert [s["name"] for s in answer["verdict"]["payload"]["stages"]][-1] == "query"
    assert answer["scope"] == f"{postgres.user} on database appdb, schema sales"
    assert "sales" in answer["schemas"]
    assert isinstance(answer["elapsed_ms"], int) and answer["elapsed_ms"] >= 0


def test_no_secret_in_the_answer(client: httpx.Client, postgres: DB) -> None:
    """The suite's own user has a password that breaks naive masking; it appears nowhere."""
    text = json.dumps(ask(client, pg(postgres), schema="sales", write_probe=True))
    assert NASTY_PASSWORD not in text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "connection"),
        ({"connection": {"connector_type": "NoSuchConnector"}}, "connection.connector_type"),
        ({"connection": {"connector_type": "PostgreSQLConnector", "host": "h", "database": "d", "username": "u"}},
         "connection.password"),
        ({"connection": {"connector_type": "S3FSConnector", "bucket": "b", "region": "r"}, "write_probe": "yes"},
         "write_probe"),
        ({"connection": {"connector_type": "S3FSConnector", "bucket": "b", "region": "r"}, "schema": 5}, "schema"),
        ({"connection": {"connector_type": "S3FSConnector", "bucket": "b", "region": "r"}, "probe": True}, "probe"),
    ],
)
def test_bad_bodies_are_422_naming_the_field(client: httpx.Client, body: dict[str, Any], field: str) -> None:
    response = client.post(CAPABILITIES_API, json=body)
    assert response.status_code == 422, response.text
    message = response.json()
    assert message["code"] == "INVALID_PARAMETERS"
    assert field in message["details"], message["details"]


def test_a_silent_host_ends_at_the_deadline_with_every_item_unknown(client: httpx.Client, silent_port: int) -> None:
    started = time.monotonic()
    answer = ask(client, {"connector_type": "PostgreSQLConnector", "host": "127.0.0.1", "port": silent_port,
                          "database": "d", "username": "u", "password": "p"}, write_probe=True)
    assert answer["elapsed_ms"] < (DEADLINE_S + 0.5) * 1000, "within the deadline, as the server measured it"
    assert_within(started, DEADLINE_S + 0.5)
    assert answer["verdict"]["code"] == "CONNECTION_TIMEOUT"
    assert set(statuses(answer).values()) == {"unknown"}
    assert answer["scope"] == "nothing: the connection test failed"


def test_the_target_policy_applies(tmp_path: Path, closed_port: int) -> None:
    settings = make_settings(blocked_targets="127.0.0.0/8", database_url=f"sqlite:///{tmp_path}/wizard.db")
    with TestClient(create_app(settings)) as client:
        answer = ask(client, {"connector_type": "PostgreSQLConnector", "host": "127.0.0.1", "port": closed_port,
                              "database": "d", "username": "u", "password": "p"})
    assert answer["verdict"]["code"] == "TARGET_NOT_ALLOWED"
    assert set(statuses(answer).values()) == {"unknown"}


def test_authentication_csrf_and_the_rate_limit(tmp_path: Path, closed_port: int) -> None:
    body = {"connection": {"connector_type": "PostgreSQLConnector", "host": "127.0.0.1", "port": closed_port,
                           "database": "d", "username": "u", "password": "p"}}
    with TestClient(create_app(auth_settings(tmp_path, test_rate_per_minute=2))) as client:
        assert client.post(CAPABILITIES_API, json=body).status_code == 401
        csrf = login(client)
        assert client.post(CAPABILITIES_API, json=body).status_code == 403  # a cookie write without its token
        for _ in range(2):
            answer = client.post(CAPABILITIES_API, json=body, headers={"X-CSRF-Token": csrf})
            assert answer.status_code == 200 and answer.json()["verdict"]["code"] == "PORT_CLOSED"
        refused = client.post(CAPABILITIES_API, json=body, headers={"X-CSRF-Token": csrf})
        assert refused.status_code == 429 and refused.json()["code"] == "TOO_MANY_REQUESTS"
        # the same per-user count as test/
        assert client.post("/api/v1/database_connections/test/", json=body["connection"],
                           headers={"X-CSRF-Token": csrf}).status_code == 429


def test_busy_is_503_with_retry_after(tmp_path: Path, postgres: DB) -> None:
    settings = make_settings(database_url=f"sqlite:///{tmp_path}/wizard.db", max_concurrent_tests=1, retry_after_s=4)
    app = create_app(settings)
    with TestClient(app) as client:
        app.state.service._admit()  # the only slot is taken (as by a test in flight)
        try:
            response = client.post(CAPABILITIES_API, json={"connection": pg(postgres)})
        finally:
            app.state.service._release()
        assert client.post(CAPABILITIES_API, json={"connection": pg(postgres)}).status_code == 200
    assert response.status_code == 503 and response.headers["retry-after"] == "4"
    assert response.json()["code"] == "SERVICE_BUSY"


def test_a_saved_connection(client: httpx.Client, postgres: DB) -> None:
    created = client.post(SAVED_API, json={"name": "appdb", "connection": pg(postgres, schema_name="sales")})
    assert created.status_code == 201, created.text
    path = f"{SAVED_API}{created.json()['id']}/capabilities/"
    requests: list[dict[str, Any]] = [{}, {"json": {}}, {"json": {"schema": "sales", "write_probe": False}}]
    for request in requests:
        response = client.post(path, **request)
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["verdict"]["code"] == "CONNECTION_SUCCESSFUL"
        assert answer["scope"] == f"{postgres.user} on database appdb, schema sales"
        assert NASTY_PASSWORD not in response.text
    unknown = client.post(path, json={"schema": "nope"}).json()
    assert unknown["verdict"]["code"] == "SCHEMA_NOT_FOUND" and list(unknown["verdict"]["details"]) == ["schema"]


def test_a_missing_saved_connection_is_404(client: httpx.Client) -> None:
    response = client.post(f"{SAVED_API}no-such-id/capabilities/", json={})
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_documented_in_the_openapi_document(client: httpx.Client) -> None:
    document = client.get("/api/schema/").json()
    for path in (CAPABILITIES_API, "/api/v1/database_connections/{id}/capabilities/"):
        operation = document["paths"][path]["post"]
        assert operation["tags"] == ["Database Connections"]
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": "#/components/schemas/ConnectionCapabilities"}
        assert "429" in operation["responses"] and "503" in operation["responses"]
    item = document["components"]["schemas"]["CapabilityItem"]
    assert item["properties"]["status"]["$ref"] == "#/components/schemas/CapabilityStatus"
    assert document["components"]["schemas"]["CapabilityStatus"]["enum"] == ["available", "unavailable", "unknown", "not_supported"]
