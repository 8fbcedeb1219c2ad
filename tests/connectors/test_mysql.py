"""MySQL/MariaDB against the suite's own MariaDB: every code it can produce here, with both drivers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import DB, expect_timeout, run_test, stage

PROTOCOLS = ["mysql+mysqldb", "mysql+pymysql"]


def body(db: DB, **overrides: Any) -> dict[str, Any]:
    return db.body("MySQLMariaDBConnector", **overrides)


def test_default_protocol_is_mysqldb_and_works_out_of_the_box(client: httpx.Client, mariadb: DB) -> None:
    payload = body(mariadb)
    assert "protocol" not in payload
    msg = run_test(client, payload)
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert msg["payload"]["server"]["product"] == "MariaDB"
    assert msg["payload"]["server"]["database"] == "appdb"
    assert msg["payload"]["server"]["user"].startswith("wizard@")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_success(client: httpx.Client, mariadb: DB, protocol: str) -> None:
    msg = run_test(client, body(mariadb, protocol=protocol))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert "MariaDB 10" in msg["body"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_wrong_password(client: httpx.Client, mariadb: DB, protocol: str) -> None:
    msg = run_test(client, body(mariadb, protocol=protocol, password="wrong"))
    assert msg["code"] == "AUTHENTICATION_FAILED"
    assert "password" in msg["details"]
    assert stage(msg, "authentication")["status"] == "failed"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unknown_database(client: httpx.Client, mariadb: DB, protocol: str) -> None:
    # a user with global privileges is told the database is missing (ER_BAD_DB_ERROR, 1049)
    msg = run_test(client, body(mariadb, protocol=protocol, username="poweruser", password="power-pw",
                                database="no_such_db"))
    assert msg["code"] == "DATABASE_NOT_FOUND"
    assert list(msg["details"]) == ["database"]
    assert stage(msg, "authentication")["status"] == "passed"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_database_without_privilege(client: httpx.Client, mariadb: DB, protocol: str) -> None:
    # a user without rights on it cannot tell a missing database from a forbidden one (1044)
    for database in ("otherdb", "no_such_db"):
        msg = run_test(client, body(mariadb, protocol=protocol, database=database))
        assert msg["code"] == "PERMISSION_DENIED"
        assert list(msg["details"]) == ["database"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_silent_host(client: httpx.Client, mariadb: DB, silent_port: int, protocol: str) -> None:
    expect_timeout(client, body(mariadb, port=silent_port, protocol=protocol))

