"""The SSH tunnel hook against the suite's own OpenSSH server, PostgreSQL and MariaDB behind it."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import paramiko
import pytest
from fastapi.testclient import TestClient

from backend.main import create_app
from tests.conftest import DB, DEADLINE_S, failed_detail, make_settings, run_test, stage
from tests.helpers import assert_within, wait_until, wall_bound
from tests.servers.common import LOOPBACK, free_port
from tests.servers.sshd import SSHServer


def pg(db: DB, tunnel: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return db.body("PostgreSQLConnector", hooks_params={"SSHTunnel": tunnel}, **overrides)


def maria(db: DB, tunnel: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    return {**pg(db, tunnel, **overrides), "connector_type": "MySQLMariaDBConnector"}


def statuses(msg: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["status"] for s in msg["payload"]["stages"]}


def tunnel_threads() -> list[threading.Thread]:
    """Threads of a tunnel: paramiko transports, sshtunnel's listeners and their connection handlers."""
    return [
        t
        for t in threading.enumerate()
        if t.is_alive()
        and (isinstance(t, paramiko.Transport) or t.name.startswith("Srv-") or "process_request_thread" in t.name)
    ]


def assert_tunnel_gone(local_port: int | None = None) -> None:
    """No tunnel thread and no listening socket survive the request (closing takes a moment at most)."""
    wait_until(lambda: not tunnel_threads(), timeout=wall_bound(2.0), what="the tunnel threads' end")
    if local_port is not None:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((LOOPBACK, local_port), timeout=1).close()


def assert_no_secret(msg: dict[str, Any], sshd: SSHServer, *extra: str) -> None:
    text = json.dumps(msg)
    secrets = [sshd.password, sshd.passphrase, *extra]
    for key in sshd.keys.values():
        secrets += [line for line in key.splitlines()[1:-1] if len(line) > 20]  # every line of key material
    for secret in secrets:
        assert secret not in text


# --- success ----------------------------------------------------------------------------------


def test_password_tunnel_to_postgres(client: httpx.Client, postgres: DB, sshd: SSHServer) -> None:
    msg = run_test(client, pg(postgres, sshd.tunnel()))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert statuses(msg) == {
        "parameters": "passed", "dns": "passed", "tcp": "passed", "ssh": "passed",
        "tls": statuses(msg)["tls"], "authentication": "passed", "database": "passed", "query": "passed",
    }
    assert msg["payload"]["server"]["user"] == "wizard"
    info = msg["payload"]["ssh"]
    assert info["auth"] == "password" and info["username"] == sshd.user
    assert info["server_version"].startswith("SSH-2.0-OpenSSH_")
    # The host key shown is the server's real one, as `ssh-keygen -lf` prints it.
    real = sshd.host_keys[info["host_key"]["type"]]
    assert info["host_key"]["fingerprint"] == real.fingerprint
    assert info["host_key"]["bits"] == real.bits
    assert real.fingerprint in msg["body"] and "through the SSH tunnel" in msg["body"]
    assert real.fingerprint in stage(msg, "ssh")["detail"]
    # The driver went to an ephemeral loopback port of the tunnel, not to the database's port.
    assert info["local_host"] == LOOPBACK and info["local_port"] not in (0, postgres.port)
    assert_tunnel_gone(info["local_port"])
    assert_no_secret(msg, sshd)


def test_password_tunnel_to_mariadb(client: httpx.Client, mariadb: DB, sshd: SSHServer) -> None:
    msg = run_test(client, maria(mariadb, sshd.tunnel()))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert msg["payload"]["server"]["product"] == "MariaDB"
    assert stage(msg, "ssh")["status"] == "passed"
    assert_tunnel_gone(msg["payload"]["ssh"]["local_port"])


KEYS = [
    "rsa_openssh", "rsa_pkcs1", "rsa_pkcs8",
    "ecdsa_openssh", "ecdsa_sec1", "ecdsa_pkcs8",
    "ed25519_openssh", "ed25519_pkcs8",
    "ed25519_openssh_encrypted", "rsa_openssh_encrypted", "rsa_pkcs1_encrypted", "ecdsa_pkcs8_encrypted",
]


@pytest.mark.parametrize("key", KEYS)
def test_key_tunnel(client: httpx.Client, postgres: DB, sshd: SSHServer, key: str) -> None:
    msg = run_test(client, pg(postgres, sshd.key_tunnel(key)))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert msg["payload"]["ssh"]["auth"] == "key"
    assert_no_secret(msg, sshd)


def test_key_with_crlf_line_ends_works(client: httpx.Client, postgres: DB, sshd: SSHServer) -> None:
    pasted = sshd.keys["ed25519_openssh"].replace("\n", "\r\n")
    msg = run_test(client, pg(postgres, sshd.key_tunnel("ed25519_openssh", pkey=pasted)))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg


def test_refused_key_falls_back_on_password(client: httpx.Client, postgres: DB, sshd: SSHServer) -> None:
    msg = run_test(client, pg(postgres, sshd.tunnel(pkey=sshd.keys["unauthorised"])))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert msg["payload"]["ssh"]["auth"] == "password"


def test_given_local_port_and_localhost(client: httpx.Client, mariadb: DB, sshd: SSHServer) -> None:
    port = free_port()
    msg = run_test(client, maria(mariadb, sshd.tunnel(local_host="localhost", local_port=port)))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert (msg["payload"]["ssh"]["local_host"], msg["payload"]["ssh"]["local_port"]) == (LOOPBACK, port)
    assert_tunnel_gone(port)


def test_concurrent_tunnels_do_not_collide(
    client: httpx.Client, postgres: DB, mariadb: DB, sshd: SSHServer
) -> None:
    bodies = [
        pg(postgres, sshd.tunnel()),
        pg(postgres, sshd.key_tunnel("ed25519_openssh")),
        maria(mariadb, sshd.tunnel()),
        maria(mariadb, sshd.key_tunnel("rsa_pkcs8")),
    ]
    with ThreadPoolExecutor(len(bodies)) as pool:
        results = list(pool.map(lambda body: run_test(client, body), bodies))
    assert [m["code"] for m in results] == ["CONNECTION_SUCCESSFUL"] * len(bodies), results
    ports = {m["payload"]["ssh"]["local_port"] for m in results}
    assert len(ports) == len(bodies)
    assert_tunnel_gone()
    for port in ports:
        assert_tunnel_gone(port)


# --- the SSH server's verdicts ----------------------------------------------------------------


def test_wrong_password(client: httpx.Client, postgres: DB, sshd: SSHServer) -> None:
    msg = run_test(client, pg(postgres, sshd.tunnel(password="not-the-password")))
    assert msg["code"] == "SSH_AUTHENTICATION_FAILED", msg
    assert set(msg["details"]) == {"hooks_params.SSHTunnel.password", "hooks_params.SSHTunnel.username"}
    assert msg["display"] == "field"
    assert statuses(msg)["ssh"] == "failed" and statuses(msg)["tls"] == "skipped"
    # The host key is shown even when the login fails.
    info = msg["payload"]["ssh"]
    assert info["host_key"]["fingerprint"] == sshd.host_keys[info["host_key"]["type"]].fingerprint
    assert "not-the-password" not in json.dumps(msg)
    assert_tunnel_gone()


def test_key_not_authorised(client: httpx.Client, postgres: DB, sshd: SSHServer) -> None:
    msg = run_test(client, pg(postgres, sshd.key_tunnel("unauthorised")))
    assert msg["code"] == "SSH_AUTHENTICATION_FAILED", msg
    assert "hooks_params.SSHTunnel.pkey" in msg["details"]
    assert "hooks_params.SSHTunnel.password" not in msg["details"]
    assert_no_secret(msg, sshd)
    assert_tunnel_gone()


def test_wrong_user(client: httpx.Client, postgres: DB, sshd: SSHServer) -> None:
    msg = run_test(client, pg(postgres, sshd.tunnel(username="nobody-here")))
    assert msg["code"] == "SSH_AUTHENTICATION_FAILED", msg
    assert "hooks_params.SSHTunnel.username" in msg["details"]


@pytest.mark.parametrize("key", ["ed25519_openssh_encrypted", "rsa_pkcs1_encrypted", "ecdsa_pkcs8_encrypted"])
def test_wrong_passphrase(client: httpx.Client, postgres: DB, sshd: SSHServer, key: str) -> None:
    msg = run_test(client, pg(postgres, sshd.key_tunnel(key, pkey_password="wrong-passphrase")))
    assert msg["code"] == "SSH_KEY_INVALID", msg
    assert list(msg["details"]) == ["hooks_params.SSHTunnel.pkey_password"]
    assert statuses(msg)["ssh"] == "failed"
    assert "wrong-passphrase" not in json.dumps(msg)
    assert_no_secret(msg, sshd)


def test_missing_passphrase(client: httpx.Client, postgres: DB, sshd: SSHServer) -> None:
    msg = run_test(client, pg(postgres, sshd.key_tunnel("rsa_openssh_encrypted", pkey_password=None)))
    assert msg["code"] == "SSH_KEY_INVALID", msg
    assert list(msg["details"]) == ["hooks_params.SSHTunnel.pkey_password"]
    assert "passphrase" in failed_detail(msg)
    assert "enter it here" in msg["details"]["hooks_params.SSHTunnel.pkey_password"][0]


@pytest.mark.parametrize(
    ("mangle", "says"),
    [
        (lambda k: "not a key at all", "not a private key"),
        (lambda k: "\n".join(k.splitlines()[:4]), "not a complete private key"),  # truncated
        (lambda k: k.replace(k.splitlines()[2], k.splitlines()[2][::-1]), "not a complete private key"),  # corrupt
    ],
    ids=["garbage", "truncated", "corrupt"],
)
def test_unreadable_key(client: httpx.Client, postgres: DB, sshd: SSHServer, mangle: Any, says: str) -> None:
    msg = run_test(client, pg(postgres, sshd.key_tunnel("rsa_pkcs1", pkey=mangle(sshd.keys["rsa_pkcs1"]))))
    assert msg["code"] == "SSH_KEY_INVALID", msg
    assert list(msg["details"]) == ["hooks_params.SSHTunnel.pkey"]
    assert says in failed_detail(msg)
    assert_no_secret(msg, sshd)


def test_public_key_instead_of_private(client: httpx.Client, postgres: DB, sshd: SSHServer) -> None:
    public = paramiko.Ed25519Key.from_private_key(__import__("io").StringIO(sshd.keys["ed25519_openssh"]))
    msg = run_test(client, pg(postgres, sshd.key_tunnel("ed25519_openssh", pkey=f"ssh-ed25519 {public.get_base64()}")))
    assert msg["code"] == "SSH_KEY_INVALID", msg
    assert "public key" in failed_detail(msg)


# --- reaching the SSH server ------------------------------------------------------------------


def test_closed_ssh_port(client: httpx.Client, postgres: DB, sshd: SSHServer, closed_port: int) -> None:
    started = time.monotonic()
    msg = run_test(client, pg(postgres, sshd.tunnel(port=closed_port)))
    assert msg["code"] == "SSH_TUNNEL_UNREACHABLE", msg
    assert list(msg["details"]) == ["hooks_params.SSHTunnel.port"]
    assert statuses(msg)["tcp"] == "failed" and statuses(msg)["ssh"] == "skipped"
    assert msg["payload"]["elapsed_ms"] < (DEADLINE_S - 1) * 1000, "at once, well before the deadline"
    assert_within(started, DEADLINE_S - 1)


def test_silent_ssh_host_ends_at_the_deadline(
    client: httpx.Client, postgres: DB, sshd: SSHServer, silent_port: int
) -> None:
    started = time.monotonic()
    msg = run_test(client, pg(postgres, sshd.tunnel(port=silent_port)))
    assert msg["code"] == "CONNECTION_TIMEOUT", msg
    assert msg["payload"]["elapsed_ms"] < (DEADLINE_S + 0.5) * 1000
    assert_within(started, DEADLINE_S + 0.5)
    assert "did not answer in time" in failed_detail(msg)
    assert list(msg["details"]) == ["hooks_params.SSHTunnel.host"]
    assert statuses(msg)["tcp"] == "passed" and statuses(msg)["ssh"] == "failed"
    assert_tunnel_gone()


@pytest.mark.parametrize("other", ["postgres", "mariadb"])
def test_port_that_speaks_something_else(
    client: httpx.Client, postgres: DB, sshd: SSHServer, request: pytest.FixtureRequest, other: str
) -> None:
    """PostgreSQL waits for the client to speak first; MariaDB greets first. Neither is SSH."""
    not_ssh: DB = request.getfixturevalue(other)
    started = time.monotonic()
    msg = run_test(client, pg(postgres, sshd.tunnel(port=not_ssh.port)))
    assert msg["code"] == "SSH_TUNNEL_UNREACHABLE", msg
    assert "not as an SSH server" in failed_detail(msg)
    assert "hooks_params.SSHTunnel.port" in msg["details"]
    assert statuses(msg)["ssh"] == "failed"
    assert msg["payload"]["elapsed_ms"] < DEADLINE_S * 1000
    assert_within(started, DEADLINE_S)
    assert_tunnel_gone()


def test_unknown_ssh_host(client: httpx.Client, postgres: DB, sshd: SSHServer) -> None:
    msg = run_test(client, pg(postgres, sshd.tunnel(host="ssh.wizard.invalid")))
    assert msg["code"] == "HOST_NOT_FOUND", msg
    assert list(msg["details"]) == ["hooks_params.SSHTunnel.host"]
    assert statuses(msg)["dns"] == "failed"


def test_policy_checks_the_ssh_host(postgres: DB, sshd: SSHServer) -> None:
    with TestClient(create_app(make_settings(blocked_targets="localhost"))) as blocked:
        msg = run_test(blocked, pg(postgres, sshd.tunnel(host="localhost")))
    assert msg["code"] == "TARGET_NOT_ALLOWED", msg
    assert list(msg["details"]) == ["hooks_params.SSHTunnel.host"]
    assert statuses(msg)["dns"] == "failed" and statuses(msg)["tcp"] == "skipped"


def test_policy_checks_the_database_host_behind_the_tunnel(postgres: DB, sshd: SSHServer) -> None:
    """The SSH server resolves the database host; the policy still checks an address literal."""
    with TestClient(create_app(make_settings(blocked_targets="127.0.0.2/32"))) as blocked:
        msg = run_test(blocked, pg(postgres, sshd.tunnel(), host="127.0.0.2"))
    assert msg["code"] == "TARGET_NOT_ALLOWED", msg
    assert list(msg["details"]) == ["host"]
    assert statuses(msg)["dns"] == "failed" and statuses(msg)["ssh"] == "skipped"


# --- beyond the tunnel ------------------------------------------------------------------------


def test_database_port_closed_behind_the_tunnel(
    client: httpx.Client, postgres: DB, sshd: SSHServer, closed_port: int
) -> None:
    msg = run_test(client, pg(postgres, sshd.tunnel(), port=closed_port))
    assert msg["code"] == "PORT_CLOSED", msg
    assert list(msg["details"]) == ["port"]
    assert "SSH server" in failed_detail(msg) and "Connection refused" in failed_detail(msg)
    assert "seen from the SSH server" in msg["title"]
    assert statuses(msg)["ssh"] == "failed" and statuses(msg)["tls"] == "skipped"
    assert msg["payload"]["ssh"]["auth"] == "password"
    assert_tunnel_gone()


def test_forwarding_refused_by_permitopen(client: httpx.Client, mariadb: DB, sshd: SSHServer) -> None:
    # 127.0.0.2 is loopback, but outside the server's `PermitOpen 127.0.0.1:* localhost:*`.
    msg = run_test(client, maria(mariadb, sshd.tunnel(), host="127.0.0.2"))
    assert msg["code"] == "TARGET_NOT_ALLOWED", msg
    assert set(msg["details"]) == {"host", "port"}
    assert "does not allow tunnels" in failed_detail(msg) and "PermitOpen" in msg["body"]
    assert "SSH server" in msg["title"]
    assert statuses(msg)["ssh"] == "failed"
    assert_tunnel_gone()


def test_database_name_through_tunnel_is_the_ssh_servers_localhost(
    client: httpx.Client, postgres: DB, sshd: SSHServer
) -> None:
    """``localhost`` is resolved by the SSH server (allowed by its PermitOpen), not by the wizard."""
    msg = run_test(client, pg(postgres, sshd.tunnel(), host="localhost"))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert "localhost:" in msg["body"]


# --- parameters -------------------------------------------------------------------------------


def test_missing_ssh_settings(client: httpx.Client, postgres: DB) -> None:
    msg = run_test(client, pg(postgres, {"port": 22}))
    assert msg["code"] == "INVALID_PARAMETERS", msg
    assert set(msg["details"]) == {
        "hooks_params.SSHTunnel.host",
        "hooks_params.SSHTunnel.username",
        "hooks_params.SSHTunnel.password",
        "hooks_params.SSHTunnel.pkey",
    }
    assert statuses(msg)["parameters"] == "failed" and statuses(msg)["dns"] == "skipped"


@pytest.mark.parametrize("local_host", ["0.0.0.0", "::1", "wizard.invalid"])
def test_local_host_must_be_loopback(client: httpx.Client, postgres: DB, sshd: SSHServer, local_host: str) -> None:
    msg = run_test(client, pg(postgres, sshd.tunnel(local_host=local_host)))
    assert msg["code"] == "INVALID_PARAMETERS", msg
    assert list(msg["details"]) == ["hooks_params.SSHTunnel.local_host"]


def test_local_port_in_use(client: httpx.Client, postgres: DB, sshd: SSHServer) -> None:
    with socket.socket() as busy:
        busy.bind((LOOPBACK, 0))
        busy.listen(1)
        msg = run_test(client, pg(postgres, sshd.tunnel(local_port=busy.getsockname()[1])))
    assert msg["code"] == "INVALID_PARAMETERS", msg
    assert list(msg["details"]) == ["hooks_params.SSHTunnel.local_port"]
    assert_tunnel_gone()


def test_no_secret_in_logs(
    client: httpx.Client, postgres: DB, sshd: SSHServer, closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for tunnel in (
        sshd.key_tunnel("rsa_openssh_encrypted"),
        sshd.key_tunnel("ecdsa_pkcs8_encrypted", pkey_password="wrong-pass"),
        sshd.tunnel(password="Wrong-Password-x"),
        sshd.tunnel(pkey=sshd.keys["unauthorised"]),
    ):
        run_test(client, pg(postgres, tunnel))
    run_test(client, pg(postgres, sshd.tunnel(), port=closed_port))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert text  # the tunnel and paramiko did log
    for secret in (sshd.password, sshd.passphrase, "wrong-pass", "Wrong-Password-x"):
        assert secret not in text
    for key in sshd.keys.values():
        for line in key.splitlines()[1:-1]:
            if len(line) > 20:
                assert line not in text
