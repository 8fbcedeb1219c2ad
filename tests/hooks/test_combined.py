"""Hooks together: an SSH tunnel, TLS verify-full and a password in one test."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import DB, run_test, stage


def body(db: DB, connector_type: str, sshd: Any, ssl: dict[str, Any]) -> dict[str, Any]:
    # The database host is named as the SSH server sees it; the certificate names "localhost".
    return {
        "connector_type": connector_type,
        "host": "localhost",
        "port": db.port,
        "database": db.database,
        "username": db.user,
        "password": db.password,
        "hooks_params": {"SSHTunnel": sshd.tunnel(), "SSL": ssl},
    }


@pytest.mark.parametrize(
    ("fixture", "connector_type", "mode", "product"),
    [
        ("postgres_tls", "PostgreSQLConnector", "verify-full", "PostgreSQL"),
        ("mariadb_tls", "MySQLMariaDBConnector", "VERIFY_IDENTITY", "MariaDB"),
    ],
)
def test_tunnel_tls_verify_full_and_password(
    client: httpx.Client, sshd: Any, pki: Any, request: pytest.FixtureRequest,
    fixture: str, connector_type: str, mode: str, product: str,
) -> None:
    db: DB = request.getfixturevalue(fixture)
    msg = run_test(client, body(db, connector_type, sshd, {"ssl_mode": mode, "ca": pki.ca.cert_pem}))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert [s["status"] for s in msg["payload"]["stages"]] == ["passed"] * 8
    tls = msg["payload"]["tls"]
    assert tls["enabled"] is True and tls["verified"] is True
    assert tls["version"].startswith("TLSv1.")
    assert msg["payload"]["server"]["product"] == product
    assert "through the SSH tunnel" in msg["body"]
    assert msg["payload"]["ssh"]["host_key"]["fingerprint"].startswith("SHA256:")
    assert msg["payload"]["ssh"]["host_key"]["fingerprint"] in msg["body"]


def test_tunnel_with_the_wrong_ca_is_refused_at_the_tls_stage(
    client: httpx.Client, sshd: Any, pki: Any, postgres_tls: DB
) -> None:
    msg = run_test(client, body(postgres_tls, "PostgreSQLConnector", sshd,
                                {"ssl_mode": "verify-full", "ca": pki.other_ca.cert_pem}))
    assert msg["code"] == "TLS_CERTIFICATE_INVALID"
    assert stage(msg, "ssh")["status"] == "passed"
    assert stage(msg, "tls")["status"] == "failed"
    assert stage(msg, "authentication")["status"] == "skipped"
