"""IBM Db2 with the real ibm_db driver (its bundled CLI) against loopback listeners.

No Db2 server can run here: the driver meets a closed port, a silent listener, listeners that
close or answer garbage, and TLS listeners with the suite's PKI. Login errors are classified
from the driver's own message format ("[IBM][CLI Driver] SQLnnnnnN … SQLSTATE=… SQLCODE=…"),
the SQL30081N texts being the ones this driver printed here, the others IBM's documented texts.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

import httpx
import pytest

from backend.connectors.db2 import CONNECTOR, CreateDB2Connector, load_driver
from backend.core import ReachedAddress
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure
from tests.conftest import NASTY_PASSWORD, expect_timeout, failed_detail, run_test, stage, timed_verdict
from tests.servers.common import SilentListener
from tests.servers.stubs import ClosingListener, GarbageListener, TLSListener

HOST = "127.0.0.1"


def body(port: int, **overrides: Any) -> dict[str, Any]:
    return {
        "connector_type": "DB2Connector",
        "host": HOST,
        "port": port,
        "database": "TESTDB",
        "username": "db2inst1",
        "password": NASTY_PASSWORD,
        **overrides,
    }


def ssl_hook(**fields: Any) -> dict[str, Any]:
    return {"hooks_params": {"SSL": fields}}


def test_the_bundled_cli_driver_loads() -> None:
    ibm_db = load_driver()

    assert ibm_db.__version__
    assert os.environ["DB2_MAX_CLIENT_CONNRETRIES"] == "0"  # set before the CLI's first use


# --- the network ------------------------------------------------------------------------------


@pytest.mark.parametrize("listener", ["closing", "garbage"])
def test_a_port_that_is_not_db2_gets_a_clear_verdict_without_the_clients_5_s_retry(
    client: httpx.Client, listener: str, request: pytest.FixtureRequest
) -> None:
    port = request.getfixturevalue(listener).port
    # within 2 s: the CLI would otherwise reconnect after 5 s
    msg = timed_verdict(client, body(port), "CONNECTION_RESET" if listener == "closing" else "UNEXPECTED_ERROR", within=2)
    if listener == "garbage":  # the closing one is CONNECTION_RESET, with the catalog's title
        assert msg["title"] == "No Db2 server answered on this port"
    assert list(msg["details"]) == ["port"]
    assert "SQL30081N" in failed_detail(msg) and "Traceback" not in json.dumps(msg)


# --- parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["password", "username", "database"])
def test_a_semicolon_cannot_reach_the_cli_and_is_refused_by_name(
    client: httpx.Client, closing: ClosingListener, field: str
) -> None:
    value = "pa;ss" if field != "database" else "TEST;DB"
    before = closing.accepted
    msg = run_test(client, body(closing.port, **{field: value}))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == [field]
    assert closing.accepted == before  # refused before anything was sent
    assert "pa;ss" not in json.dumps(msg)


def test_the_cli_reads_host_and_port_after_a_nasty_password(client: httpx.Client, closing: ClosingListener) -> None:
    """The real CLI parses the wizard's connection string: with a nasty PWD (all but ';') it still reads
    HOSTNAME and PORT and connects to the listener they name."""
    params = CreateDB2Connector.model_validate(body(closing.port))
    assert CONNECTOR.url(params, ReachedAddress(HOST, HOST, closing.port)).password == NASTY_PASSWORD
    ibm_db = load_driver()
    before = closing.accepted
    with pytest.raises(Exception) as caught:
        ibm_db.connect(_connection_string(params, closing.port), "", "")
    assert "SQL30081N" in str(caught.value)  # a communication error: the listener hung up, as it does
    assert closing.accepted > before  # the CLI did connect to the host and port it read
    assert NASTY_PASSWORD not in json.dumps(run_test(client, body(closing.port)))


def test_kerberos_is_refused_with_a_reason(client: httpx.Client, closing: ClosingListener) -> None:
    msg = run_test(client, body(closing.port, hooks_params={"Kerberos": {"principal": "a@B", "keytab_file": "k"}}))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == ["hooks_params.Kerberos"]


def test_ssl_needs_a_ca(client: httpx.Client, closing: ClosingListener) -> None:
    msg = run_test(client, body(closing.port, **ssl_hook(ssl_mode="verify-ca")))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == ["hooks_params.SSL.ca"]


def test_ssl_client_certificates_are_refused_with_a_reason(client: httpx.Client, closing: ClosingListener, pki: Any) -> None:
    pair = pki.client("db2user")
    msg = run_test(client, body(closing.port, **ssl_hook(ca=pki.ca.cert_pem, cert=pair.cert_pem, key=pair.key_pem)))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert set(msg["details"]) == {"hooks_params.SSL.cert", "hooks_params.SSL.key"}
    assert "GSKit" in msg["details"]["hooks_params.SSL.cert"][0]
    assert "PRIVATE KEY" not in json.dumps(msg)


def test_require_is_not_a_db2_ssl_mode(client: httpx.Client, closing: ClosingListener, pki: Any) -> None:
    msg = run_test(client, body(closing.port, **ssl_hook(ssl_mode="require", ca=pki.ca.cert_pem)))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == ["hooks_params.SSL.ssl_mode"]


# --- SSL ----------------------------------------------------------------------------------------


def test_ssl_with_an_unrelated_ca_is_refused_before_the_driver_runs(
    client: httpx.Client, tls_listener: TLSListener, pki: Any
) -> None:
    msg = run_test(client, body(tls_listener.port, **ssl_hook(ssl_mode="verify-ca", ca=pki.other_ca.cert_pem)))
    assert msg["code"] == "TLS_CERTIFICATE_INVALID"
    assert list(msg["details"]) == ["hooks_params.SSL.ca"]


def test_verify_full_checks_the_host_name_the_user_typed(client: httpx.Client, tls_listener: TLSListener, pki: Any) -> None:
    msg = run_test(client, body(tls_listener.port, host="db.localhost", **ssl_hook(ca=pki.ca.cert_pem)))
    assert msg["code"] == "TLS_CERTIFICATE_INVALID"
    assert list(msg["details"]) == ["host"]


def test_ssl_handshakes_pass_then_the_listener_hangs_up(client: httpx.Client, tls_listener: TLSListener, pki: Any) -> None:
    before = tls_listener.handshakes
    msg = run_test(client, body(tls_listener.port, host="localhost", **ssl_hook(ssl_mode="verify-full", ca=pki.ca.cert_pem)))
    # The wizard's own bounded handshake, then the CLI's (GSKit) with SSLServerCertificate=<the CA>.
    assert tls_listener.handshakes == before + 2
    assert msg["title"] == "No Db2 server answered on this port", msg
    assert '"SSL"' in failed_detail(msg)


def test_ssl_to_a_plain_port_is_tls_not_supported(client: httpx.Client, garbage: GarbageListener, pki: Any) -> None:
    msg = run_test(client, body(garbage.port, **ssl_hook(ca=pki.ca.cert_pem)))
    assert msg["code"] == "TLS_NOT_SUPPORTED"
    assert list(msg["details"]) == ["port"]


@pytest.mark.deadline
def test_ssl_to_a_silent_listener_times_out_and_leaves_no_driver_thread(client: httpx.Client, pki: Any) -> None:
    # The CLI reads without a timeout over SSL: the wizard's handshake stops first, and the driver never runs.
    listener = SilentListener()
    try:
        msg = expect_timeout(client, body(listener.port, **ssl_hook(ca=pki.ca.cert_pem)))
        assert stage(msg, "tls")["status"] == "failed"
        assert stage(msg, "authentication")["status"] == "skipped"
        assert not [t for t in threading.enumerate() if t.name == f"wizard-{HOST}:{listener.port}"]
    finally:
        listener.close()


# --- classify() ---------------------------------------------------------------------------------


def _classify(message: str, **overrides: Any) -> Failure:
    params = CreateDB2Connector.model_validate(body(50000, **overrides))
    return CONNECTOR.classify(Exception(message), params, ReachedAddress(HOST, HOST, 50000))


COMM = ('[IBM][CLI Driver] SQL30081N  A communication error has been detected. Communication protocol being used: '
        '"{protocol}".  Communication API being used: "SOCKETS".  Location where the error was detected: "127.0.0.1".  '
        'Communication function detecting the error: "{function}".  Protocol specific error code(s): {codes}.  '
        'SQLSTATE=08001 SQLCODE=-30081')


@pytest.mark.parametrize(("reason", "text", "code", "fields"), [
    (24, "USERNAME AND/OR PASSWORD INVALID", Code.AUTHENTICATION_FAILED, ["password", "username"]),
    (1, "PASSWORD EXPIRED", Code.AUTHENTICATION_FAILED, ["password"]),
    (19, "USERID DISABLED or RESTRICTED", Code.PERMISSION_DENIED, ["username"]),
])
def test_classify_security_failures(reason: int, text: str, code: Code, fields: list[str]) -> None:
    failure = _classify(f'[IBM][CLI Driver] SQL30082N  Security processing failed with reason "{reason}" ("{text}").  '
                        "SQLSTATE=08001 SQLCODE=-30082")
    assert failure.code == code
    assert sorted(failure.fields) == fields
    assert not failure.detail.startswith("[IBM]")


def test_classify_database_and_privilege_errors() -> None:
    missing = _classify('[IBM][CLI Driver] SQL30061N  The database alias or database name "NOPE" was not found at the '
                        "remote node.  SQLSTATE=08004 SQLCODE=-30061")
    assert (missing.code, list(missing.fields), missing.stage) == (Code.DATABASE_NOT_FOUND, ["database"], "database")
    alias = _classify('[IBM][CLI Driver] SQL1013N  The database alias name or database name "NOPE" could not be found.  '
                      "SQLSTATE=42705 SQLCODE=-1013")
    assert alias.code == Code.DATABASE_NOT_FOUND
    no_connect = _classify('[IBM][CLI Driver] SQL1060N  User "BOB" does not have the CONNECT privilege.  '
                           "SQLSTATE=08004 SQLCODE=-1060")
    assert (no_connect.code, list(no_connect.fields)) == (Code.PERMISSION_DENIED, ["username"])


def test_classify_communication_errors() -> None:
    refused = _classify(COMM.format(protocol="TCP/IP", function="connect", codes='"111", "0", "0"'))
    assert (refused.code, list(refused.fields)) == (Code.PORT_CLOSED, ["port"])
    timeout = _classify(COMM.format(protocol="TCP/IP", function="selectForRecvTimeout", codes='"115", "*", "*"'))
    assert timeout.code == Code.CONNECTION_TIMEOUT
    reset = _classify(COMM.format(protocol="TCP/IP", function="recv", codes='"104", "*", "0"'))
    assert (reset.code, list(reset.fields)) == (Code.UNEXPECTED_ERROR, ["port"])
    untrusted = _classify(COMM.format(protocol="SSL", function="sqlccSSLSocketSetup", codes='"414", "*", "*"'),
                          hooks_params={"SSL": {"ca_filename": "ca.pem"}})
    assert (untrusted.code, list(untrusted.fields)) == (Code.TLS_CERTIFICATE_INVALID, ["hooks_params.SSL.ca_filename"])
    ciphers = _classify(COMM.format(protocol="SSL", function="sqlccSSLSocketSetup", codes='"402", "*", "*"'))
    assert ciphers.code == Code.TLS_HANDSHAKE_FAILED


# --- metadata -----------------------------------------------------------------------------------


def test_supported_types_show_db2(client: httpx.Client) -> None:
    props = client.get("/api/v1/database_connections/supported_types/").json()["connectors"]["DB2Connector"]
    assert props["port"]["default"] == 50000
    assert props["protocol"]["default"] == "db2" and props["protocol"]["values"][0] == "db2"
    assert props["password"]["type"] == "password"
    assert props["hooks_params"]["values"] == ["SSHTunnel", "SSL"]
    assert props["hooks_params.SSL.ssl_mode"]["values"] == ["disable", "verify-ca", "verify-full"]


def _connection_string(params: CreateDB2Connector, port: int) -> str:
    from backend.core import RunContext
    from backend.diagnosis.stages import Deadline, Diagnosis
    from backend.security.policy import TargetPolicy
    from tests.conftest import make_settings

    deadline = Deadline(3)
    ctx = RunContext(make_settings(), TargetPolicy(), deadline, Diagnosis(CONNECTOR.stage_names, deadline))
    return CONNECTOR.connection_string(params, ReachedAddress(HOST, HOST, port), ctx)
