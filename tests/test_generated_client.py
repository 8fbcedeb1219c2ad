"""A client generated from ``/api/schema/`` by openapi-python-client, with no warning, walks the
journey against the app on a real uvicorn (docs/design.md, "The OpenAPI document")."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.main import create_app
from tests.conftest import DB
from tests.helpers import ADMIN, ADMIN_PASSWORD, auth_settings
from tests.servers.api import serve

PACKAGE = "connection_wizard_api_client"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[str]:
    with serve(create_app(auth_settings(tmp_path))) as url:
        yield url


@pytest.fixture
def generated(tmp_path: Path, live: str) -> Iterator[Any]:
    """The client package, generated into tmp_path, installed there by pip (``--target``, fetching
    nothing: ``--no-deps --no-index``), and imported from where pip put it, for this test only."""
    spec = tmp_path / "openapi.json"
    spec.write_text(json.dumps(httpx.get(f"{live}/api/schema/", timeout=10).json()))
    generator = Path(sys.executable).with_name("openapi-python-client")
    out = tmp_path / "gen"
    run = subprocess.run([str(generator), "generate", "--path", str(spec), "--output-path", str(out), "--meta", "setup"],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path,
                         env={**os.environ, "PATH": f"{generator.parent}{os.pathsep}{os.environ.get('PATH', '')}"})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Warning" not in run.stdout + run.stderr and "WARNING" not in run.stdout + run.stderr, run.stdout + run.stderr
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-build-isolation",
                              "--no-cache-dir", "--disable-pip-version-check", "--target", str(site), str(out)],
                             capture_output=True, text=True, timeout=300, cwd=tmp_path,
                             env={**os.environ, "TMPDIR": str(tmp_path), "PIP_NO_INPUT": "1"})
    assert install.returncode == 0, install.stdout + install.stderr
    assert list(site.glob(f"{PACKAGE.replace('_', '[-_]')}-*.dist-info")), "installed as a distribution"
    shutil.rmtree(out)  # only the installed copy is left to import
    sys.path.insert(0, str(site))
    try:
        package = importlib.import_module(PACKAGE)
        assert Path(package.__file__ or "").is_relative_to(site), package.__file__
        yield package
    finally:
        sys.path.remove(str(site))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
            del sys.modules[name]
        shutil.rmtree(site, ignore_errors=True)


def test_the_journey_through_the_generated_client(generated: Any, live: str, postgres: DB) -> None:
    api = importlib.import_module(f"{PACKAGE}.api.database_connections")
    auth = importlib.import_module(f"{PACKAGE}.api.auth")
    models = importlib.import_module(f"{PACKAGE}.models")
    for name in ("database_connections_supported_types_retrieve", "database_connections_functionalities_retrieve",
                 "database_connections_test_create", "database_connections_test_stream_create",
                 "database_connections_create", "database_connections_list", "database_connections_retrieve",
                 "database_connections_partial_update", "database_connections_saved_test_create",
                 "database_connections_saved_capabilities_create", "database_connections_destroy"):
        importlib.import_module(f"{api.__name__}.{name}")
    importlib.import_module(f"{auth.__name__}.auth_create")

    plain = generated.Client(base_url=live, raise_on_unexpected_status=True)
    login = auth.auth_create.sync_detailed(client=plain, body=models.LoginRequest(username=ADMIN, password=ADMIN_PASSWORD))
    assert login.status_code == 200
    session = httpx.Cookies()
    session.extract_cookies(httpx.Response(200, headers=login.headers, request=httpx.Request("POST", live)))
    # The session cookie, and the CSRF token as the header the `csrf` scheme names.
    client = generated.AuthenticatedClient(base_url=live, token=login.parsed.csrf_token, prefix="",
                                           auth_header_name="X-CSRF-Token", cookies={"sessionid": session["sessionid"]},
                                           raise_on_unexpected_status=True)

    types = api.database_connections_supported_types_retrieve.sync(client=client)
    assert "PostgreSQLConnector" in types.connectors
    funcs = api.database_connections_functionalities_retrieve.sync(client=client, connector_type="PostgreSQLConnector")
    assert funcs.functionalities

    body = models.CreatePostgreSQLConnector.from_dict(postgres.body("PostgreSQLConnector"))
    verdict = api.database_connections_test_create.sync(client=client, body=body)
    assert verdict.code == "CONNECTION_SUCCESSFUL"
    wrong = models.CreatePostgreSQLConnector.from_dict(postgres.body("PostgreSQLConnector", password="wrong-pw"))
    assert api.database_connections_test_create.sync(client=client, body=wrong).code == "AUTHENTICATION_FAILED"

    streamed = api.database_connections_test_stream_create.sync(client=client, body=body)
    lines = [json.loads(line) for line in streamed.splitlines()]
    assert lines[-1]["event"] == "verdict" and lines[-1]["message"]["code"] == "CONNECTION_SUCCESSFUL"

    created = api.database_connections_create.sync_detailed(
        client=client, body=models.SavedConnectionCreate(name="generated", connection=body)
    )
    assert created.status_code == 201
    saved = created.parsed
    assert created.headers.get("location", f"/api/v1/database_connections/{saved.id}/").endswith(f"/{saved.id}/")
    listed = api.database_connections_list.sync(client=client)
    assert [r.id for r in listed.results] == [saved.id]
    got = api.database_connections_retrieve.sync_detailed(client=client, id=saved.id)
    assert got.parsed.name == "generated"
    etag = got.headers.get("etag")
    patch_kwargs: dict[str, Any] = {}
    module = api.database_connections_partial_update
    if etag is not None and "if_match" in module.sync_detailed.__code__.co_varnames:
        patch_kwargs["if_match"] = etag
    patched = module.sync(client=client, id=saved.id, body=models.SavedConnectionUpdate(name="renamed"), **patch_kwargs)
    assert patched.name == "renamed"
    tested = api.database_connections_saved_test_create.sync(client=client, id=saved.id)
    assert tested.code == "CONNECTION_SUCCESSFUL"
    capabilities = api.database_connections_saved_capabilities_create.sync(client=client, id=saved.id)  # no body
    assert capabilities.verdict.code == "CONNECTION_SUCCESSFUL"
    assert api.database_connections_destroy.sync_detailed(client=client, id=saved.id).status_code == 204


def test_a_django_style_client_posts_with_x_csrftoken_and_the_cookie(live: str, postgres: DB) -> None:
    with httpx.Client(base_url=live, timeout=30) as django:
        assert django.post("/api/v1/auth/", json={"username": ADMIN, "password": ADMIN_PASSWORD}).status_code == 200
        answer = django.post("/api/v1/database_connections/test/", json=postgres.body("PostgreSQLConnector"),
                             headers={"X-CSRFToken": django.cookies["csrftoken"]})
        assert answer.status_code == 200 and answer.json()["code"] == "CONNECTION_SUCCESSFUL"
