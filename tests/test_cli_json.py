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


def run_json(tmp_path: Path, body: dict[str, Any], **wizard: str) -> tuple[int, dict[str, Any], str]:
    run = cli(tmp_path, "--json", "--body", "-", stdin=json.dumps(body), command=None, **wizard)
    assert "Traceback" not in run.stderr, run.stderr
    message: dict[str, Any] = json.loads(run.stdout)  # exactly one JSON document
    return run.returncode, message, run.stdout


def pg(db: DB, **overrides: Any) -> dict[str, Any]:
    return db.body("PostgreSQLConnector", **overrides)


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
    ],
)
def test_json_parses_for_every_verdict(
    tmp_path: Path, request: pytest.FixtureRequest, case: str, code: str, status: int, closed_port: int
) -> None:
    wizard: dict[str, str] = {}
    secrets = [NASTY_PASSWORD, WRONG]
    if case == "mariadb wrong password":
        db: DB = request.getfixturevalue("mariadb")
        body = db.body("MySQLMariaDBConnector", password=WRONG)
    else:
        db = request.getfixturevalue("postgres")
        body = {
            "success": pg(db),
            "wrong password": pg(db, password=WRONG),
            "no such database": pg(db, database="nosuchdb"),
            "closed port": pg(db, port=closed_port),
            "blocked target": pg(db),
            "invalid body": pg(db, port="not a port"),
        }[case]
        if case == "blocked target":
            wizard["blocked_targets"] = "127.0.0.0/8"
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
