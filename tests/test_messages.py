"""The shape of every ApplicationMessage the API returns: success, failure, 422, 503, 404, 413."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from backend.main import create_app
from backend.messages import VERDICT_CODES
from tests.conftest import DB, TEST_API, make_settings, run_test

KEYS = {"id", "code", "title", "body", "durability", "duration", "kind", "details", "payload", "action",
        "display", "created_at"}
STAGES = ["parameters", "dns", "tcp", "ssh", "tls", "authentication", "database", "query"]


def assert_message(msg: dict[str, Any], *, kind: str, display: str) -> None:
    assert set(msg) == KEYS
    assert isinstance(msg["code"], str) and msg["code"]
    assert isinstance(msg["title"], str) and msg["title"]
    assert isinstance(msg["body"], str) and msg["body"]
    assert msg["kind"] == kind
    assert msg["display"] == display
    assert msg["durability"] == "temporary"
    if msg["details"] is not None:
        assert all(isinstance(k, str) and isinstance(v, list) and v and all(isinstance(s, str) for s in v)
                   for k, v in msg["details"].items())


def assert_diagnosis(msg: dict[str, Any]) -> None:
    payload = msg["payload"]
    assert [s["name"] for s in payload["stages"]] == STAGES
    for s in payload["stages"]:
        assert set(s) == {"name", "status", "duration_ms", "detail"}
        assert s["status"] in ("passed", "failed", "skipped", "warning")
        assert s["duration_ms"] is None or (isinstance(s["duration_ms"], int) and s["duration_ms"] >= 0)
    assert isinstance(payload["elapsed_ms"], int)
    assert msg["code"] in {c.value for c in VERDICT_CODES}


def pg(db: DB, **overrides: Any) -> dict[str, Any]:
    return {"connector_type": "PostgreSQLConnector", "host": db.host, "port": db.port, "database": db.database,
            "username": db.user, "password": db.password, **overrides}


def test_success(client: httpx.Client, postgres: DB) -> None:
    msg = run_test(client, pg(postgres))
    assert_message(msg, kind="success", display="notification")
    assert_diagnosis(msg)
    assert msg["code"] == "CONNECTION_SUCCESSFUL" and msg["details"] is None
    assert set(msg["payload"]["server"]) >= {"product", "version", "user", "database"}
    assert set(msg["payload"]["tls"]) >= {"enabled"}


def test_failure(client: httpx.Client, postgres: DB, closed_port: int) -> None:
    msg = run_test(client, pg(postgres, port=closed_port))
    assert_message(msg, kind="error", display="field")
    assert_diagnosis(msg)
    assert [s["status"] for s in msg["payload"]["stages"]][:3] == ["passed", "passed", "failed"]
    assert all(s["status"] == "skipped" for s in msg["payload"]["stages"][3:])


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"connector_type": "PostgreSQLConnector"}, {"host", "database", "username", "password"}),
        ({"connector_type": "PostgreSQLConnector", "host": "h", "database": "d", "username": "u", "password": "p",
          "port": 70000}, {"port"}),
        ({"connector_type": "PostgreSQLConnector", "host": "h", "database": "d", "username": "u", "password": "p",
          "hooks_params": {"SSHTunnel": {"port": "twenty-two"}}}, {"hooks_params.SSHTunnel.port"}),
        ({"host": "h"}, {"connector_type"}),
        ({"connector_type": "NoSuchConnector"}, {"connector_type"}),
        ([1, 2, 3], {"body"}),
    ],
)
def test_invalid_body(client: httpx.Client, body: Any, fields: set[str]) -> None:
    response = client.post(TEST_API, json=body)
    assert response.status_code == 422
    msg = response.json()
    assert_message(msg, kind="error", display="field")
    assert msg["code"] == "INVALID_PARAMETERS"
    assert set(msg["details"]) == fields
    for field in fields:
        assert field in msg["body"]


def test_malformed_json(client: httpx.Client) -> None:
    response = client.post(TEST_API, content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert_message(response.json(), kind="error", display="field")
    assert list(response.json()["details"]) == ["body"]


def test_unknown_route(client: httpx.Client) -> None:
    response = client.get("/api/v1/nothing/")
    assert response.status_code == 404
    assert_message(response.json(), kind="error", display="notification")


def test_body_too_large(client: httpx.Client) -> None:
    response = client.post(TEST_API, content=b"x" * (300 * 1024), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert_message(response.json(), kind="error", display="notification")
    assert response.json()["code"] == "REQUEST_TOO_LARGE"


def test_busy(postgres: DB, silent_port: int) -> None:
    app = create_app(make_settings(max_concurrent_tests=1, test_timeout_s=2.0))

    async def scenario() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://wizard.test") as c:
            slow = asyncio.create_task(c.post(TEST_API, json=pg(postgres, port=silent_port)))
            await asyncio.sleep(0.3)
            busy = await c.post(TEST_API, json=pg(postgres))
            return [await slow, busy]

    slow, busy = asyncio.run(scenario())
    assert slow.status_code == 200 and slow.json()["code"] == "CONNECTION_TIMEOUT"
    assert busy.status_code == 503
    assert busy.headers["retry-after"].isdigit()
    msg = busy.json()
    assert_message(msg, kind="error", display="notification")
    assert msg["code"] == "SERVICE_BUSY"
