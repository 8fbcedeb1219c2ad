"""``python -m backend test`` (and the installed ``connection-wizard``): run as a subprocess against real servers."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import DB, NASTY_PASSWORD, run_test
from tests.helpers import assert_within, auth_settings, cli, cli_env, login, wait_until

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("parameters", "dns", "tcp", "ssh", "tls", "authentication", "database", "query")


def uri(db: DB, password: str | None = None) -> str:
    """``postgresql://user[:password]@host:port/database`` of a test server."""
    from urllib.parse import quote

    secret = f":{quote(password, safe='')}" if password is not None else ""
    return f"postgresql://{db.user}{secret}@{db.host}:{db.port}/{db.database}"


def assert_clean(run: subprocess.CompletedProcess[str], *secrets: str) -> None:
    """No traceback, and no secret in any line of either output."""
    assert "Traceback" not in run.stderr, run.stderr
    for secret in secrets:
        assert secret not in run.stdout and secret not in run.stderr


def stage_lines(stdout: str) -> dict[str, str]:
    """Stage name → its status, from the plain timeline (``  ✔ tcp   passed   1 ms  …``)."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        words = line.split()
        if len(words) >= 3 and words[1] in STAGES:
            found[words[1]] = words[2]
    return found


def test_success(tmp_path: Path, postgres: DB) -> None:
    run = cli(tmp_path, "--uri", uri(postgres), test_password=postgres.password)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "CONNECTION_SUCCESSFUL" in run.stdout
    stages = stage_lines(run.stdout)
    assert stages.pop("tls") in ("passed", "warning")  # warning: the server offers no TLS
    assert stages == {name: "skipped" if name == "ssh" else "passed" for name in STAGES if name != "tls"}
    assert run.stderr == "", "no password in the URI: no warning"
    assert_clean(run, postgres.password)


def test_wrong_password_in_the_uri(tmp_path: Path, postgres: DB) -> None:
    wrong = "n0t-" + NASTY_PASSWORD[::-1]
    run = cli(tmp_path, "--uri", uri(postgres, wrong))
    assert run.returncode == 1
    assert "AUTHENTICATION_FAILED" in run.stdout and "password:" in run.stdout, "the field to fix is named"
    # the driver's own words once, on the stage that failed; the verdict's body is the plain advice
    assert run.stdout.count("password authentication failed") == 1, run.stdout
    warnings = [line for line in run.stderr.splitlines() if "visible to other users" in line]
    assert len(warnings) == 1, run.stderr
    assert_clean(run, wrong, postgres.password)


def test_an_unchecked_certificate_is_a_warning_that_exits_0(tmp_path: Path, postgres_tls: DB) -> None:
    run = cli(tmp_path, "--uri", uri(postgres_tls), test_password=postgres_tls.password)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "CONNECTION_SUCCESSFUL: Connected to PostgreSQL, but the server's identity was not checked" in run.stdout
    assert "set the TLS mode to verify-full" in run.stdout and "hooks_params.SSL.ssl_mode:" in run.stdout
    assert_clean(run, postgres_tls.password)


def test_closed_port(tmp_path: Path, closed_port: int) -> None:
    run = cli(tmp_path, "--uri", f"mysql://etl@127.0.0.1:{closed_port}/sales", test_password="Closed-Pw-1")
    assert run.returncode == 1
    assert "PORT_CLOSED" in run.stdout and stage_lines(run.stdout)["tcp"] == "failed"
    assert_clean(run, "Closed-Pw-1")


def test_body_file_with_an_ssh_tunnel(tmp_path: Path, postgres: DB, sshd: Any) -> None:
    body = tmp_path / "connection.json"
    body.write_text(json.dumps(postgres.body("PostgreSQLConnector", hooks_params={"SSHTunnel": sshd.tunnel()})))
    run = cli(tmp_path, "--body", str(body))
    assert run.returncode == 0, run.stdout + run.stderr
    assert stage_lines(run.stdout)["ssh"] == "passed"
    assert_clean(run, postgres.password, sshd.password)


def test_json_is_the_apis_answer(tmp_path: Path, client: httpx.Client, closed_port: int) -> None:
    body = {"connector_type": "PostgreSQLConnector", "host": "127.0.0.1", "port": closed_port,
            "database": "sales", "username": "etl", "password": "Json-Pw-1"}
    (tmp_path / "body.json").write_text(json.dumps(body))
    run = cli(tmp_path, "--body", "body.json", "--json")
    assert run.returncode == 1
    mine = json.loads(run.stdout)  # exactly one JSON document: nothing else on standard output
    theirs = run_test(client, body)
    assert set(mine) == set(theirs) and set(mine["payload"]) == set(theirs["payload"])
    assert (mine["code"], mine["kind"], mine["title"], mine["details"]) == \
        (theirs["code"], theirs["kind"], theirs["title"], theirs["details"])
    assert [(s["name"], s["status"]) for s in mine["payload"]["stages"]] == \
        [(s["name"], s["status"]) for s in theirs["payload"]["stages"]]
    assert_clean(run, "Json-Pw-1")


def test_password_from_stdin(tmp_path: Path, postgres: DB) -> None:
    run = cli(tmp_path, "--uri", uri(postgres), "--password-stdin", "--json", stdin=postgres.password + "\n")
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout)["code"] == "CONNECTION_SUCCESSFUL"
    assert_clean(run, postgres.password)


def test_a_missing_password_is_named(tmp_path: Path, postgres: DB) -> None:
    run = cli(tmp_path, "--uri", uri(postgres), "--json")
    assert run.returncode == 2
    message = json.loads(run.stdout)
    assert message["code"] == "INVALID_PARAMETERS" and "password" in message["details"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("--uri", "postgresql://etl:Bad-Uri-Pw@db.example.com:99999/sales"), "uri"),
        (("--uri", "ftp://files.example.com/"), "uri"),
        (("--body", "missing.json"), "body"),
    ],
)
def test_unreadable_input_exits_2(tmp_path: Path, args: tuple[str, ...], field: str) -> None:
    run = cli(tmp_path, *args, "--json")
    assert run.returncode == 2
    message = json.loads(run.stdout)
    assert message["code"] == "INVALID_PARAMETERS" and field in message["details"]
    assert_clean(run, "Bad-Uri-Pw")


def test_a_body_that_breaks_the_schema_names_the_field(tmp_path: Path) -> None:
    body = {"connector_type": "PostgreSQLConnector", "host": "db.example.com", "port": "5432",
            "database": "sales", "username": "etl", "password": "Schema-Pw-1"}
    run = cli(tmp_path, "--body", "-", stdin=json.dumps(body))
    assert run.returncode == 2
    assert "INVALID_PARAMETERS" in run.stdout and "port:" in run.stdout
    assert_clean(run, "Schema-Pw-1")


def test_blocked_target(tmp_path: Path, postgres: DB) -> None:
    run = cli(tmp_path, "--uri", uri(postgres), test_password=postgres.password, blocked_targets="127.0.0.0/8")
    assert run.returncode == 1
    assert "TARGET_NOT_ALLOWED" in run.stdout
    assert_clean(run, postgres.password)


def test_saved_connection(tmp_path: Path, postgres: DB) -> None:
    from backend.saved.schemas import SavedConnectionCreate
    from backend.saved.service import SavedConnections
    from backend.security.auth import AuthService
    from tests.conftest import make_settings

    settings = make_settings(database_url=f"sqlite:///{tmp_path}/wizard.db")
    saved = SavedConnections(settings, AuthService(settings))
    saved.startup()
    saved.create("admin", SavedConnectionCreate.model_validate(
        {"name": "Sales warehouse", "connection": postgres.body("PostgreSQLConnector")}))
    run = cli(tmp_path, "--saved", "Sales warehouse", "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout)["code"] == "CONNECTION_SUCCESSFUL"
    other = cli(tmp_path, "--saved", "Sales warehouse", "--user", "someone-else", "--json")
    assert other.returncode == 2 and "saved" in json.loads(other.stdout)["details"]
    assert_clean(run, postgres.password)
    assert_clean(other, postgres.password)


def test_saved_connection_keeps_its_verdict_as_last_test(tmp_path: Path, closed_port: int) -> None:
    """``--saved`` records its verdict as ``POST …/{id}/test/`` does: the API then shows it as ``last_test``."""
    from fastapi.testclient import TestClient

    from backend.main import create_app

    saved_api, password = "/api/v1/database_connections/", "Saved-Cli-Pw-77"
    body = {"connector_type": "PostgreSQLConnector", "host": "127.0.0.1", "port": closed_port, "database": "sales",
            "username": "etl", "password": password}
    with TestClient(create_app(auth_settings(tmp_path, database_url=f"sqlite:///{tmp_path}/wizard.db"))) as api:
        csrf = {"X-CSRF-Token": login(api)}
        created = api.post(saved_api, json={"name": "Closed warehouse", "connection": body}, headers=csrf)
        assert created.status_code == 201, created.text
        assert created.json()["last_test"] is None
        run = cli(tmp_path, "--saved", "Closed warehouse", "--json")
        verdict = json.loads(run.stdout)
        assert run.returncode == 1 and verdict["code"] == "PORT_CLOSED", run.stdout + run.stderr
        last_test = api.get(f"{saved_api}{created.json()['id']}/").json()["last_test"]
    assert last_test["code"] == verdict["code"] and last_test["title"] == verdict["title"]
    assert last_test["kind"] == verdict["kind"] and last_test["at"]
    assert_clean(run, password)


def test_ctrl_c_cleans_up_and_exits_130(tmp_path: Path, silent_port: int, pki: Any) -> None:
    """SIGINT while a silent host keeps the test waiting: the request's temp folder (inline CA) goes too."""
    body = {"connector_type": "PostgreSQLConnector", "host": "127.0.0.1", "port": silent_port,
            "database": "sales", "username": "etl", "password": "Sigint-Pw-1",
            "hooks_params": {"SSL": {"ssl_mode": "verify-ca", "ca": pki.ca.cert.read_text()}}}
    (tmp_path / "body.json").write_text(json.dumps(body))
    env = cli_env(tmp_path, test_timeout_s="20")
    process = subprocess.Popen([sys.executable, "-m", "backend", "test", "--body", "body.json"], env=env,
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    seen = ""
    while "dns" not in seen:  # the test is past its parameters (the CA is on disk) and now waits
        line = process.stdout.readline()
        assert line, "the command ended before it reached the silent host"
        seen += line
    wait_until(lambda: list(Path(env["TMPDIR"]).iterdir()), what="the inline CA in the temp folder while the test runs")
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=10)
    assert process.returncode == 130, out + err
    assert_within(started, 1.0, "cancelling on SIGINT (the test's deadline is 20 s)")
    assert "Traceback" not in err and "Sigint-Pw-1" not in out + err
    assert list(Path(env["TMPDIR"]).iterdir()) == []


def test_pip_install_gives_the_command(tmp_path: Path, closed_port: int) -> None:
    """``pip install .`` into a fresh venv (offline: no deps, no build isolation; the project venv's packages)."""
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "requirements.txt", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "backend", source / "backend", ignore=shutil.ignore_patterns("__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "project-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                              "--no-index", str(source)], capture_output=True, text=True, timeout=120)
    assert install.returncode == 0, install.stderr
    command = venv / "bin" / "connection-wizard"
    env = {k: v for k, v in cli_env(tmp_path).items() if k != "PYTHONPATH"}
    helped = subprocess.run([str(command), "--help"], capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=60)
    assert helped.returncode == 0 and "test" in helped.stdout
    where = subprocess.run([str(python), "-c", "import backend; print(backend.__file__)"], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=60)
    assert where.stdout.startswith(str(venv)), "the command runs the installed package, not the checkout"
    installed = Path(where.stdout.strip()).parent
    assert (installed / "api" / "static" / "swagger-ui" / "swagger-ui-bundle.js").is_file(), "the playground ships with it"
    assert list(installed.glob("store/migrations/versions/*.py")), "the migrations ship with it"
    run = cli(tmp_path, "--uri", f"postgresql://etl@127.0.0.1:{closed_port}/sales", "--json",
              command=(str(command),), test_password="Installed-Pw-1")
    assert run.returncode == 1 and json.loads(run.stdout)["code"] == "PORT_CLOSED"
    assert_clean(run, "Installed-Pw-1")


def test_an_invalid_setting_is_exit_2_naming_it(tmp_path: Path) -> None:
    """Every command reads the WIZARD_* settings the same way: a bad one is named, never a traceback."""
    run = cli(tmp_path, "--uri", "postgresql://u@127.0.0.1/x", test_timeout_s="soon")
    assert run.returncode == 2 and "WIZARD_TEST_TIMEOUT_S" in run.stderr, run.stderr
    assert_clean(run)
    admin = subprocess.run([sys.executable, "-m", "backend", "users", "list"], capture_output=True, text=True,
                           timeout=60, env=cli_env(tmp_path, session_ttl_s="1"), cwd=tmp_path)
    assert admin.returncode == 2 and "WIZARD_SESSION_TTL_S" in admin.stderr, admin.stderr
    assert_clean(admin)
