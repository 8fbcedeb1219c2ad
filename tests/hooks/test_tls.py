"""The SSL/TLS hook against real servers: PostgreSQL and MariaDB with TLS, and the suite's plain ones.

The PKI (tests/servers/tls.py) has a CA that signed the servers' certificate (names: localhost,
127.0.0.1) and the client certificates, and an unrelated CA whose trust must fail.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from backend.core import RunContext
from backend.diagnosis.stages import Deadline, Diagnosis, Failure
from backend.hooks import tls
from backend.security.policy import TargetPolicy
from backend.settings import Settings
from backend.spec.schemas import CreateSSLHooksSchema
from tests.conftest import DB, NASTY_PASSWORD, make_settings, run_test, stage
from tests.helpers import leftovers, redirect_tmp

MYSQL_PROTOCOLS = ["mysql+mysqldb", "mysql+pymysql"]


@pytest.fixture(scope="module")
def files_dir(pki: Any) -> Iterator[Path]:
    """The wizard's WIZARD_FILES_DIR for these tests: the CA, a client certificate and key, and traps."""
    folder = Path(tempfile.mkdtemp(prefix="wizard-files-"))
    (folder / "ca.crt").write_bytes(pki.ca.cert.read_bytes())
    certuser = pki.client("certuser")
    (folder / "certuser.crt").write_bytes(certuser.cert.read_bytes())
    (folder / "certuser.key").write_bytes(certuser.key.read_bytes())
    (folder / "sub").mkdir()
    (folder / "sub" / "ca.pem").write_bytes(pki.ca.cert.read_bytes())
    outside = Path(tempfile.mkdtemp(prefix="wizard-outside-"))
    (outside / "secret.pem").write_bytes(pki.ca.cert.read_bytes())
    (folder / "escape.pem").symlink_to(outside / "secret.pem")
    (folder / "escape-dir").symlink_to(outside)
    yield folder
    for path in (folder, outside):
        for root, dirs, names in os.walk(path, topdown=False):
            for name in names:
                os.unlink(os.path.join(root, name))
            for name in dirs:
                target = os.path.join(root, name)
                os.unlink(target) if os.path.islink(target) else os.rmdir(target)
        os.rmdir(path)


@pytest.fixture
def settings(files_dir: Path) -> Settings:
    return make_settings(files_dir=files_dir)


@pytest.fixture
def private_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Where this test's request puts its private temp dir (to see that nothing is left behind)."""
    return redirect_tmp(tmp_path, monkeypatch)


def pg(db: DB, ssl: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    body = {"connector_type": "PostgreSQLConnector", "host": "localhost", "port": db.port,
            "database": db.database, "username": db.user, "password": db.password, **overrides}
    if ssl is not None:
        body["hooks_params"] = {"SSL": ssl}
    return body


def my(db: DB, protocol: str, ssl: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    body = {"connector_type": "MySQLMariaDBConnector", "host": "localhost", "port": db.port, "protocol": protocol,
            "database": db.database, "username": db.user, "password": db.password, **overrides}
    if ssl is not None:
        body["hooks_params"] = {"SSL": ssl}
    return body


def client_pem(pki: Any, cn: str, signer: str = "ca") -> dict[str, str]:
    pair = pki.client(cn, signer=signer)
    return {"cert": pair.cert_pem, "key": pair.key_pem}


# --- PostgreSQL ---------------------------------------------------------------------------------


def test_pg_verify_full_with_the_right_ca(client: httpx.Client, postgres_tls: DB, pki: Any) -> None:
    msg = run_test(client, pg(postgres_tls, {"ssl_mode": "verify-full", "ca": pki.ca.cert_pem}))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    state = msg["payload"]["tls"]
    assert state["enabled"] is True and state["version"].startswith("TLSv1.")
    assert state["verified"] is True and state["hostname_verified"] is True and state["cipher"]
    assert "certificate was verified" in msg["body"]
    assert stage(msg, "tls")["status"] == "passed"


def test_pg_ca_file_alone_means_verify_full(client: httpx.Client, postgres_tls: DB) -> None:
    msg = run_test(client, pg(postgres_tls, {"ca_filename": "sub/ca.pem"}))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert msg["payload"]["tls"]["hostname_verified"] is True


def test_pg_another_ca_is_not_trusted(client: httpx.Client, postgres_tls: DB, pki: Any) -> None:
    msg = run_test(client, pg(postgres_tls, {"ssl_mode": "verify-full", "ca": pki.other_ca.cert_pem}))
    assert msg["code"] == "TLS_CERTIFICATE_INVALID", msg
    assert list(msg["details"]) == ["hooks_params.SSL.ca"]
    assert stage(msg, "tls")["status"] == "failed" and stage(msg, "authentication")["status"] == "skipped"


def test_pg_wrong_host_name_fails_verify_full(client: httpx.Client, postgres_tls: DB, pki: Any) -> None:
    # db.localhost reaches 127.0.0.1 (RFC 6761) but the certificate names only localhost and 127.0.0.1
    msg = run_test(client, pg(postgres_tls, {"ssl_mode": "verify-full", "ca": pki.ca.cert_pem}, host="db.localhost"))
    assert msg["code"] == "TLS_CERTIFICATE_INVALID", msg
    assert list(msg["details"]) == ["host"]


def test_pg_require_with_a_ca_verifies_the_chain_but_not_the_name(
    client: httpx.Client, postgres_tls: DB, pki: Any
) -> None:
    ok = run_test(client, pg(postgres_tls, {"ssl_mode": "require", "ca": pki.ca.cert_pem}, host="db.localhost"))
    assert ok["code"] == "CONNECTION_SUCCESSFUL", ok
    assert ok["payload"]["tls"]["verified"] is True and ok["payload"]["tls"]["hostname_verified"] is False
    bad = run_test(client, pg(postgres_tls, {"ssl_mode": "require", "ca": pki.other_ca.cert_pem}))
    assert bad["code"] == "TLS_CERTIFICATE_INVALID"


def test_pg_without_hook_says_not_verified(client: httpx.Client, postgres_tls: DB) -> None:
    msg = run_test(client, pg(postgres_tls))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert msg["payload"]["tls"]["enabled"] is True and msg["payload"]["tls"]["verified"] is False
    assert "NOT verified" in msg["body"]
    assert_unchecked_identity_warning(msg, "PostgreSQL", "verify-full")


def assert_unchecked_identity_warning(msg: dict[str, Any], label: str, mode: str) -> None:
    """An encrypted link whose certificate nobody checked is a warning with the success code, that leads
    with that and how to switch checking on, and names the field to change (as PATH_NOT_FOUND does)."""
    assert msg["code"] == "CONNECTION_SUCCESSFUL" and msg["kind"] == "warning", msg
    assert msg["title"] == f"Connected to {label}, but the server's identity was not checked"
    assert msg["body"].startswith("The connection works and is encrypted, but the wizard did not check")
    assert f"set the TLS mode to {mode}" in msg["body"] and "CA certificate" in msg["body"]
    assert msg["display"] == "field" and list(msg["details"]) == ["hooks_params.SSL.ssl_mode"]
    assert mode in msg["details"]["hooks_params.SSL.ssl_mode"][0]
    assert stage(msg, "query")["status"] == "passed", "the connection itself works"


def test_pg_checked_certificate_is_a_plain_success(client: httpx.Client, postgres_tls: DB, pki: Any) -> None:
    msg = run_test(client, pg(postgres_tls, {"ssl_mode": "verify-full", "ca": pki.ca.cert_pem}))
    assert msg["code"] == "CONNECTION_SUCCESSFUL" and msg["kind"] == "success", msg
    assert msg["details"] is None and msg["display"] == "notification"
    chain_only = run_test(client, pg(postgres_tls, {"ssl_mode": "verify-ca", "ca": pki.ca.cert_pem}))
    assert chain_only["kind"] == "success", "the certificate was checked against the CA given"
    plain = run_test(client, pg(postgres_tls, {"ssl_mode": "disable"}))
    assert plain["kind"] == "success" and plain["payload"]["tls"] == {"enabled": False}, "nothing to verify"
    assert stage(plain, "tls")["status"] == "warning" and "NOT encrypted" in plain["body"]


def test_pg_client_certificate_login_inline(client: httpx.Client, postgres_tls: DB, pki: Any) -> None:
    ssl = {"ssl_mode": "verify-full", "ca": pki.ca.cert_pem, **client_pem(pki, "certuser")}
    msg = run_test(client, pg(postgres_tls, ssl, username="certuser", password=""))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert msg["payload"]["server"]["user"] == "certuser"
    assert "PRIVATE KEY" not in str(msg)


def test_pg_client_certificate_login_from_files(client: httpx.Client, postgres_tls: DB) -> None:
    ssl = {"ca_filename": "ca.crt", "cert_filename": "certuser.crt", "key_filename": "certuser.key"}
    msg = run_test(client, pg(postgres_tls, ssl, username="certuser", password=""))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg


def test_pg_cert_user_without_certificate(client: httpx.Client, postgres_tls: DB, pki: Any) -> None:
    msg = run_test(client, pg(postgres_tls, {"ca": pki.ca.cert_pem}, username="certuser", password=""))
    assert msg["code"] == "AUTHENTICATION_FAILED", msg
    assert "hooks_params.SSL.cert" in msg["details"]


def test_pg_client_certificate_of_another_user(client: httpx.Client, postgres_tls: DB, pki: Any) -> None:
    ssl = {"ca": pki.ca.cert_pem, **client_pem(pki, "someone-else")}
    msg = run_test(client, pg(postgres_tls, ssl, username="certuser", password=""))
    assert msg["code"] == "AUTHENTICATION_FAILED", msg
    assert "hooks_params.SSL.cert" in msg["details"]


def test_pg_tls_required_for_a_hostssl_user(client: httpx.Client, postgres_tls: DB) -> None:
    msg = run_test(client, pg(postgres_tls, {"ssl_mode": "disable"}, username="tlsonly"))
    assert msg["code"] == "TLS_REQUIRED", msg
    assert list(msg["details"]) == ["hooks_params.SSL.ssl_mode"]
    with_tls = run_test(client, pg(postgres_tls, {"ssl_mode": "require"}, username="tlsonly"))
    assert with_tls["code"] == "CONNECTION_SUCCESSFUL", with_tls


def test_pg_no_hba_line_at_all_is_not_called_tls_required(client: httpx.Client, postgres_tls: DB) -> None:
    msg = run_test(client, pg(postgres_tls, {"ssl_mode": "disable"}, username="nobody"))
    assert msg["code"] == "PERMISSION_DENIED", msg


def test_pg_tls_not_supported(client: httpx.Client, postgres: DB) -> None:
    msg = run_test(client, pg(postgres, {"ssl_mode": "require"}))
    assert msg["code"] == "TLS_NOT_SUPPORTED", msg
    assert list(msg["details"]) == ["hooks_params.SSL.ssl_mode"]
    plain = run_test(client, pg(postgres))  # prefer: honest about the unencrypted link
    assert plain["code"] == "CONNECTION_SUCCESSFUL" and plain["payload"]["tls"] == {"enabled": False}
    assert "NOT encrypted" in plain["body"]


# --- MySQL / MariaDB ----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", MYSQL_PROTOCOLS)
def test_my_verify_identity_with_the_right_ca(client: httpx.Client, mariadb_tls: DB, pki: Any, protocol: str) -> None:
    msg = run_test(client, my(mariadb_tls, protocol, {"ssl_mode": "VERIFY_IDENTITY", "ca": pki.ca.cert_pem}))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    state = msg["payload"]["tls"]
    assert state["enabled"] is True and state["verified"] is True and state["hostname_verified"] is True


@pytest.mark.parametrize("protocol", MYSQL_PROTOCOLS)
def test_my_libpq_verify_full_checks_ca_and_host_name(client: httpx.Client, mariadb_tls: DB, pki: Any, protocol: str) -> None:
    """One vocabulary: libpq's verify-full means MySQL's VERIFY_IDENTITY (the CA and the host name)."""
    msg = run_test(client, my(mariadb_tls, protocol, {"ssl_mode": "verify-full", "ca": pki.ca.cert_pem}))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    state = msg["payload"]["tls"]
    assert state["enabled"] is True and state["verified"] is True and state["hostname_verified"] is True
    other = run_test(client, my(mariadb_tls, protocol, {"ssl_mode": "verify-full", "ca": pki.other_ca.cert_pem}))
    assert other["code"] == "TLS_CERTIFICATE_INVALID", other


def test_my_libpq_verify_full_refuses_another_host_name(client: httpx.Client, mariadb_tls: DB, pki: Any) -> None:
    msg = run_test(client, my(mariadb_tls, "mysql+pymysql", {"ssl_mode": "verify-full", "ca": pki.ca.cert_pem},
                              host="db.localhost"))
    assert msg["code"] == "TLS_CERTIFICATE_INVALID", msg
    assert list(msg["details"]) == ["host"]


@pytest.mark.parametrize("protocol", MYSQL_PROTOCOLS)
def test_my_another_ca_is_not_trusted(client: httpx.Client, mariadb_tls: DB, pki: Any, protocol: str) -> None:
    msg = run_test(client, my(mariadb_tls, protocol, {"ca": pki.other_ca.cert_pem}))
    assert msg["code"] == "TLS_CERTIFICATE_INVALID", msg
    assert list(msg["details"]) == ["hooks_params.SSL.ca"]


def test_my_wrong_host_name_fails_verify_identity(client: httpx.Client, mariadb_tls: DB, pki: Any) -> None:
    # PyMySQL goes to the checked address and checks the typed name (mysqlclient re-resolves the
    # name itself, and the system resolver knows no db.localhost)
    msg = run_test(client, my(mariadb_tls, "mysql+pymysql", {"ca": pki.ca.cert_pem}, host="db.localhost"))
    assert msg["code"] == "TLS_CERTIFICATE_INVALID", msg
    assert list(msg["details"]) == ["host"]
    chain_only = run_test(client, my(mariadb_tls, "mysql+pymysql", {"ssl_mode": "VERIFY_CA", "ca": pki.ca.cert_pem},
                                     host="db.localhost"))
    assert chain_only["code"] == "CONNECTION_SUCCESSFUL", chain_only
    assert chain_only["payload"]["tls"]["verified"] is True
    assert chain_only["payload"]["tls"]["hostname_verified"] is False


@pytest.mark.parametrize("protocol", MYSQL_PROTOCOLS)
def test_my_default_is_encrypted_but_not_verified(client: httpx.Client, mariadb_tls: DB, protocol: str) -> None:
    msg = run_test(client, my(mariadb_tls, protocol))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert msg["payload"]["tls"]["enabled"] is True and msg["payload"]["tls"]["verified"] is False
    assert "NOT verified" in msg["body"]
    assert_unchecked_identity_warning(msg, "MySQL / MariaDB", "verify-full")


@pytest.mark.parametrize("protocol", MYSQL_PROTOCOLS)
@pytest.mark.parametrize("user", ["x509user", "subjuser"])
def test_my_client_certificate_login(client: httpx.Client, mariadb_tls: DB, pki: Any, protocol: str, user: str) -> None:
    cn = "subjuser" if user == "subjuser" else "certuser"
    ssl = {"ca": pki.ca.cert_pem, **client_pem(pki, cn)}
    msg = run_test(client, my(mariadb_tls, protocol, ssl, username=user))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert msg["payload"]["server"]["user"] == f"{user}@%"


@pytest.mark.parametrize("protocol", MYSQL_PROTOCOLS)
def test_my_client_certificate_required(client: httpx.Client, mariadb_tls: DB, pki: Any, protocol: str) -> None:
    missing = run_test(client, my(mariadb_tls, protocol, {"ca": pki.ca.cert_pem}, username="x509user"))
    assert missing["code"] == "AUTHENTICATION_FAILED", missing
    assert "hooks_params.SSL.cert" in missing["details"]
    wrong_subject = run_test(client, my(mariadb_tls, protocol, {"ca": pki.ca.cert_pem, **client_pem(pki, "certuser")},
                                        username="subjuser"))
    assert wrong_subject["code"] == "AUTHENTICATION_FAILED", wrong_subject
    untrusted = run_test(client, my(mariadb_tls, protocol,
                                    {"ca": pki.ca.cert_pem, **client_pem(pki, "certuser", signer="other")},
                                    username="x509user"))
    assert untrusted["code"] == "TLS_HANDSHAKE_FAILED", untrusted
    assert "hooks_params.SSL.cert" in untrusted["details"]


@pytest.mark.parametrize("protocol", MYSQL_PROTOCOLS)
def test_my_tls_required_for_a_require_ssl_account(client: httpx.Client, mariadb_tls: DB, protocol: str) -> None:
    msg = run_test(client, my(mariadb_tls, protocol, {"ssl_mode": "DISABLED"}, username="tlsonly"))
    assert msg["code"] == "TLS_REQUIRED", msg
    assert list(msg["details"]) == ["hooks_params.SSL.ssl_mode"]
    wrong = run_test(client, my(mariadb_tls, protocol, {"ssl_mode": "DISABLED"}, password="not-it"))
    assert wrong["code"] == "AUTHENTICATION_FAILED", wrong  # same error 1045, told apart honestly
    assert run_test(client, my(mariadb_tls, protocol, {"ssl_mode": "REQUIRED"}, username="tlsonly"))["code"] == \
        "CONNECTION_SUCCESSFUL"


@pytest.mark.parametrize("protocol", MYSQL_PROTOCOLS)
@pytest.mark.parametrize("mode", ["REQUIRED", "VERIFY_IDENTITY"])
def test_my_tls_not_supported(client: httpx.Client, mariadb: DB, pki: Any, protocol: str, mode: str) -> None:
    msg = run_test(client, my(mariadb, protocol, {"ssl_mode": mode, "ca": pki.ca.cert_pem}))
    assert msg["code"] == "TLS_NOT_SUPPORTED", msg
    assert list(msg["details"]) == ["hooks_params.SSL.ssl_mode"]
    plain = run_test(client, my(mariadb, protocol))  # PREFERRED: no TLS there, and said so
    assert plain["code"] == "CONNECTION_SUCCESSFUL" and plain["payload"]["tls"] == {"enabled": False}


def test_my_nasty_password_survives_tls(client: httpx.Client, mariadb: DB) -> None:
    msg = run_test(client, my(mariadb, "mysql+mysqldb", {"ssl_mode": "DISABLED"}))
    assert msg["code"] == "CONNECTION_SUCCESSFUL" and NASTY_PASSWORD not in str(msg)


# --- the hook's input ---------------------------------------------------------------------------


@pytest.mark.parametrize(("connector", "mode", "valid"), [
    ("pg", "VERIFY_IDENTITY", "verify-full"), ("my", "allow", "VERIFY_IDENTITY"), ("my", "strict", "verify-full"),
])
def test_unknown_ssl_mode_lists_the_valid_ones(
    client: httpx.Client, postgres: DB, mariadb: DB, connector: str, mode: str, valid: str
) -> None:
    body = pg(postgres, {"ssl_mode": mode}) if connector == "pg" else my(mariadb, "mysql+mysqldb", {"ssl_mode": mode})
    msg = run_test(client, body)
    assert msg["code"] == "INVALID_PARAMETERS", msg
    assert valid in msg["details"]["hooks_params.SSL.ssl_mode"][0]
    assert stage(msg, "dns")["status"] == "skipped"


def test_ssl_mode_case_is_forgiven(client: httpx.Client, postgres_tls: DB) -> None:
    assert run_test(client, pg(postgres_tls, {"ssl_mode": "REQUIRE"}))["code"] == "CONNECTION_SUCCESSFUL"


def test_inline_and_file_of_one_item(client: httpx.Client, postgres: DB, pki: Any) -> None:
    msg = run_test(client, pg(postgres, {"ca": pki.ca.cert_pem, "ca_filename": "ca.crt"}))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert set(msg["details"]) == {"hooks_params.SSL.ca", "hooks_params.SSL.ca_filename"}


@pytest.mark.parametrize("name", ["../ca.crt", "sub/../../etc/passwd", "/etc/ssl/certs/ca-certificates.crt",
                                  "escape.pem", "escape-dir/secret.pem", "no-such.pem", "sub"])
def test_server_files_only_inside_the_files_dir(client: httpx.Client, postgres: DB, name: str) -> None:
    msg = run_test(client, pg(postgres, {"ssl_mode": "verify-ca", "ca_filename": name}))
    assert msg["code"] == "INVALID_PARAMETERS", msg
    assert "hooks_params.SSL.ca_filename" in msg["details"]
    assert "BEGIN CERTIFICATE" not in str(msg)


def test_absolute_path_inside_the_files_dir_is_fine(client: httpx.Client, postgres_tls: DB, files_dir: Path) -> None:
    msg = run_test(client, pg(postgres_tls, {"ca_filename": str(files_dir / "ca.crt")}))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg


@pytest.mark.parametrize(("ssl", "field", "words"), [
    ({"ca": "hello"}, "hooks_params.SSL.ca", "PEM"),
    ({"ca": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, "hooks_params.SSL.ca", "not valid"),
    ({"ca": "KEY"}, "hooks_params.SSL.ca", "private key"),
    ({"cert": "CERT", "key": "CERT"}, "hooks_params.SSL.key", "certificate, not a private key"),
    ({"cert": "CERT"}, "hooks_params.SSL.key", "needs its private key"),
    ({"cert": "CERT", "key": "OTHER_KEY"}, "hooks_params.SSL.key", "does not belong"),
    ({"cert": "CERT", "key": "ENCRYPTED_KEY"}, "hooks_params.SSL.key", "encrypted"),
])
def test_bad_pem_is_named_and_never_echoed(
    client: httpx.Client, postgres: DB, pki: Any, ssl: dict[str, str], field: str, words: str
) -> None:
    pair, other = pki.client("certuser"), pki.client("someone-else")
    encrypted = _encrypted(pair.key_pem)
    values = {"CERT": pair.cert_pem, "KEY": pair.key_pem, "OTHER_KEY": other.key_pem, "ENCRYPTED_KEY": encrypted}
    body = pg(postgres, {k: values.get(v, v) for k, v in ssl.items()})
    msg = run_test(client, body)
    assert msg["code"] == "INVALID_PARAMETERS", msg
    assert field in msg["details"], msg["details"]
    assert words in msg["details"][field][0]
    text = str(msg)
    for secret in (pair.key_pem, other.key_pem, encrypted):
        assert secret.strip().splitlines()[1] not in text


def _encrypted(key_pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(b"a-passphrase")).decode()


# --- temp files ---------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["success", "failure", "tls_required"])
def test_temp_files_are_gone_after_the_request(
    client: httpx.Client, postgres_tls: DB, pki: Any, private_tmp: Path, outcome: str
) -> None:
    ca = pki.other_ca.cert_pem if outcome == "failure" else pki.ca.cert_pem
    ssl = {"ssl_mode": "verify-full", "ca": ca, **client_pem(pki, "certuser")}
    body = pg(postgres_tls, ssl, username="certuser", password="")
    if outcome == "tls_required":
        body = pg(postgres_tls, {"ssl_mode": "disable", "ca": ca}, username="tlsonly")
    msg = run_test(client, body)
    expected = {"success": "CONNECTION_SUCCESSFUL", "failure": "TLS_CERTIFICATE_INVALID", "tls_required": "TLS_REQUIRED"}
    assert msg["code"] == expected[outcome], msg
    assert leftovers(private_tmp) == []


@pytest.mark.parametrize("protocol", MYSQL_PROTOCOLS)
def test_temp_files_are_gone_after_a_mysql_failure(
    client: httpx.Client, mariadb_tls: DB, pki: Any, private_tmp: Path, protocol: str
) -> None:
    msg = run_test(client, my(mariadb_tls, protocol, {"ca": pki.ca.cert_pem, **client_pem(pki, "certuser")},
                              username="x509user", password="wrong"))
    assert msg["code"] == "AUTHENTICATION_FAILED", msg
    assert leftovers(private_tmp) == []


def test_temp_files_are_gone_after_a_timeout(
    client: httpx.Client, silent_port: int, pki: Any, private_tmp: Path
) -> None:
    body = {"connector_type": "PostgreSQLConnector", "host": "127.0.0.1", "port": silent_port, "database": "d",
            "username": "u", "password": "p", "hooks_params": {"SSL": {"ca": pki.ca.cert_pem, **client_pem(pki, "x")}}}
    msg = run_test(client, body)
    assert msg["code"] == "CONNECTION_TIMEOUT", msg
    assert leftovers(private_tmp) == []


def test_prepared_files_are_private_and_removed(pki: Any, files_dir: Path) -> None:
    deadline = Deadline(3)
    ctx = RunContext(settings=make_settings(files_dir=files_dir), policy=TargetPolicy("", ""), deadline=deadline,
                      diagnosis=Diagnosis(("parameters",), deadline))
    pair = pki.client("certuser")
    hook = CreateSSLHooksSchema(ssl_mode="verify-full", ca_filename="ca.crt", cert=pair.cert_pem, key=pair.key_pem)
    with ctx.stack:
        found = tls.prepare(hook, ctx, ("verify-full",))
        assert found is not None and found.ca and found.cert and found.key
        assert found.blame("ca") == "hooks_params.SSL.ca_filename" and found.blame("key") == "hooks_params.SSL.key"
        folder = found.key.parent
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        for path in (found.ca, found.cert, found.key):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.stat().st_uid == os.getuid()
        assert found.key.read_text().strip() == pair.key_pem.strip()
    assert not folder.exists()


def test_prepare_failure_leaves_nothing(pki: Any, files_dir: Path, private_tmp: Path) -> None:
    deadline = Deadline(3)
    ctx = RunContext(settings=make_settings(files_dir=files_dir), policy=TargetPolicy("", ""), deadline=deadline,
                      diagnosis=Diagnosis(("parameters",), deadline))
    with contextlib.suppress(Failure), ctx.stack:
        tls.prepare(CreateSSLHooksSchema(ca=pki.ca.cert_pem, cert=pki.server.cert_pem, key="nope"), ctx, ("require",))
    assert leftovers(private_tmp) == []
