"""CSRF, both spellings (docs/design.md): `X-CSRF-Token`, or Django's `X-CSRFToken` with the `csrftoken` cookie."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from backend.main import create_app
from tests.helpers import ADMIN, ADMIN_PASSWORD, AUTH_API, auth_settings

TEST = "/api/v1/database_connections/test/"


def closed_body(port: int) -> dict[str, object]:
    return {"connector_type": "PostgreSQLConnector", "host": "127.0.0.1", "port": port, "database": "db",
            "username": "u", "password": "pw"}


def test_the_login_sets_a_readable_lax_csrftoken_cookie_with_the_session_token(tmp_path: Path) -> None:
    with TestClient(create_app(auth_settings(tmp_path))) as client:
        response = client.post(AUTH_API, json={"username": ADMIN, "password": ADMIN_PASSWORD})
        assert response.status_code == 200
        (cookie,) = [c for c in response.headers.get_list("set-cookie") if c.startswith("csrftoken=")]
        attributes = [a.strip().lower() for a in cookie.split(";")]
        assert "httponly" not in attributes and "samesite=lax" in attributes and "path=/" in attributes
        assert client.cookies["csrftoken"] == response.json()["csrf_token"]
        session_cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("sessionid="))
        assert "httponly" in session_cookie.lower()
        out = client.delete(AUTH_API, headers={"X-CSRFToken": client.cookies["csrftoken"]})
        assert out.status_code == 204
        assert any(c.startswith("csrftoken=") and "max-age=0" in c.lower() for c in out.headers.get_list("set-cookie"))


def test_django_style_x_csrftoken_with_the_cookie_passes_and_every_mismatch_is_refused(
    tmp_path: Path, closed_port: int
) -> None:
    with TestClient(create_app(auth_settings(tmp_path))) as client:
        token = client.post(AUTH_API, json={"username": ADMIN, "password": ADMIN_PASSWORD}).json()["csrf_token"]
        body = closed_body(closed_port)

        def post(headers: dict[str, str], cookie: str | None) -> httpx.Response:
            client.cookies.delete("csrftoken")
            if cookie is not None:
                client.cookies.set("csrftoken", cookie)
            return client.post(TEST, json=body, headers=headers)

        ok = post({"X-CSRFToken": token}, token)
        assert ok.status_code == 200 and ok.json()["code"] == "PORT_CLOSED"
        assert post({"X-CSRF-Token": token}, None).status_code == 200, "the wizard's own spelling needs no cookie"
        for headers, cookie in (
            ({"X-CSRFToken": token}, None),  # no cookie
            ({"X-CSRFToken": token}, "0" * 64),  # header and cookie differ
            ({"X-CSRFToken": "0" * 64}, "0" * 64),  # the same, but not the session's
            ({}, token),  # the cookie alone proves nothing: a browser sends it by itself
        ):
            refused = post(headers, cookie)
            assert refused.status_code == 403 and refused.json()["code"] == "CSRF_FAILED", (headers, cookie)
