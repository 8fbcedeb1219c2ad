"""No secret in any response, header, log line or leftover temp file: the sanitiser, the log
scrubbing, and canary secrets through every connector of the registry and every hook."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from backend.connectors import registry
from backend.connectors.base import Connector
from backend.main import create_app
from backend.security.secrets import LIVE, MASK, SecretFilter, install_log_scrubbing, scrub, scrub_obj
from tests.conftest import TEST_API, make_settings
from tests.helpers import (
    CERT,
    KEY,
    KEYTAB_CONTENT,
    Captured,
    FakeClock,
    base_body,
    canary,
    leftovers,
    redirect_tmp,
    secrets_in,
    serve_settings,
)
from tests.servers.common import LOOPBACK, Listener

# --- the sanitiser ----------------------------------------------------------------------------

PEM_KEY = ec.generate_private_key(ec.SECP256R1()).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("connect postgresql://wizard:p@ss:w/rd#%?&@db:5432/app failed", "p@ss:w/rd#%?&"),
        ("DSN host=db password='it''s secret' user=x", "it''s secret"),
        ("Driver={ODBC};Server=db;PWD={a;b=c};UID=u", "a;b=c"),
        ('{"user": "u", "password": "hunter2-json"}', "hunter2-json"),
        ("{'password': 'hunter2-repr', 'x': 1}", "hunter2-repr"),
        ("AccountName=acct;AccountKey=c2VjcmV0LWtleQ==;EndpointSuffix=core.windows.net", "c2VjcmV0LWtleQ=="),
        ("https://acct.blob.core.windows.net/c?sv=2022-11-02&sig=AbC%2Bsecret%3D&se=2030", "AbC%2Bsecret%3D"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("header authorization=Bearer abc.def-ghi_jkl", "abc.def-ghi_jkl"),
        ("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl in the log", "eyJzdWIiOiJ4In0"),
        ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG"),
        ("passphrase: correct horse", "correct"),
        pytest.param(f"bad key {PEM_KEY} end", PEM_KEY.splitlines()[1], id="pem-key"),
        # The key is made per process: ids of its own keep the collection the same in every process (xdist).
        pytest.param(f"truncated {PEM_KEY[:120]}", PEM_KEY.splitlines()[1][:40], id="truncated-pem-key"),
    ],
)
def test_credential_patterns_are_masked_without_knowing_the_secret(text: str, secret: str) -> None:
    cleaned = scrub(text)
    assert secret not in cleaned and MASK in cleaned, cleaned


@pytest.mark.parametrize(
    "echo",
    [
        lambda s: s,
        lambda s: s.replace("'", "''"),
        lambda s: repr(s),
        lambda s: json.dumps(s),
        lambda s: urllib.parse.quote(s, safe=""),
        lambda s: urllib.parse.quote_plus(s),
    ],
)
def test_known_secrets_are_masked_in_every_spelling(echo: Any) -> None:
    secret = "p@ss:w/rd#%?&= 'x\"é"
    text = f"driver says: login with {echo(secret)} refused"
    assert scrub(text, [secret]).count(MASK) >= 1
    assert echo(secret) not in scrub(text, [secret])


def test_short_secrets_do_not_mangle_words() -> None:
    assert scrub("the user a was refused", ["a"]) == f"the user {MASK} was refused"
    assert scrub("password authentication failed", ["pa"]) == "password authentication failed"


def test_scrub_obj_reaches_keys_and_nested_values() -> None:
    value = {"k-SECRET1": ["x SECRET1", {"y": "SECRET1"}], "n": 3}
    assert "SECRET1" not in str(scrub_obj(value, ["SECRET1"]))


# --- the log scrubbing ------------------------------------------------------------------------


def test_every_logger_is_scrubbed_also_exceptions_and_live_secrets() -> None:
    install_log_scrubbing()
    live_secret = "Live-Secret-Without-Pattern-77"
    with Captured() as logs:
        third_party = logging.getLogger("paramiko.transport.test")
        third_party.propagate = True
        logging.getLogger().setLevel(logging.DEBUG)
        third_party.warning("auth with password=%s", "pattern-secret-1")
        try:
            raise RuntimeError("connect to mysql://u:exc-secret-2@h failed")
        except RuntimeError:
            logging.getLogger("wizard.test").exception("driver failed")
        with LIVE.hold([live_secret]):
            logging.getLogger("uvicorn.error").error("driver echoed %s", live_secret)
        # Within the grace period after the test (an abandoned driver thread may still log).
        logging.getLogger("wizard.ssh").warning("late: %s", live_secret)
    text = logs.text
    for secret in ("pattern-secret-1", "exc-secret-2", live_secret):
        assert secret not in text, text
    assert "RuntimeError" in text and "Traceback" in text  # the traceback stays, scrubbed


def test_a_set_of_secrets_held_again_is_masked_by_the_same_compiled_masker_until_its_grace_ends() -> None:
    # A user testing one connection again and again compiles its masker once; once no test holds the
    # values and their grace period is over, the masker (and the values in it) is let go.
    import backend.security.secrets as secrets_module

    clock = FakeClock()
    live = secrets_module.LiveSecrets(grace_s=60, clock=clock)
    with live.hold(["pw-one", "pw-two"]) as first:
        assert first("pw-one and pw-two") == f"{MASK} and {MASK}"
    with live.hold(["pw-two", "pw-one", ""]) as again:
        assert again is first  # same values, any order: compiled once
    clock.advance(61)
    assert live.values() == []
    with live.hold(["pw-one", "pw-two"]) as later:
        assert later is not first


def test_a_short_live_secret_is_masked_where_echoed_but_not_in_the_programs_numbers(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A user whose password is "7" must not blank every duration, count and port in the log
    # (the audit line's duration_ms among them), yet the password itself stays hidden.
    import backend.security.secrets as secrets_module

    install_log_scrubbing()
    live = secrets_module.LiveSecrets(grace_s=0)
    monkeypatch.setattr(secrets_module, "LIVE", live)
    with Captured() as logs, live.hold(["7"]):
        log = logging.getLogger("wizard.driver")
        log.info("test code=%s duration_ms=%d port=%s", "PORT_CLOSED", 7, 7)
        log.info("driver echoed %s", "7")
        log.info("driver said: password 7 refused")
        log.info("login with password=%s", "a-longer-one")
    lines = [line for line in logs.text.splitlines() if line.startswith("INFO wizard.driver")]
    assert lines == [
        "INFO wizard.driver test code=PORT_CLOSED duration_ms=7 port=7",
        f"INFO wizard.driver driver echoed {MASK}",
        f"INFO wizard.driver driver said: password {MASK} refused",
        f"INFO wizard.driver login with password={MASK}",
    ], logs.text


def test_other_users_live_secrets_never_blank_an_audit_line(monkeypatch: pytest.MonkeyPatch) -> None:
    # The audit line is made of values the service scrubbed with the request's own secrets; a
    # one-character password of some other test in flight ("-") must not turn user=- into a mask.
    import backend.security.secrets as secrets_module

    install_log_scrubbing()
    live = secrets_module.LiveSecrets(grace_s=0)
    monkeypatch.setattr(secrets_module, "LIVE", live)
    with Captured() as logs, live.hold(["-", "PostgreSQLConnector"]):
        logging.getLogger("wizard.audit").info("test user=%s connector=%s host=%s", "-", "PostgreSQLConnector",
                                               "postgresql://u:pw@h")
        logging.getLogger("wizard.ssh").info("user=%s", "-")
    assert "INFO wizard.audit test user=- connector=PostgreSQLConnector host=postgresql://u:" + MASK + "@h" \
        in logs.text, logs.text
    assert f"INFO wizard.ssh user={MASK}" in logs.text, logs.text


def test_uvicorn_access_lines_keep_their_shape() -> None:
    from uvicorn.logging import AccessFormatter

    install_log_scrubbing()
    buffer = io.StringIO()
    stream = logging.StreamHandler(buffer)
    stream.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False))
    logger = logging.getLogger("uvicorn.access.test")
    logger.addHandler(stream)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/x?token=query-secret-3", "1.1", 200)
    logger.removeHandler(stream)
    line = buffer.getvalue()
    assert "query-secret-3" not in line and '"GET /x?token=' in line and "200" in line, line


def test_secret_filter_on_a_handler() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "pwd=%s", ("filter-secret-4",), None)
    assert SecretFilter().filter(record)
    assert "filter-secret-4" not in record.getMessage()


# --- canaries through every connector and every hook ------------------------------------------


class EchoServer(Listener):
    """A loopback server that sends every byte back: whatever a client says, it hears again."""

    def handle(self, conn: socket.socket) -> None:
        conn.settimeout(3)
        with contextlib.suppress(OSError), conn:
            while data := conn.recv(65536):
                conn.sendall(data)


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


SSH_KEY = ec.generate_private_key(ec.SECP256R1()).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
    serialization.BestAvailableEncryption(b"Cnry-ssh-passphrase-81"),
).decode()


def hooks_body(connector: Connector, port: int, which: str) -> dict[str, Any]:
    """One hook, or every hook ("all": unsupported ones too, which are refused), secrets everywhere."""
    mode = next((m for m in ("prefer", "PREFERRED") if m in connector.ssl_modes), None)
    every = {
        "SSHTunnel": {"host": LOOPBACK, "port": port, "username": "canary", "password": canary("ssh_password"),
                      "pkey": SSH_KEY, "pkey_password": "Cnry-ssh-passphrase-81"},
        "SSL": {"ssl_mode": mode, "cert": CERT, "key": KEY, "ca": CERT},
        "Kerberos": {"principal": "canary@WIZARD.TEST", "keytab_file": "canary.keytab"},
    }
    return every if which == "all" else {which: every[which]}


def assert_no_leak(secrets: list[str], response: httpx.Response, logs: str, tmp: Path) -> None:
    assert response.status_code in (200, 422), response.text
    texts = {"response": response.text, "headers": str(response.headers.raw), "logs": logs}
    for secret in secrets:
        for where, text in texts.items():
            for spelling in {secret, secret.replace("'", "''"), json.dumps(secret)[1:-1]}:
                assert spelling not in text, f"{secret!r} leaked into the {where}: {text[:2000]}"
    deadline = time.monotonic() + 1.0
    while leftovers(tmp) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not leftovers(tmp), f"left behind: {list(tmp.rglob('*'))}"


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return redirect_tmp(tmp_path, monkeypatch)


@pytest.fixture
def canary_client(
    monkeypatch: pytest.MonkeyPatch, echo: EchoServer, netguard: None, tmp_path: Path
) -> Iterator[TestClient]:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://{LOOPBACK}:{echo.port}")
    files = tmp_path / "files"
    files.mkdir()
    (files / "canary.keytab").write_bytes(KEYTAB_CONTENT)
    with TestClient(create_app(make_settings(test_timeout_s=1.5, files_dir=files))) as client:
        yield client


def cases() -> list[Any]:
    found = []
    for name, connector in registry().items():
        for target in ("closed port", "echo server"):
            for hook in ("none", *sorted(connector.hooks), "all"):
                found.append(pytest.param(name, target, hook, id=f"{name}-{target}-{hook}"))
        found.append(pytest.param(name, "invalid host", "none", id=f"{name}-invalid host"))
        found.append(pytest.param(name, "invalid body", "none", id=f"{name}-invalid body"))
    return found


@pytest.mark.parametrize(("connector_type", "target", "hook"), cases())
def test_canaries_never_leak(
    canary_client: TestClient, connector_type: str, target: str, hook: str, closed_port: int, echo: EchoServer,
    private_tmp: Path,
) -> None:
    connector = registry()[connector_type]
    port = echo.port if target == "echo server" else closed_port
    body = base_body(connector, port)
    if hook != "none":
        body["hooks_params"] = hooks_body(connector, port, hook)
    if target == "invalid host":
        body.update({k: "canary-host.invalid" for k in body if "host" in k or k == "server"})
    if target == "invalid body":
        body["is_source"] = "not-a-boolean-" + canary("is_source")
    secrets = secrets_in(connector, body)
    assert secrets, "every connector has at least one secret field"
    with Captured() as logs:
        response = canary_client.post(TEST_API, json=body)
    assert_no_leak(secrets, response, logs.text, private_tmp)


SUCCESS = {"PostgreSQLConnector": "postgres", "MySQLMariaDBConnector": "mariadb"}


@pytest.mark.parametrize("with_hooks", [False, True], ids=["plain", "ssh+tls"])
@pytest.mark.parametrize("connector_type", [t for t in SUCCESS if t in registry()])
def test_canaries_never_leak_on_success(
    client: httpx.Client,
    request: pytest.FixtureRequest,
    connector_type: str,
    with_hooks: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A real login with the password (and through the suite's SSH server with its password,
    and a client key written to a temp file): none of them comes back."""
    db = request.getfixturevalue(SUCCESS[connector_type])
    connector = registry()[connector_type]
    body: dict[str, Any] = {"connector_type": connector_type, "host": db.host, "port": db.port,
                            "database": db.database, "username": db.user, "password": db.password}
    if with_hooks:
        sshd = request.getfixturevalue("sshd")
        mode = next(m for m in ("prefer", "PREFERRED") if m in connector.ssl_modes)
        body["hooks_params"] = {"SSHTunnel": sshd.tunnel(), "SSL": {"ssl_mode": mode, "cert": CERT, "key": KEY}}
    secrets = secrets_in(connector, body)
    private_tmp = redirect_tmp(tmp_path, monkeypatch)
    with Captured() as logs:
        response = client.post(TEST_API, json=body)
    assert response.json()["code"] == "CONNECTION_SUCCESSFUL", response.text
    assert_no_leak(secrets, response, logs.text, private_tmp)


def test_a_driver_message_echoing_the_password_is_masked(client: httpx.Client, postgres: Any) -> None:
    """PostgreSQL puts the user name in its error; a user name equal to the password is masked."""
    password = "Echoed-Canary-Pw-31"
    response = client.post(TEST_API, json={"connector_type": "PostgreSQLConnector", "host": postgres.host,
                                           "port": postgres.port, "database": "appdb", "username": password,
                                           "password": password})
    assert response.json()["code"] == "AUTHENTICATION_FAILED"
    assert password not in response.text and MASK in response.text


def test_canaries_never_reach_uvicorns_logs(monkeypatch: pytest.MonkeyPatch, closed_port: int, netguard: None) -> None:
    """Through a real uvicorn server: its access and error logs carry no secret either."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://{LOOPBACK}:{closed_port}")
    # uvicorn configures its loggers when it starts: capture them after that.
    with serve_settings(make_settings(test_timeout_s=1.0), "info") as base, Captured() as logs, httpx.Client(base_url=base) as client:
        secrets: list[str] = []
        for connector in registry().values():
            body = base_body(connector, closed_port)
            secrets += secrets_in(connector, body)
            response = client.post(TEST_API, json=body)
            assert response.status_code == 200 and not any(s in response.text for s in secrets)
        query = client.get("/api/v1/database_connections/functionalities/?connector_type=x&password=Cnry-query-pw-12")
        assert query.status_code == 422
        secrets.append("Cnry-query-pw-12")
    assert '"POST /api/v1/database_connections/test/ HTTP/1.1" 200' in logs.text, "the access log was captured"
    for secret in secrets:
        assert secret not in logs.text, secret


def test_settings_never_show_their_secrets_in_repr() -> None:
    """A traceback's locals or a debug print of the settings must not carry keys or passwords."""
    from backend.settings import Settings

    secrets = {"admin_password": "Admin-Canary-1", "secret_key": "Key-Canary-2", "metrics_token": "Token-Canary-3",
               "database_url": "postgresql://u:Db-Canary-4@127.0.0.1/w",
               "rate_limit_storage_url": "redis://:Redis-Canary-5@127.0.0.1:6379/0"}
    settings = Settings.model_validate(secrets)
    shown = repr(settings) + str(settings)
    assert "Canary" not in shown, shown


def test_forget_ended_drops_the_ended_tests_secrets_and_keeps_the_held_ones() -> None:
    import backend.security.secrets as secrets_module

    live = secrets_module.LiveSecrets(grace_s=120.0)
    with live.hold(["ended-secret-1"]):
        pass
    assert "ended-secret-1" in live.values()  # within its grace period
    with live.hold(["held-secret-2"]):
        live.forget_ended()
        assert live.values() == ["held-secret-2"]
        assert live.masker()("held-secret-2 ended-secret-1") == f"{MASK} ended-secret-1"
