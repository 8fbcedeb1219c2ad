"""HEAD wherever GET is, and a 405 whose Allow names every method of the path (docs/design.md,
"The OpenAPI document"), from the route table: routes added later are covered too."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from tests.conftest import make_settings
from tests.servers.api import serve

SAVED = "/api/v1/database_connections/"
BODY = {"name": "heads", "connection": {"connector_type": "PostgreSQLConnector", "host": "127.0.0.1", "port": 1,
                                        "database": "db", "username": "u", "password": "pw"}}


def get_paths(client: httpx.Client, saved_id: str) -> list[str]:
    document = client.get("/api/schema/").json()
    paths = [p.replace("{id}", saved_id) for p, item in document["paths"].items() if "get" in item]
    return [*paths, "/api/schema/", "/api/playground/"]


def test_head_answers_every_get_path_with_its_headers_and_no_body(client: httpx.Client) -> None:
    saved_id = client.post(SAVED, json=BODY).json()["id"]
    for path in get_paths(client, saved_id):
        params = {"connector_type": "PostgreSQLConnector"} if path.endswith("/functionalities/") else None
        got = client.get(path, params=params)
        head = client.head(path, params=params)
        assert head.status_code == got.status_code, path
        assert head.content == b"", path
        assert head.headers["content-type"] == got.headers["content-type"], path
        for name in ("content-length", "etag", "cache-control"):
            if name in got.headers and path != "/api/metrics":
                assert head.headers.get(name) == got.headers[name], (path, name)


def test_405_names_the_methods_of_the_path(client: httpx.Client) -> None:
    saved_id = client.post(SAVED, json=BODY).json()["id"]
    cases = {
        f"{SAVED}{saved_id}/": "DELETE, GET, HEAD, PATCH",
        SAVED: "GET, HEAD, POST",
        "/api/v1/auth/": "DELETE, GET, HEAD, POST",
        f"{SAVED}test/": "POST",
    }
    for path, allow in cases.items():
        response = client.put(path, json={})
        assert response.status_code == 405, path
        assert response.headers["allow"] == allow, path
        body = response.json()
        assert body["code"] == "METHOD_NOT_ALLOWED" and allow in body["body"], path
    assert client.head(f"{SAVED}test/").headers["allow"] == "POST", "HEAD only where GET is"


@pytest.mark.parametrize("path", ["/api/v1/live/", "/api/v1/database_connections/supported_types/"])
def test_head_over_a_real_server(path: str) -> None:
    with TestClient(create_app(make_settings())) as _, serve(create_app(make_settings())) as url:
        head = httpx.head(url + path, timeout=10)
        got = httpx.get(url + path, timeout=10)
    assert head.status_code == got.status_code == 200
    assert head.content == b"" and head.headers["content-length"] == got.headers["content-length"]
