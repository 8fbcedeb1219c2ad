"""The target policy (SSRF): blocked addresses in every spelling, names, SSH hosts and tunnel targets,
the wizard's own ports, the checked address handed to the drivers, and driver file access."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.connectors import registry
from backend.connectors.sql import SQLConnector
from backend.core import ReachedAddress
from backend.core import RunContext as Context
from backend.diagnosis import netprobe
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Deadline, Diagnosis, Failure
from backend.security.policy import TargetPolicy, parse_address
from tests.conftest import DB, DEADLINE_S, make_settings, run_test, stage
from tests.helpers import assert_within
from tests.servers.common import LOOPBACK, Listener

METADATA = "169.254.169.254"
# Every spelling below means the cloud metadata address (or another built-in block) to
# getaddrinfo, inet_aton or an IPv6 stack; none is ever connected to.
METADATA_SPELLINGS = [
    METADATA,
    "2852039166",  # one 32-bit decimal number
    "0xa9.0xfe.0xa9.0xfe",  # hexadecimal parts
    "0251.0376.0251.0376",  # octal parts
    "169.254.43518",  # a.b.c with a 16-bit last part
    "0xA9FEA9FE",
    "::ffff:169.254.169.254",  # IPv4-mapped IPv6
    "[::ffff:a9fe:a9fe]",
    "64:ff9b::a9fe:a9fe",  # NAT64 (RFC 6052)
    "2002:a9fe:a9fe::1",  # 6to4
    "fd00:ec2::254",  # AWS metadata over IPv6
    "fe80::1",  # IPv6 link-local
    "fe80::1%lo",
    "0",
    "0.0.0.0",
    "::",
    "100.100.100.200",  # Alibaba Cloud metadata
]
LOOPBACK_SPELLINGS = ["127.0.0.1", "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "::ffff:127.0.0.1", "localhost",
                      "LOCALHOST.", "db.localhost"]


def pg(host: str, port: int = 5432, **extra: Any) -> dict[str, Any]:
    return {"connector_type": "PostgreSQLConnector", "host": host, "port": port, "database": "d", "username": "u",
            "password": "policy-test-pw", **extra}


def client_for(**settings: Any) -> Iterator[httpx.Client]:
    from fastapi.testclient import TestClient

    from backend.main import create_app

    with TestClient(create_app(make_settings(**settings))) as client:
        yield client


@pytest.fixture
def blocked_loopback() -> Iterator[httpx.Client]:
    yield from client_for(blocked_targets="127.0.0.0/8,::1/128")


def assert_refused(message: dict[str, Any], field: str = "host") -> None:
    assert message["code"] == "TARGET_NOT_ALLOWED", message
    assert message["kind"] == "error" and message["display"] == "field"
    assert field in message["details"], message["details"]
    assert stage(message, "dns")["status"] == "failed"
    assert stage(message, "tcp")["status"] == "skipped"


# --- addresses and names ----------------------------------------------------------------------


@pytest.mark.parametrize("host", METADATA_SPELLINGS)
def test_builtin_blocks_in_every_spelling(client: httpx.Client, host: str) -> None:
    started = time.monotonic()
    msg = run_test(client, pg(host))
    assert_refused(msg)
    assert msg["payload"]["elapsed_ms"] < (DEADLINE_S - 1) * 1000, "at once, well before the deadline"
    assert_within(started, DEADLINE_S - 1)


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_name_or_spelling_resolving_into_a_blocked_range(blocked_loopback: httpx.Client, host: str) -> None:
    msg = run_test(blocked_loopback, pg(host))
    assert_refused(msg)
    assert "127.0.0.0/8" in msg["details"]["host"][0]


def test_blocked_host_name(closed_port: int) -> None:
    for client in client_for(blocked_targets="localhost"):
        assert_refused(run_test(client, pg("localhost", closed_port)))
        assert_refused(run_test(client, pg("LocalHost.", closed_port)))
        assert run_test(client, pg(LOOPBACK, closed_port))["code"] == "PORT_CLOSED"


def test_a_blocked_name_is_refused_before_it_is_resolved(closed_port: int) -> None:
    """A blocked name that does not even resolve says TARGET_NOT_ALLOWED, not HOST_NOT_FOUND."""
    for client in client_for(blocked_targets="db.blocked.invalid"):
        msg = run_test(client, pg("db.blocked.invalid", closed_port))
        assert_refused(msg)
        assert "blocked list" in msg["details"]["host"][0]
        assert run_test(client, pg("other.invalid", closed_port))["code"] == "HOST_NOT_FOUND"
    for client in client_for(allowed_targets="localhost"):
        msg = run_test(client, pg("elsewhere.invalid", closed_port))
        assert_refused(msg)
        assert "allowed list" in msg["details"]["host"][0]


def test_no_dns_query_for_a_blocked_name(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def resolver(host: str, *args: object, **kwargs: object) -> list[object]:
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "not asked in this test")

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    policy = TargetPolicy(blocked="*.blocked.example")
    with pytest.raises(Failure) as caught:
        asyncio.run(netprobe.resolve("db.blocked.example", 5432, Deadline(2), policy))
    assert caught.value.code is Code.TARGET_NOT_ALLOWED
    assert asked == []
    # The same name off the list is asked for (the check above is not vacuous).
    with pytest.raises(Failure) as caught:
        asyncio.run(netprobe.resolve("db.blocked.example", 5432, Deadline(2), TargetPolicy()))
    assert caught.value.code is Code.HOST_NOT_FOUND
    assert asked == ["db.blocked.example"]


def test_allowed_list_is_the_only_way_out(closed_port: int) -> None:
    for client in client_for(allowed_targets="10.0.0.0/8"):
        assert_refused(run_test(client, pg(LOOPBACK, closed_port)))
        assert_refused(run_test(client, pg("localhost", closed_port)))
    for client in client_for(allowed_targets="127.0.0.1/32"):
        assert run_test(client, pg(LOOPBACK, closed_port))["code"] == "PORT_CLOSED"
        assert run_test(client, pg("127.1", closed_port))["code"] == "PORT_CLOSED"
        assert run_test(client, pg("localhost", closed_port))["code"] == "PORT_CLOSED"
        assert_refused(run_test(client, pg(METADATA, closed_port)))  # built-in blocks win over the allowed list
    for client in client_for(allowed_targets="localhost"):
        assert run_test(client, pg("localhost", closed_port))["code"] == "PORT_CLOSED"
        assert_refused(run_test(client, pg(LOOPBACK, closed_port)))


def test_the_wizards_own_ports(closed_port: int) -> None:
    for client in client_for(own_ports=str(closed_port)):
        msg = run_test(client, pg(LOOPBACK, closed_port))
        assert_refused(msg)
        assert "wizard" in msg["details"]["host"][0]
        # The port the request came in on is learned from the ASGI scope (TestClient: port 80).
        assert_refused(run_test(client, pg("localhost", 80)))
        assert_refused(run_test(client, pg("0x7f.1", 80)))
    for client in client_for():
        assert run_test(client, pg(LOOPBACK, closed_port))["code"] == "PORT_CLOSED"


def test_policy_check_names_the_field_and_accepts_every_resolved_spelling() -> None:
    policy = TargetPolicy(blocked="10.0.0.0/8")
    with pytest.raises(Failure) as refused:
        policy.check("hooks_params.SSHTunnel.host", "bastion", ["192.0.2.1", "::ffff:10.1.2.3"], 22)
    assert refused.value.fields == {"hooks_params.SSHTunnel.host": [refused.value.detail]}
    policy.check("host", "db", ["192.0.2.1", "2001:db8::1"], 5432)
    with pytest.raises(Failure):
        policy.check("host", "db", [], 5432)
    assert parse_address("2852039166") == parse_address("169.254.169.254") == parse_address("[::ffff:a9fe:a9fe]")
    assert parse_address("db.example.com") is None and parse_address("1e100") is None


def test_policy_entries_may_use_odd_spellings_and_wildcards() -> None:
    policy = TargetPolicy(blocked="0x0a000001,*.internal.example")
    for host, addresses in (("x", ["10.0.0.1"]), ("db.internal.example", ["192.0.2.7"])):
        with pytest.raises(Failure):
            policy.check("host", host, addresses, 1)
    policy.check("host", "internal.example.org", ["192.0.2.7"], 1)


# --- SSH: the SSH server and the target behind the tunnel -------------------------------------


def tunnel(host: str, port: int) -> dict[str, Any]:
    return {"SSHTunnel": {"host": host, "port": port, "username": "u", "password": "ssh-policy-pw"}}


@pytest.mark.parametrize("ssh_host", [METADATA, "2852039166", "[::ffff:169.254.169.254]"])
def test_blocked_ssh_host(client: httpx.Client, ssh_host: str) -> None:
    assert_refused(run_test(client, pg("db.internal", hooks_params=tunnel(ssh_host, 22))), "hooks_params.SSHTunnel.host")


@pytest.mark.parametrize("target", [METADATA, "2852039166", "0xa9.0xfe.0xa9.0xfe", "::ffff:169.254.169.254", "fe80::1"])
def test_blocked_target_behind_the_tunnel(client: httpx.Client, closed_port: int, target: str) -> None:
    # Refused before the SSH server is even contacted (it would resolve and reach the target).
    assert_refused(run_test(client, pg(target, hooks_params=tunnel(LOOPBACK, closed_port))), "host")


def test_tunnel_target_names_and_allowed_list(closed_port: int) -> None:
    for client in client_for(blocked_targets="db.secret.example,10.0.0.0/8"):
        assert_refused(run_test(client, pg("DB.secret.example.", hooks_params=tunnel(LOOPBACK, closed_port))))
        assert_refused(run_test(client, pg("10.1.2.3", hooks_params=tunnel(LOOPBACK, closed_port))))
        # A target that is not blocked goes on to the SSH server (nothing listens there).
        msg = run_test(client, pg("db.other.example", hooks_params=tunnel(LOOPBACK, closed_port)))
        assert msg["code"] == "SSH_TUNNEL_UNREACHABLE"
    for client in client_for(allowed_targets="127.0.0.0/8,db.ok.example"):
        assert_refused(run_test(client, pg("db.elsewhere.example", hooks_params=tunnel(LOOPBACK, closed_port))))
        assert run_test(client, pg("db.ok.example", hooks_params=tunnel(LOOPBACK, closed_port)))["code"] == (
            "SSH_TUNNEL_UNREACHABLE")


# --- the drivers get the checked address ------------------------------------------------------


def sql_connectors_with(fixture_names: dict[str, str]) -> list[Any]:
    return [pytest.param(name, fixture, id=name) for name, fixture in fixture_names.items() if name in registry()]


@pytest.mark.parametrize(
    ("connector_type", "fixture"),
    sql_connectors_with({"PostgreSQLConnector": "postgres", "MySQLMariaDBConnector": "mariadb"}),
)
def test_drivers_connect_to_the_checked_address_not_the_name(
    connector_type: str, fixture: str, request: pytest.FixtureRequest
) -> None:
    """The name is unresolvable: the connection can only succeed if the driver used the address."""
    db: DB = request.getfixturevalue(fixture)
    connector = registry()[connector_type]
    assert isinstance(connector, SQLConnector)
    params = connector.model.model_validate(
        {"connector_type": connector_type, "host": "rebound-db.invalid", "port": db.port, "database": db.database,
         "username": db.user, "password": db.password}
    )
    deadline = Deadline(3)
    ctx = Context(settings=make_settings(), policy=TargetPolicy(), deadline=deadline,
                      diagnosis=Diagnosis(connector.stage_names, deadline))
    conn = connector.connect(params, ReachedAddress(host="rebound-db.invalid", address=db.host, port=db.port), ctx)
    try:
        assert connector.inspect(conn, params)["database"] == db.database
    finally:
        conn.close()


# --- MySQL: a rogue server must not get the wizard's files ------------------------------------


def _packet(seq: int, payload: bytes) -> bytes:
    return struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload


class RogueMySQL(Listener):
    """A fake MySQL server that answers the first query with LOAD DATA LOCAL INFILE <path>.

    (The MySQL protocol lets a server ask for any client file in reply to any query:
    https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response_local_infile_request.html)
    It records every byte the client sends after the request.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.received = b""
        self.asked = 0
        super().__init__()

    def _read(self, conn: socket.socket) -> tuple[int, bytes]:
        head = b""
        while len(head) < 4:
            chunk = conn.recv(4 - len(head))
            if not chunk:
                raise ConnectionError
            head += chunk
        length, seq = int.from_bytes(head[:3], "little"), head[3]
        body = b""
        while len(body) < length:
            chunk = conn.recv(length - len(body))
            if not chunk:
                raise ConnectionError
            body += chunk
        return seq, body

    def handle(self, conn: socket.socket) -> None:
        caps = 0x0001 | 0x0004 | 0x0008 | 0x0080 | 0x0200 | 0x2000 | 0x8000 | 0x80000
        salt = b"abcdefghijklmnopqrst"
        greeting = (
            b"\x0a" + b"5.7.99-rogue\x00" + struct.pack("<I", 7) + salt[:8] + b"\x00"
            + struct.pack("<H", caps & 0xFFFF) + b"\x21" + struct.pack("<H", 2) + struct.pack("<H", caps >> 16)
            + bytes([21]) + b"\x00" * 10 + salt[8:] + b"\x00" + b"mysql_native_password\x00"
        )
        ok = b"\x00\x00\x00\x02\x00\x00\x00"
        conn.settimeout(5)
        try:
            conn.sendall(_packet(0, greeting))
            seq, _ = self._read(conn)  # the handshake response
            conn.sendall(_packet(seq + 1, ok))
            while True:
                seq, body = self._read(conn)
                if body[:1] != b"\x03":  # not COM_QUERY (e.g. COM_QUIT)
                    return
                self.asked += 1
                conn.sendall(_packet(seq + 1, b"\xfb" + str(self.path).encode()))
                conn.settimeout(1.5)
                last = seq + 1
                with contextlib.suppress(OSError, ConnectionError):
                    while True:
                        last, data = self._read(conn)
                        self.received += data
                        if not data:
                            break
                conn.settimeout(5)
                conn.sendall(_packet(last + 1, ok))
        except (OSError, ConnectionError):
            return
        finally:
            conn.close()


@pytest.fixture
def rogue(tmp_path: Path) -> Iterator[RogueMySQL]:
    secret = tmp_path / "wizard-private.txt"
    secret.write_text("CANARY-FILE-CONTENT-4711\n")
    server = RogueMySQL(secret)
    yield server
    server.close()


def test_rogue_server_really_reads_files_from_a_careless_client(rogue: RogueMySQL) -> None:
    """The control: a client with local_infile on does send the file, so the test below means something."""
    import pymysql

    conn = pymysql.connect(host=LOOPBACK, port=rogue.port, user="u", password="p", local_infile=True,
                           connect_timeout=3, read_timeout=3)
    with contextlib.suppress(pymysql.MySQLError):
        conn.cursor().execute("SELECT 1")
    with contextlib.suppress(Exception):
        conn.close()
    assert b"CANARY-FILE-CONTENT-4711" in rogue.received


# Both drivers requirements.txt installs; a missing one fails the test rather than shrinking the list.
MYSQL_PROTOCOLS = ("mysql+mysqldb", "mysql+pymysql")


@pytest.mark.parametrize("protocol", MYSQL_PROTOCOLS)
def test_mysql_server_cannot_load_data_local_infile(client: httpx.Client, rogue: RogueMySQL, protocol: str) -> None:
    assert registry()["MySQLMariaDBConnector"].protocols[protocol].installed()  # type: ignore[attr-defined]
    msg = run_test(client, {"connector_type": "MySQLMariaDBConnector", "host": LOOPBACK, "port": rogue.port,
                            "database": "d", "username": "u", "password": "rogue-pw", "protocol": protocol})
    assert rogue.asked >= 1, "the driver logged in and sent a query: the rogue server did ask for the file"
    assert b"CANARY" not in rogue.received
    assert msg["code"] != "CONNECTION_SUCCESSFUL" or "CANARY" not in str(msg)


# --- server-side files stay inside WIZARD_FILES_DIR -------------------------------------------


@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    root = tmp_path / "files"
    (root / "certs").mkdir(parents=True)
    (root / "certs" / "ca.pem").write_text("inside")
    outside = tmp_path / "outside.pem"
    outside.write_text("OUTSIDE-CONTENT-93")
    os.symlink(outside, root / "escape.pem")
    os.symlink(root / "certs" / "ca.pem", root / "alias.pem")
    os.symlink(tmp_path, root / "up")
    return root


OUTSIDE_NAMES = ("../outside.pem", "certs/../../outside.pem", "/etc/passwd", "escape.pem", "up/outside.pem",
                 "certs", "/dev/zero", "missing.pem", "", "a\x00b")


def test_server_files_stay_inside_the_folder(files_dir: Path) -> None:
    from backend.hooks.tls import read_server_file

    settings = make_settings(files_dir=files_dir)
    field = "hooks_params.SSL.ca_filename"
    assert read_server_file("certs/ca.pem", settings, field) == b"inside"
    assert read_server_file("alias.pem", settings, field) == b"inside"  # a link that stays inside
    assert read_server_file(str(files_dir / "certs" / "ca.pem"), settings, field) == b"inside"
    for name in (*OUTSIDE_NAMES, str(files_dir.parent / "outside.pem")):
        with pytest.raises(Failure) as refused:
            read_server_file(name, settings, field)
        assert refused.value.code.value == "INVALID_PARAMETERS" and list(refused.value.fields) == [field], name


@pytest.mark.parametrize("name", [n for n in OUTSIDE_NAMES if n and "\x00" not in n])
@pytest.mark.parametrize("field", ["ca_filename", "cert_filename", "key_filename"])
def test_ssl_file_names_outside_the_folder_are_refused_by_the_api(files_dir: Path, field: str, name: str) -> None:
    for client in client_for(files_dir=str(files_dir)):
        hooks = {"SSL": {"ssl_mode": "verify-full", field: name}}
        if field != "ca_filename":  # a client certificate needs both halves
            hooks["SSL"].update({"cert_filename": "certs/ca.pem", "key_filename": "certs/ca.pem", field: name})
        msg = run_test(client, pg(LOOPBACK, 1, hooks_params=hooks))
        assert msg["code"] == "INVALID_PARAMETERS", msg
        assert f"hooks_params.SSL.{field}" in msg["details"], msg["details"]
        assert "OUTSIDE-CONTENT-93" not in str(msg)


def test_kerberos_keytab_outside_the_folder_is_refused(files_dir: Path) -> None:
    for client in client_for(files_dir=str(files_dir)):
        for name in ("../outside.pem", "/etc/passwd", "escape.pem"):
            hooks = {"Kerberos": {"principal": "alice@WIZARD.TEST", "keytab_file": name}}
            msg = run_test(client, pg(LOOPBACK, 1, hooks_params=hooks))
            assert msg["code"] == "INVALID_PARAMETERS", msg
            assert "hooks_params.Kerberos.keytab_file" in msg["details"], msg["details"]
