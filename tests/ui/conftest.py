"""Fixtures of the UI tests: the real API on a loopback port, and the UI pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from backend.main import create_app
from components.metadata import Forms, parse_forms
from tests.conftest import make_settings
from tests.servers.api import LiveAPI
from tests.servers.api import start_api as serve_api

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
RUN_TIMEOUT = 30.0


def start_api(wrap: Callable[[ASGIApp], ASGIApp] | None = None, **overrides: Any) -> LiveAPI:
    """``backend.main:app`` (test settings: no auth, 3 s deadline) served by uvicorn in a thread.

    ``wrap`` puts an ASGI layer in front of it (e.g. an older API that lacks an endpoint).
    """
    app = create_app(make_settings(**overrides))
    return serve_api(app, served=wrap(app) if wrap else None)


@pytest.fixture(autouse=True)
def navigation_apps_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep AppTest from running ``pages/*.py`` as v1 pages after the first run.

    AppTest (Streamlit 1.67) resets ``PagesManager.uses_pages_directory`` before every run, and a
    fresh PagesManager then sees the ``pages/`` folder and runs the requested page script alone,
    without ``app.py``. The app declares its pages with ``st.navigation``, which is what a real
    server keeps to (``app.py`` pins the flag to False for the embedded server).
    """
    original = PagesManager.__init__

    def init(self: PagesManager, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture(scope="session")
def live_api() -> Iterator[LiveAPI]:
    api = start_api()
    yield api
    api.stop()


@pytest.fixture(scope="session")
def supported(live_api: LiveAPI) -> dict[str, Any]:
    """The live metadata, as the UI reads it."""
    response = httpx.get(f"{live_api.url}/api/v1/database_connections/supported_types/", timeout=10)
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


@pytest.fixture(scope="session")
def forms(live_api: LiveAPI) -> Forms:
    """The live ``forms/`` metadata, as the UI reads it."""
    response = httpx.get(f"{live_api.url}/api/v1/database_connections/forms/", timeout=10)
    response.raise_for_status()
    return parse_forms(response.json())


@pytest.fixture
def ui_env(live_api: LiveAPI, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the UI's API client at the live API (``WIZARD_API_URL``)."""
    monkeypatch.setenv("WIZARD_API_URL", live_api.url)
    return live_api.url


def new_app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=RUN_TIMEOUT)
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at
