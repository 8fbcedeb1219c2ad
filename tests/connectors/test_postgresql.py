"""PostgreSQL against the suite's own server: every code it can produce here."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import DB, run_test, stage


def body(db: DB, **overrides: Any) -> dict[str, Any]:
    return db.body("PostgreSQLConnector", **overrides)


def test_success_reports_what_was_verified(client: httpx.Client, postgres: DB) -> None:
    msg = run_test(client, body(postgres, schema_name="sales"))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert msg["kind"] == "success"
    server = msg["payload"]["server"]
    assert server["product"] == "PostgreSQL"
    assert server["version"].startswith("15")
    assert server["user"] == "wizard" and server["database"] == "appdb" and server["schema"] == "sales"
    # This server has no TLS: libpq's default 'prefer' goes on in plain text, and the tls stage warns.
    assert [s["status"] for s in msg["payload"]["stages"]] == [
        "passed", "passed", "passed", "skipped", "warning", "passed", "passed", "passed"
    ]
    assert msg["payload"]["tls"] == {"enabled": False}
    assert "PostgreSQL 15" in msg["body"] and "appdb" in msg["body"]
    # One driver login settles tls, authentication and database: it is timed once, under tls,
    # and the other two say so, in words a person reads, rather than claim 0 ms.
    assert isinstance(stage(msg, "tls")["duration_ms"], int)
    for name in ("authentication", "database"):
        assert stage(msg, name)["duration_ms"] is None
        detail = stage(msg, name)["detail"]
        assert detail == "Checked in the same exchange with the server as setting up encryption; its time is counted there."
        assert "'tls'" not in detail and "driver" not in detail


def test_wrong_password(client: httpx.Client, postgres: DB) -> None:
    msg = run_test(client, body(postgres, password="not-the-password"))
    assert msg["code"] == "AUTHENTICATION_FAILED"
    assert "password" in msg["details"] and msg["display"] == "field"
    assert stage(msg, "authentication")["status"] == "failed"
    assert stage(msg, "database")["status"] == "skipped"


def test_unknown_database(client: httpx.Client, postgres: DB) -> None:
    msg = run_test(client, body(postgres, database="no_such_db"))
    assert msg["code"] == "DATABASE_NOT_FOUND"
    assert list(msg["details"]) == ["database"]
    assert stage(msg, "authentication")["status"] == "passed"
    assert stage(msg, "database")["status"] == "failed"


def test_no_connect_privilege(client: httpx.Client, postgres: DB) -> None:
    msg = run_test(client, body(postgres, username="outsider", password="outsider-pw"))
    assert msg["code"] == "PERMISSION_DENIED"
    assert "database" in msg["details"]


def test_unknown_schema(client: httpx.Client, postgres: DB) -> None:
    msg = run_test(client, body(postgres, schema_name="nope"))
    assert msg["code"] == "SCHEMA_NOT_FOUND"
    assert list(msg["details"]) == ["schema_name"]
    assert stage(msg, "query")["status"] == "failed"


def test_schema_without_usage(client: httpx.Client, postgres: DB) -> None:
    msg = run_test(client, body(postgres, schema_name="secret_schema"))
    assert msg["code"] == "PERMISSION_DENIED"
    assert list(msg["details"]) == ["schema_name"]


def test_driver_not_installed(client: httpx.Client, postgres: DB) -> None:
    msg = run_test(client, body(postgres, protocol="postgresql+pg8000"))
    assert msg["code"] == "DRIVER_NOT_AVAILABLE"
    assert "pg8000" in msg["body"] and "protocol" in msg["details"]


def test_unknown_protocol(client: httpx.Client, postgres: DB) -> None:
    msg = run_test(client, body(postgres, protocol="mysql+pymysql"))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert "protocol" in msg["details"]


@pytest.mark.parametrize("password", ["a@b", "x:y/z", "h#a%s?h&e=q"])
def test_wrong_passwords_with_url_characters_are_refused_not_misparsed(
    client: httpx.Client, postgres: DB, password: str
) -> None:
    msg = run_test(client, body(postgres, password=password))
    assert msg["code"] == "AUTHENTICATION_FAILED"
    assert password not in str(msg)
