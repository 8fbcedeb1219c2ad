"""Every HTTP error the API can answer is an ApplicationMessage of the same shape (as datasette's
test_error_shape.py pins its own): each status is requested for real and its body checked field by field."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from tests.conftest import TEST_API, make_settings
from tests.helpers import auth_settings, login
from tests.servers.common import LOOPBACK

SUPPORTED = "/api/v1/database_connections/supported_types/"
MESSAGE_KEYS = {"id", "code", "title", "body", "durability", "duration", "kind", "details", "payload", "action",
                "display", "created_at"}


def closed_body(port: int) -> dict[str, Any]:
    return {"connector_type": "PostgreSQLConnector", "host": LOOPBACK, "port": port, "database": "d",
            "username": "u", "password": "error-shape-pw"}


def assert_shape(response: httpx.Response, status: int, code: str, *, fields: set[str] | None = None) -> dict[str, Any]:
    """``response`` is ``status`` with an ApplicationMessage ``code``: every key, an error, plain words."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    msg: dict[str, Any] = response.json()
    assert set(msg) == MESSAGE_KEYS
    assert msg["code"] == code and msg["kind"] == "error"
    assert isinstance(msg["title"], str) and msg["title"] and isinstance(msg["body"], str) and msg["body"]
    assert "Traceback" not in msg["body"]
    if fields is None:
        assert msg["details"] is None and msg["display"] == "notification"
    else:
        assert set(msg["details"]) == fields and msg["display"] == "field"
        assert all(isinstance(v, list) and v and all(isinstance(s, str) for s in v) for v in msg["details"].values())
    return msg


@pytest.fixture
def authed(tmp_path: Path) -> Any:
    with TestClient(create_app(auth_settings(tmp_path))) as client:
        yield client


def test_400_an_undecodable_body_is_answered_as_invalid_parameters(client: httpx.Client) -> None:
    # FastAPI answers a body that is not UTF-8 with 400; the API answers every unreadable body as the
    # design's 422 INVALID_PARAMETERS naming the body, never a bare 400.
    response = client.post(TEST_API, content=b'{"host": "\xff"}', headers={"content-type": "application/json"})
    assert_shape(response, 422, "INVALID_PARAMETERS", fields={"body"})


def test_401_without_credentials(authed: TestClient) -> None:
    assert_shape(authed.get(SUPPORTED), 401, "NOT_AUTHENTICATED")


def test_403_a_cookie_write_without_the_csrf_token(authed: TestClient, closed_port: int) -> None:
    login(authed)
    assert_shape(authed.post(TEST_API, json=closed_body(closed_port)), 403, "CSRF_FAILED")


def test_404_an_unknown_path(client: httpx.Client) -> None:
    assert_shape(client.get("/api/v1/no-such-thing/"), 404, "NOT_FOUND")


def test_405_a_method_the_path_does_not_take(client: httpx.Client) -> None:
    response = client.put(SUPPORTED)
    msg = assert_shape(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["allow"] and "GET" in msg["body"]


@pytest.mark.parametrize("method", ["GET", "DELETE", "PATCH"])
def test_405_on_a_fixed_path_beside_saved_connections_ids(client: httpx.Client, method: str) -> None:
    # `GET test/` must not be taken for the saved connection "test" (a 404 would hide the Allow header).
    response = client.request(method, TEST_API)
    assert_shape(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "POST"


def test_every_fixed_path_is_reserved_from_saved_connection_ids(client: httpx.Client) -> None:
    from backend.api.routers.ids import RESERVED

    prefix = "/api/v1/database_connections/"
    paths = client.get("/api/schema/").json()["paths"]
    fixed = {p.removeprefix(prefix).split("/")[0] for p in paths if p.startswith(prefix) and p != prefix}
    assert fixed - {"{id}"} == set(RESERVED)


def test_413_a_body_too_large(client: httpx.Client) -> None:
    response = client.post(TEST_API, content=b"x" * (300 * 1024), headers={"content-type": "application/json"})
    assert_shape(response, 413, "REQUEST_TOO_LARGE")


def test_422_a_body_that_breaks_the_schema(client: httpx.Client) -> None:
    response = client.post(TEST_API, json={"connector_type": "PostgreSQLConnector", "host": "h", "port": "5432"})
    msg = assert_shape(response, 422, "INVALID_PARAMETERS", fields={"database", "username", "password", "port"})
    assert "port" in msg["body"]


def test_429_over_the_test_rate(tmp_path: Path, closed_port: int) -> None:
    with TestClient(create_app(auth_settings(tmp_path, test_rate_per_minute=1))) as client:
        token = login(client)
        first = client.post(TEST_API, json=closed_body(closed_port), headers={"X-CSRF-Token": token})
        assert first.status_code == 200
        limited = client.post(TEST_API, json=closed_body(closed_port), headers={"X-CSRF-Token": token})
    assert_shape(limited, 429, "TOO_MANY_REQUESTS")
    assert limited.headers["retry-after"].isdigit()


def test_503_too_many_tests_in_flight(silent_port: int) -> None:
    app = create_app(make_settings(max_concurrent_tests=1, test_timeout_s=2.0))

    async def scenario() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://wizard.test") as c:
            slow = asyncio.create_task(c.post(TEST_API, json=closed_body(silent_port)))
            await asyncio.sleep(0.3)
            busy = await c.post(TEST_API, json=closed_body(silent_port))
            await slow
            return busy

    busy = asyncio.run(scenario())
    assert_shape(busy, 503, "SERVICE_BUSY")
    assert busy.headers["retry-after"].isdigit()
