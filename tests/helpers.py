"""Helpers shared by test modules (no test module imports from another; fixtures live in conftest.py)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx

from backend.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def load_spec() -> dict[str, Any]:
    """The seed OpenAPI document the API must match (``docs/spec``)."""
    spec: dict[str, Any] = json.loads((ROOT / "docs" / "spec" / "database_connections.openapi.json").read_text())
    return spec


def new_driver_threads(before: set[int]) -> list[str]:
    """The wizard's threads (driver calls, relays) started since ``before`` that still run."""
    return [t.name for t in threading.enumerate() if t.name.startswith("wizard-") and t.ident not in before]


ADMIN = "admin"
ADMIN_PASSWORD = "Admin-Pw-for-Tests-1!"
AUTH_API = "/api/v1/auth/"


def auth_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings with authentication on, a user store of the test's own and a known admin password."""
    from tests.conftest import make_settings

    values: dict[str, Any] = {
        "auth_enabled": True,
        "database_url": f"sqlite:///{tmp_path}/store/wizard.db",
        "admin_password": ADMIN_PASSWORD,
        **overrides,
    }
    return make_settings(**values)


def login(client: httpx.Client, username: str = ADMIN, password: str = ADMIN_PASSWORD) -> str:
    """Log in; return the CSRF token (the session cookie stays in the client)."""
    response = client.post(AUTH_API, json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token
