"""Fixtures: the app, and the real servers the suite starts itself on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

# Keep tests from reading a developer's environment; files live in a folder of the suite's own.
os.environ.setdefault("WIZARD_TEST_TIMEOUT_S", "3")

from backend.main import create_app
from backend.settings import Settings
from tests.servers.common import LOOPBACK, ClosedPort, SilentListener
from tests.servers.mariadb import MariaDBServer
from tests.servers.postgres import PostgresServer

# A password that breaks every URL built by string formatting.
NASTY_PASSWORD = "p@ss:w/rd#%?&= 'x\""
TEST_API = "/api/v1/database_connections/test/"


@dataclass
class DB:
    """Connection facts of a database server the suite started."""

    host: str
    port: int
    user: str
    password: str
    database: str
    server: Any


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"test_timeout_s": 3.0, "auth_enabled": False, **overrides}
    return Settings(**values)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def client(settings: Settings) -> Iterator[httpx.Client]:
    """An HTTP client on the app (in process, through the ASGI interface)."""
    from fastapi.testclient import TestClient

    with TestClient(create_app(settings)) as c:
        yield c


def run_test(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    """POST a test and return its ApplicationMessage (asserting the HTTP status is 200)."""
    response = client.post(TEST_API, json=body)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def stage(message: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in message["payload"]["stages"] if s["name"] == name)
    return found


@pytest.fixture(scope="session")
def postgres() -> Iterator[DB]:
    server = PostgresServer().start()
    escaped = NASTY_PASSWORD.replace("'", "''")
    server.sql(
        f"CREATE ROLE wizard LOGIN PASSWORD '{escaped}'",
        "CREATE ROLE outsider LOGIN PASSWORD 'outsider-pw'",
        "CREATE DATABASE appdb OWNER wizard",
        "REVOKE CONNECT ON DATABASE appdb FROM PUBLIC",
    )
    server.sql(
        "CREATE SCHEMA sales AUTHORIZATION wizard",
        "CREATE SCHEMA secret_schema",
        "REVOKE ALL ON SCHEMA secret_schema FROM PUBLIC",
        database="appdb",
    )
    yield DB(LOOPBACK, server.port, "wizard", NASTY_PASSWORD, "appdb", server)
    server.stop()


@pytest.fixture(scope="session")
def mariadb() -> Iterator[DB]:
    server = MariaDBServer().start()
    escaped = NASTY_PASSWORD.replace("\\", "\\\\").replace("'", "\\'")
    server.sql(
        "CREATE DATABASE appdb",
        "CREATE DATABASE otherdb",
        f"CREATE USER 'wizard'@'%' IDENTIFIED BY '{escaped}'",
        "GRANT ALL ON appdb.* TO 'wizard'@'%'",
        "CREATE USER 'poweruser'@'%' IDENTIFIED BY 'power-pw'",
        "GRANT ALL ON *.* TO 'poweruser'@'%'",
    )
    yield DB(LOOPBACK, server.port, "wizard", NASTY_PASSWORD, "appdb", server)
    server.stop()


@pytest.fixture(scope="session")
def closed_port() -> int:
    return ClosedPort().port


@pytest.fixture(scope="session")
def silent_port() -> Iterator[int]:
    listener = SilentListener()
    yield listener.port
    listener.close()
