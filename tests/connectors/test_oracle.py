"""Oracle with the real python-oracledb driver (thin mode) against loopback listeners.

No Oracle server can run here: the driver meets a closed port, a silent listener, listeners that
close or answer garbage, and a TLS listener with the suite's PKI; login errors are classified
from exceptions the driver itself builds (oracledb.errors), with the messages of Oracle 23ai.
"""

from __future__ import annotations

import importlib.util
import json
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import oracledb
import pytest
from oracledb import errors as ora_errors

from backend.connectors.oracle import CONNECTOR, CreateOracleConnector
from backend.core import ReachedAddress
from backend.diagnosis.messages import Code
from backend.diagnosis.stages import Failure
from tests.conftest import NASTY_PASSWORD, expect_timeout, failed_detail, run_test, stage
from tests.servers.stubs import ClosingListener, GarbageListener, TLSListener

HOST = "127.0.0.1"


def body(port: int, **overrides: Any) -> dict[str, Any]:
    return {
        "connector_type": "OracleConnector",
        "host": HOST,
        "port": port,
        "database": "FREEPDB1",
        "username": "wizard",
        "password": NASTY_PASSWORD,
        **overrides,
    }


def ssl_hook(**fields: Any) -> dict[str, Any]:
    return {"hooks_params": {"SSL": fields}}


@pytest.fixture(scope="module")
def silent_tls(pki: Any) -> Iterator[TLSListener]:
    listener = TLSListener(pki.server.cert, pki.server.key, silent=True)
    yield listener
    listener.close()


# --- the network ------------------------------------------------------------------------------


@pytest.mark.parametrize("listener", ["closing", "garbage"])
def test_a_port_that_is_not_an_oracle_listener_gets_a_clear_verdict(
    client: httpx.Client, listener: str, request: pytest.FixtureRequest
) -> None:
    port = request.getfixturevalue(listener).port
    msg = run_test(client, body(port))
    if listener == "closing":  # accepted and closed at once: CONNECTION_RESET, the driver's words kept in the stage
        assert msg["code"] == "CONNECTION_RESET" and list(msg["details"]) == ["port"]
        assert "DPY-4011" in failed_detail(msg) and "Traceback" not in json.dumps(msg)
        return
    assert msg["code"] == "UNEXPECTED_ERROR"
    assert msg["title"] == "No Oracle listener answered on this port"
    assert list(msg["details"]) == ["port"]
    assert "DPY-4011" in failed_detail(msg) and "Traceback" not in json.dumps(msg)
    assert "CONNECTION_ID" not in msg["body"]


# --- parameters -------------------------------------------------------------------------------


def test_cx_oracle_is_known_but_not_installed(client: httpx.Client, closing: ClosingListener) -> None:
    assert importlib.util.find_spec("cx_Oracle") is None  # requirements.txt ships python-oracledb only
    msg = run_test(client, body(closing.port, protocol="oracle+cx_oracle"))
    assert msg["code"] == "DRIVER_NOT_AVAILABLE"
    assert "cx_Oracle" in msg["details"]["protocol"][0]


def test_unknown_protocol(client: httpx.Client, closing: ClosingListener) -> None:
    msg = run_test(client, body(closing.port, protocol="oracle+nonsense"))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == ["protocol"]


def test_kerberos_is_refused_with_a_reason(client: httpx.Client, closing: ClosingListener) -> None:
    msg = run_test(client, body(closing.port, hooks_params={"Kerberos": {"principal": "a@B", "keytab_file": "k"}}))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert "thin mode" in msg["details"]["hooks_params.Kerberos"][0]


def test_unknown_ssl_mode_names_the_field(client: httpx.Client, closing: ClosingListener) -> None:
    msg = run_test(client, body(closing.port, **ssl_hook(ssl_mode="verify-everything")))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == ["hooks_params.SSL.ssl_mode"]


def test_password_reaches_the_driver_intact_and_never_the_verdict(client: httpx.Client, closing: ClosingListener) -> None:
    params = CreateOracleConnector.model_validate(body(closing.port))
    args = CONNECTOR.connect_args(params, ReachedAddress(HOST, HOST, closing.port), _context(client))
    assert args["password"] == NASTY_PASSWORD
    assert args["service_name"] == "FREEPDB1" and args["host"] == HOST
    taken = oracledb.ConnectParams(**args)  # the real driver takes every argument as given
    assert (taken.user, taken.host, taken.port, taken.service_name) == ("wizard", HOST, closing.port, "FREEPDB1")
    msg = run_test(client, body(closing.port))
    assert NASTY_PASSWORD not in json.dumps(msg)


# --- TLS (TCPS) ---------------------------------------------------------------------------------


def test_tcps_with_an_unrelated_ca_is_refused_in_the_handshake(
    client: httpx.Client, tls_listener: TLSListener, pki: Any
) -> None:
    msg = run_test(client, body(tls_listener.port, **ssl_hook(ssl_mode="verify-full", ca=pki.other_ca.cert_pem)))
    assert msg["code"] == "TLS_CERTIFICATE_INVALID"
    assert list(msg["details"]) == ["hooks_params.SSL.ca"]
    assert stage(msg, "tls")["status"] == "failed"


def test_tcps_checks_the_host_name_the_user_typed_not_the_address(
    client: httpx.Client, tls_listener: TLSListener, pki: Any
) -> None:
    # db.localhost reaches 127.0.0.1 (RFC 6761); the certificate names localhost and 127.0.0.1 only.
    msg = run_test(client, body(tls_listener.port, host="db.localhost", **ssl_hook(ca=pki.ca.cert_pem)))
    assert msg["code"] == "TLS_CERTIFICATE_INVALID"
    assert list(msg["details"]) == ["host"]
    assert "db.localhost" in failed_detail(msg)


@pytest.mark.parametrize(("host", "mode", "ca"), [
    ("localhost", "verify-full", True),
    ("db.localhost", "verify-ca", True),  # the chain is checked, the name is not
    ("db.localhost", "require", False),  # encrypted, nothing checked
])
def test_tcps_handshake_passes_then_the_listener_hangs_up(
    client: httpx.Client, tls_listener: TLSListener, pki: Any, host: str, mode: str, ca: bool
) -> None:
    before = tls_listener.handshakes
    hook = ssl_hook(ssl_mode=mode, **({"ca": pki.ca.cert_pem} if ca else {}))
    msg = run_test(client, body(tls_listener.port, host=host, **hook))
    assert tls_listener.handshakes == before + 1
    assert msg["title"] == "No Oracle listener answered on this port", msg


def test_tcps_to_a_plain_port_fails_in_the_handshake(client: httpx.Client, garbage: GarbageListener, pki: Any) -> None:
    msg = run_test(client, body(garbage.port, **ssl_hook(ssl_mode="verify-full", ca=pki.ca.cert_pem)))
    assert msg["code"] == "TLS_HANDSHAKE_FAILED"
    assert list(msg["details"]) == ["hooks_params.SSL.ssl_mode"]


@pytest.mark.deadline
def test_tcps_to_a_silent_tls_listener_times_out_within_the_deadline(
    client: httpx.Client, silent_tls: TLSListener, pki: Any
) -> None:
    expect_timeout(client, body(silent_tls.port, host="localhost", **ssl_hook(ca=pki.ca.cert_pem)))


# --- classify(), from exceptions python-oracledb builds ---------------------------------------


def _params(**overrides: Any) -> CreateOracleConnector:
    return CreateOracleConnector.model_validate(body(1521, **overrides))


def _classify(exc: BaseException, **overrides: Any) -> Failure:
    return CONNECTOR.classify(exc, _params(**overrides), ReachedAddress(HOST, HOST, 1521))


def _server_error(message: str, code: int) -> BaseException:
    """A database error as thin mode raises it from the server's answer (impl/thin/messages/base.pyx)."""
    err = ora_errors._Error(message, code=code)
    return err.exc_type(err)


def _connect_failure(cause: Exception) -> BaseException:
    """DPY-6005, as thin mode wraps a failure of the connect phase (impl/thin/connection.pyx)."""
    return ora_errors._create_exception(ora_errors.ERR_CONNECTION_FAILED, cause=cause, connection_id="x")


@pytest.mark.parametrize(("message", "number", "code", "fields"), [
    ("ORA-01017: invalid credential or not authorized; logon denied", 1017, Code.AUTHENTICATION_FAILED,
     ["password", "username"]),
    ("ORA-28000: The account is locked.", 28000, Code.PERMISSION_DENIED, ["username"]),
    ("ORA-28001: the password has expired", 28001, Code.AUTHENTICATION_FAILED, ["password"]),
    ("ORA-01045: Login denied. User WIZARD does not have CREATE SESSION privilege.", 1045, Code.PERMISSION_DENIED,
     ["username"]),
    ("ORA-01033: ORACLE initialization or shutdown in progress", 1033, Code.UNEXPECTED_ERROR, []),
])
def test_classify_login_errors(message: str, number: int, code: Code, fields: list[str]) -> None:
    failure = _classify(_server_error(message, number))
    assert failure.code == code
    assert sorted(failure.fields) == fields
    assert "Help:" not in failure.detail


def test_classify_unknown_service() -> None:
    cause = ora_errors._create_exception(ora_errors.ERR_INVALID_SERVICE_NAME, service_name="NOPE",
                                         host=HOST, port=1521)
    failure = _classify(_connect_failure(cause))
    assert failure.code == Code.DATABASE_NOT_FOUND
    assert list(failure.fields) == ["database"] and "service name" in failure.fields["database"][0]
    assert failure.stage == "database"


def test_classify_listener_refusal_uses_the_oracle_number() -> None:
    cause = ora_errors._create_exception(ora_errors.ERR_LISTENER_REFUSED_CONNECTION, error_code="12514")
    assert _classify(_connect_failure(cause)).code == Code.DATABASE_NOT_FOUND
    cause = ora_errors._create_exception(ora_errors.ERR_LISTENER_REFUSED_CONNECTION, error_code="12528")
    assert _classify(_connect_failure(cause)).code == Code.UNEXPECTED_ERROR


def test_classify_transport_causes() -> None:
    refused = _classify(_connect_failure(ConnectionRefusedError(111, "Connect call failed")))
    assert (refused.code, list(refused.fields)) == (Code.PORT_CLOSED, ["port"])
    timeout = _classify(_connect_failure(TimeoutError("timed out")))
    assert timeout.code == Code.CONNECTION_TIMEOUT
    untrusted = ssl.SSLCertVerificationError(1, "certificate verify failed: unable to get local issuer certificate")
    untrusted.verify_code = 20
    failure = _classify(_connect_failure(untrusted), hooks_params={"SSL": {"ca_filename": "ca.pem"}})
    assert (failure.code, list(failure.fields)) == (Code.TLS_CERTIFICATE_INVALID, ["hooks_params.SSL.ca_filename"])


def test_classify_old_servers_and_verifiers() -> None:
    old = ora_errors._create_exception(ora_errors.ERR_SERVER_VERSION_NOT_SUPPORTED)
    assert list(_classify(old).fields) == ["protocol"]
    verifier = ora_errors._create_exception(ora_errors.ERR_UNSUPPORTED_VERIFIER_TYPE, verifier_type=0x939)
    assert _classify(verifier).code == Code.AUTHENTICATION_FAILED


# --- metadata -----------------------------------------------------------------------------------


def test_supported_types_show_oracle(client: httpx.Client) -> None:
    props = client.get("/api/v1/database_connections/supported_types/").json()["connectors"]["OracleConnector"]
    assert props["port"]["default"] == 1521
    assert props["protocol"] == {"type": ["string", "null"], "default": "oracle+oracledb", "values": ["oracle+oracledb"]}
    assert props["password"]["type"] == "password"
    assert props["hooks_params"]["values"] == ["SSHTunnel", "SSL"]
    assert props["hooks_params.SSL.ssl_mode"]["values"] == ["disable", "require", "verify-ca", "verify-full"]


def _context(client: httpx.Client) -> Any:
    from backend.core import RunContext
    from backend.diagnosis.stages import Deadline, Diagnosis
    from backend.security.policy import TargetPolicy
    from tests.conftest import make_settings

    deadline = Deadline(3)
    return RunContext(make_settings(), TargetPolicy(), deadline, Diagnosis(CONNECTOR.stage_names, deadline))
