"""``python -m backend test --json`` is always valid JSON, masked in its values: for every verdict
code the suite's servers can produce here, the wrong passwords (database and SSH) included."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DB, NASTY_PASSWORD
from tests.helpers import cli

WRONG = "n0t-" + NASTY_PASSWORD[::-1]


def run_json(tmp_path: Path, body: dict[str, Any], **wizard: Any) -> tuple[int, dict[str, Any], str]:
    """``python -m backend test --json --body -`` with ``body`` on standard input, in an environment of its own
    (no WIZARD_* of the caller's, a TMPDIR and a store in ``tmp_path``, a 3 s deadline unless ``wizard`` says)."""
    run = cli(tmp_path, "--json", "--body", "-", stdin=json.dumps(body), **wizard)
    assert "Traceback" not in run.stderr, run.stderr
    message: dict[str, Any] = json.loads(run.stdout)  # exactly one JSON document
    return run.returncode, message, run.stdout


def pg(db: DB, **overrides: Any) -> dict[str, Any]:
    return db.body("PostgreSQLConnector", **overrides)


def my(db: DB, ssl: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    body = db.body("MySQLMariaDBConnector", protocol="mysql+pymysql", **overrides)
    return {**body, "hooks_params": {"SSL": ssl}} if ssl is not None else body


def _body(case: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, wizard: dict[str, str]) -> dict[str, Any]:
    """The body of ``case``, aimed at the suite's server (fixture) that produces its verdict."""
    fixture = request.getfixturevalue
    if case == "mariadb wrong password":
        return fixture("mariadb").body("MySQLMariaDBConnector", password=WRONG)
    if case == "TLS required":  # a REQUIRE SSL account, asked without TLS
        return my(fixture("mariadb_tls"), {"ssl_mode": "DISABLED"}, username="tlsonly")
    if case == "TLS certificate invalid":  # the server's certificate checked against an unrelated CA
        return my(fixture("mariadb_tls"), {"ssl_mode": "verify-full", "ca": fixture("pki").other_ca.cert_pem})
    if case == "S3 bucket not found":
        world = fixture("moto_s3")
        for name in ("AWS_ENDPOINT_URL", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_PROFILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", world.url)  # the CLI's environment is the test's
        return {"connector_type": "S3FSConnector", "bucket": "no-such-bucket", "region": world.region,
                "aws_access_key_id": world.key.key_id, "aws_secret_access_key": world.key.secret}
    if case == "Azure container not found":
        azurite = fixture("azurite")
        return {"connector_type": "ADLSFSConnector", "storage_container_name": "no-such-container",
                "storage_connection_string": azurite.connection_string()}
    db: DB = fixture("postgres")
    if case == "blocked target":
        wizard["blocked_targets"] = "127.0.0.0/8"
    if case == "silent port":
        wizard["test_timeout_s"] = "1"  # the verdict at the deadline: kept short
        return pg(db, port=fixture("silent_port"))
    if case == "connection reset":
        return pg(db, port=fixture("closing").port)
    return {
        "success": lambda: pg(db),
        "wrong password": lambda: pg(db, password=WRONG),
        "no such database": lambda: pg(db, database="nosuchdb"),
        "closed port": lambda: pg(db, port=fixture("closed_port")),
        "blocked target": lambda: pg(db),
        "invalid body": lambda: pg(db, port="not a port"),
        "host not found": lambda: pg(db, host="db.wizard-tests.invalid"),
        "TLS not supported": lambda: {**pg(db), "hooks_params": {"SSL": {"ssl_mode": "require"}}},
    }[case]()




@pytest.mark.parametrize(
    ("case", "code", "status"),
    [
        ("success", "CONNECTION_SUCCESSFUL", 0),
        ("wrong password", "AUTHENTICATION_FAILED", 1),
        ("no such database", "DATABASE_NOT_FOUND", 1),
        ("closed port", "PORT_CLOSED", 1),
        ("blocked target", "TARGET_NOT_ALLOWED", 1),
        ("invalid body", "INVALID_PARAMETERS", 2),
        ("mariadb wrong password", "AUTHENTICATION_FAILED", 1),
        ("host not found", "HOST_NOT_FOUND", 1),
        ("silent port", "CONNECTION_TIMEOUT", 1),
        ("TLS required", "TLS_REQUIRED", 1),
        ("TLS not supported", "TLS_NOT_SUPPORTED", 1),
        ("TLS certificate invalid", "TLS_CERTIFICATE_INVALID", 1),
        ("S3 bucket not found", "BUCKET_NOT_FOUND", 1),
        ("Azure container not found", "CONTAINER_NOT_FOUND", 1),
        pytest.param("connection reset", "CONNECTION_RESET", 1),
    ],
)
def test_json_parses_for_every_verdict(
    tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, case: str, code: str, status: int
) -> None:
    wizard: dict[str, str] = {}
    body = _body(case, request, monkeypatch, wizard)
    secrets = [NASTY_PASSWORD, WRONG, *(str(body[k]) for k in ("password", "aws_secret_access_key",
                                                                 "storage_connection_string") if body.get(k))]
    returncode, message, text = run_json(tmp_path, body, **wizard)
    assert (message["code"], returncode) == (code, status), text
    for secret in secrets:
        assert secret not in text
    if code == "AUTHENTICATION_FAILED":
        assert message["details"] and "password" in message["details"], "the field to fix, as a key"
        failed = " ".join(s["detail"] or "" for s in message["payload"]["stages"] if s["status"] == "failed")
        if case == "mariadb wrong password":
            assert "(using password: YES)" in failed, failed
        else:
            assert failed.count("password authentication failed") == 1, failed


def test_json_parses_for_a_wrong_ssh_password(tmp_path: Path, postgres: DB, sshd: Any) -> None:
    body = pg(postgres, hooks_params={"SSHTunnel": sshd.tunnel(password=WRONG)})
    returncode, message, text = run_json(tmp_path, body)
    assert (message["code"], returncode) == ("SSH_AUTHENTICATION_FAILED", 1), text
    assert WRONG not in text and NASTY_PASSWORD not in text
    assert any(k.startswith("hooks_params.SSHTunnel") for k in message["details"]), message["details"]
