"""SQL Server: the real drivers (pyodbc over FreeTDS, and pymssql) against loopback stand-ins.

No SQL Server can run here. The drivers are real; what answers them is, in turn: nothing (a
closed port), a listener that never speaks, one that hangs up, one that answers HTTP, and
``FakeTDS7``, which speaks the SQL Server handshake (PRELOGIN, TLS inside it, LOGIN7) and sends
the real error numbers of SQL Server. It also decodes what the driver put on the wire, so the
tests see the password exactly as the server would.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pymssql
import pyodbc
import pytest

from backend.connectors import mssql
from backend.connectors._tds import odbc
from backend.connectors._tds.connector import RelayedAddress
from backend.connectors._tds.errors import parse_driver_error
from backend.connectors._tds.odbc import OdbcDriver, find_odbc_driver, odbc_value
from backend.connectors._tds.relay import TDSRelay
from backend.connectors.mssql import CONNECTOR
from backend.core import RunContext as Context
from backend.diagnosis.stages import Deadline, Diagnosis, Failure
from backend.security.policy import TargetPolicy
from tests.conftest import NASTY_PASSWORD, expect_timeout, failed_detail, make_settings, run_test, stage
from tests.helpers import busy_driver_threads, new_driver_threads, wait_until, wall_bound
from tests.servers.common import LOOPBACK
from tests.servers.fake_tds import Account, FakeTDS7, done_token, error_token
from tests.servers.stubs import ClosingListener, HTTPGarbageListener
from tests.servers.tls import PKI

PROTOCOLS = ["mssql+pyodbc", "mssql+pymssql"]
TYPES = "/api/v1/database_connections/supported_types/"
FUNCS = "/api/v1/database_connections/functionalities/"
FREETDS = find_odbc_driver(microsoft=True)
"""FreeTDS's ODBC driver (Debian's tdsodbc, installed by scripts/setup.sh)."""


def accounts() -> dict[str, Account]:
    return {"wizard": Account(NASTY_PASSWORD, {"appdb"}), "outsider": Account("outsider-pw", set())}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeTDS7]:
    """A SQL Server stand-in without a certificate: it cannot encrypt."""
    fake = FakeTDS7(accounts(), answer=lambda sql: error_token(229, "The SELECT permission was denied.")
                    + done_token(0x0002) if "forbidden" in sql else None)
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def tls_server(pki: PKI) -> Iterator[FakeTDS7]:
    """A stand-in with a certificate for localhost/127.0.0.1, signed by ``pki.ca``."""
    fake = FakeTDS7(accounts(), certfile=str(pki.server.cert), keyfile=str(pki.server.key))
    yield fake
    fake.close()


@pytest.fixture(scope="module")
def tls_only_server(pki: PKI) -> Iterator[FakeTDS7]:
    """A stand-in that forces encryption (SQL Server's "Force Encryption")."""
    fake = FakeTDS7(accounts(), certfile=str(pki.server.cert), keyfile=str(pki.server.key), require_tls=True)
    yield fake
    fake.close()


def body(port: int, **overrides: Any) -> dict[str, Any]:
    return {
        "connector_type": "MsSQLConnector",
        "host": LOOPBACK,
        "port": port,
        "database": "appdb",
        "username": "wizard",
        "password": NASTY_PASSWORD,
        **overrides,
    }


def ssl(**settings: str) -> dict[str, Any]:
    return {"hooks_params": {"SSL": settings}}


# --- the login, end to end --------------------------------------------------------------------


def test_default_protocol_is_pyodbc_over_freetds(client: httpx.Client, server: FakeTDS7) -> None:
    payload = body(server.port, schema_name="sales")
    assert "protocol" not in payload
    msg = run_test(client, payload)
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    facts = msg["payload"]["server"]
    assert facts["product"] == "Microsoft SQL Server 2022 (RTM)" and facts["version"] == "16.0.1000.6"
    assert (facts["user"], facts["database"], facts["schema"]) == ("wizard", "appdb", "sales")
    assert [s["status"] for s in msg["payload"]["stages"]] == [
        "passed", "passed", "passed", "skipped", "warning", "passed", "passed", "passed"]
    assert msg["payload"]["tls"] == {"enabled": False, "login_encrypted": False}
    assert "Microsoft SQL Server 2022 (RTM) 16.0.1000.6" in msg["body"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_password_full_of_special_characters_arrives_intact(client: httpx.Client, server: FakeTDS7,
                                                            protocol: str) -> None:
    msg = run_test(client, body(server.port, protocol=protocol))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert server.logins[-1]["password"] == NASTY_PASSWORD  # as decoded from the LOGIN7 packet
    assert server.logins[-1]["username"] == "wizard" and server.logins[-1]["database"] == "appdb"


@pytest.mark.parametrize("password", ["a;b", "{braced}", "semi;and}brace", "}{;", " spaced ", "%41+%2B&=@:/#?"])
def test_odbc_quoting_survives_freetds(client: httpx.Client, password: str) -> None:
    assert FREETDS is not None and FREETDS.freetds, "FreeTDS's ODBC driver (tdsodbc) is part of the setup"
    fake = FakeTDS7({"wizard": Account(password, {"appdb"})})
    try:
        msg = run_test(client, body(fake.port, password=password))
        assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
        assert fake.logins[-1]["password"] == password  # through unixODBC and FreeTDS's parser, unchanged
        if len(password) >= 4:
            assert password not in json.dumps(msg)
    finally:
        fake.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_wrong_password(client: httpx.Client, server: FakeTDS7, protocol: str) -> None:
    msg = run_test(client, body(server.port, protocol=protocol, password="wrong"))
    assert msg["code"] == "AUTHENTICATION_FAILED"
    assert {"password", "username"} <= set(msg["details"])
    assert stage(msg, "tls")["status"] == "passed"
    assert stage(msg, "authentication")["status"] == "failed"
    assert stage(msg, "query")["status"] == "skipped"


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(("user", "password", "database"), [
    ("wizard", NASTY_PASSWORD, "no_such_db"),  # missing database
    ("outsider", "outsider-pw", "appdb"),  # a database the login may not open
])
def test_database_that_cannot_be_opened(client: httpx.Client, server: FakeTDS7, protocol: str, user: str,
                                        password: str, database: str) -> None:
    # SQL Server answers 4060 and 18456; FreeTDS reports only 18456, the relay saw the 4060
    msg = run_test(client, body(server.port, protocol=protocol, username=user, password=password, database=database))
    assert msg["code"] == "DATABASE_NOT_FOUND", msg
    assert list(msg["details"]) == ["database"]
    assert "4060" in failed_detail(msg)
    assert stage(msg, "authentication")["status"] == "passed"
    assert stage(msg, "database")["status"] == "failed"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unknown_schema(client: httpx.Client, server: FakeTDS7, protocol: str) -> None:
    msg = run_test(client, body(server.port, protocol=protocol, schema_name="no_such_schema"))
    assert msg["code"] == "SCHEMA_NOT_FOUND"
    assert list(msg["details"]) == ["schema_name"]
    assert stage(msg, "database")["status"] == "passed"
    assert stage(msg, "query")["status"] == "failed"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_no_secret_in_any_verdict(client: httpx.Client, server: FakeTDS7, closing: ClosingListener,
                                  protocol: str) -> None:
    for port, database in ((server.port, "appdb"), (server.port, "no_such_db"), (closing.port, "appdb")):
        msg = run_test(client, body(port, protocol=protocol, database=database))
        text = json.dumps(msg)
        assert NASTY_PASSWORD not in text and "PWD=" not in text
        assert "wizard_" not in text, "the FreeTDS section name is internal"


# --- the network ------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_silent_host_times_out_and_the_driver_gives_up(client: httpx.Client, silent_port: int, protocol: str) -> None:
    before = busy_driver_threads()
    msg = expect_timeout(client, body(silent_port, protocol=protocol))
    assert stage(msg, "tcp")["status"] == "passed"
    # pymssql alone waits minutes on a silent host; the relay's end makes the driver give up now
    wait_until(lambda: not new_driver_threads(before), timeout=wall_bound(1.5), what="the driver's threads' end")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_server_that_hangs_up_at_once(client: httpx.Client, closing: ClosingListener, protocol: str) -> None:
    msg = run_test(client, body(closing.port, protocol=protocol))
    assert msg["code"] == "CONNECTION_RESET"  # the driver's TLS_HANDSHAKE_FAILED, seen again from the socket
    assert msg["title"] == "The port hung up at once"
    assert list(msg["details"]) == ["port"]
    assert "Traceback" not in msg["body"] and "Error:" not in msg["body"]
    assert stage(msg, "tls")["status"] == "failed"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_port_that_answers_http(client: httpx.Client, http_garbage: HTTPGarbageListener, protocol: str) -> None:
    msg = run_test(client, body(http_garbage.port, protocol=protocol))
    assert msg["code"] == "UNEXPECTED_ERROR"
    assert msg["title"] == "This port does not answer like SQL Server"
    assert "looks like HTTP" in failed_detail(msg)
    assert list(msg["details"]) == ["port"]


# --- TLS --------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_optional_encrypts_only_the_login(client: httpx.Client, tls_server: FakeTDS7, protocol: str) -> None:
    msg = run_test(client, body(tls_server.port, protocol=protocol))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert msg["payload"]["tls"] == {"enabled": False, "login_encrypted": True}
    assert "Only the login" in msg["body"]
    assert tls_server.logins[-1]["password"] == NASTY_PASSWORD


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_require_encrypts_everything(client: httpx.Client, tls_server: FakeTDS7, protocol: str) -> None:
    msg = run_test(client, body(tls_server.port, protocol=protocol, **ssl(ssl_mode="require")))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    tls = msg["payload"]["tls"]
    assert tls["enabled"] is True and tls["version"] == "TLSv1.2" and tls["verified"] is False
    assert tls_server.tls_used[-1] is True
    assert stage(msg, "tls")["status"] == "passed"
    # encrypted, the certificate unchecked: a warning that says how to check it (SQL Server's verifying mode)
    assert msg["kind"] == "warning" and "server's identity was not checked" in msg["title"]
    assert "set the TLS mode to verify-ca" in msg["body"] and list(msg["details"]) == ["hooks_params.SSL.ssl_mode"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_verify_ca_with_the_right_ca(client: httpx.Client, tls_server: FakeTDS7, pki: PKI, protocol: str) -> None:
    msg = run_test(client, body(tls_server.port, protocol=protocol, **ssl(ssl_mode="verify-ca", ca=pki.ca.cert_pem)))
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    assert msg["payload"]["tls"]["verified"] is True
    assert msg["payload"]["tls"]["hostname_verified"] is False
    assert "not against the host name" in msg["body"]
    assert msg["kind"] == "success", "the certificate was checked against the CA given"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_verify_ca_with_another_ca(client: httpx.Client, tls_server: FakeTDS7, pki: PKI, protocol: str) -> None:
    before = len(tls_server.logins)
    msg = run_test(client, body(tls_server.port, protocol=protocol,
                                **ssl(ssl_mode="verify-ca", ca=pki.other_ca.cert_pem)))
    assert msg["code"] == "TLS_CERTIFICATE_INVALID"
    assert list(msg["details"]) == ["hooks_params.SSL.ca"]
    assert len(tls_server.logins) == before, "no password was sent to an unverified server"


def test_a_ca_alone_means_verify_ca(client: httpx.Client, tls_server: FakeTDS7, pki: PKI) -> None:
    msg = run_test(client, body(tls_server.port, **ssl(ca=pki.other_ca.cert_pem)))
    assert msg["code"] == "TLS_CERTIFICATE_INVALID"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_require_against_a_server_without_tls(client: httpx.Client, server: FakeTDS7, protocol: str) -> None:
    msg = run_test(client, body(server.port, protocol=protocol, **ssl(ssl_mode="require")))
    assert msg["code"] == "TLS_NOT_SUPPORTED"
    assert list(msg["details"]) == ["hooks_params.SSL.ssl_mode"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_disable_against_a_server_that_forces_encryption(client: httpx.Client, tls_only_server: FakeTDS7,
                                                         protocol: str) -> None:
    msg = run_test(client, body(tls_only_server.port, protocol=protocol, **ssl(ssl_mode="disable")))
    assert msg["code"] == "TLS_REQUIRED"
    assert list(msg["details"]) == ["hooks_params.SSL.ssl_mode"]
    msg = run_test(client, body(tls_only_server.port, protocol=protocol))
    assert msg["code"] == "CONNECTION_SUCCESSFUL" and msg["payload"]["tls"]["enabled"] is True


def test_client_certificates_and_unknown_modes_are_refused(client: httpx.Client, tls_server: FakeTDS7,
                                                           pki: PKI) -> None:
    pair = pki.client("wizard")
    msg = run_test(client, body(tls_server.port, **ssl(cert=pair.cert_pem, key=pair.key_pem)))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert set(msg["details"]) == {"hooks_params.SSL.cert", "hooks_params.SSL.key"}
    msg = run_test(client, body(tls_server.port, **ssl(ssl_mode="VERIFY_IDENTITY")))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == ["hooks_params.SSL.ssl_mode"]
    msg = run_test(client, body(tls_server.port, **ssl(ssl_mode="require", ca=pki.ca.cert_pem)))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == ["hooks_params.SSL.ssl_mode"]


def test_kerberos_is_refused_with_a_reason(client: httpx.Client, server: FakeTDS7) -> None:
    msg = run_test(client, body(server.port, hooks_params={"Kerberos": {"principal": "a@B", "keytab_file": "k"}}))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == ["hooks_params.Kerberos"]
    assert "Kerberos" in msg["details"]["hooks_params.Kerberos"][0]


# --- drivers ----------------------------------------------------------------------------------


def test_no_odbc_driver_means_driver_not_available(client: httpx.Client, server: FakeTDS7,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # what a machine without Debian's tdsodbc (or msodbcsql18) looks like to the wizard
    monkeypatch.setattr(odbc, "FREETDS_LIBRARIES", ())
    monkeypatch.setattr(odbc, "registered_odbc_drivers", list)
    msg = run_test(client, body(server.port))
    assert msg["code"] == "DRIVER_NOT_AVAILABLE"
    assert list(msg["details"]) == ["protocol"]
    assert "tdsodbc" in msg["details"]["protocol"][0] and "mssql+pymssql" in msg["details"]["protocol"][0]
    assert stage(msg, "dns")["status"] == "skipped"
    assert CONNECTOR.protocol_values() == ["mssql+pyodbc", "mssql+pymssql"]  # the spec's default stays listed
    assert not CONNECTOR.protocols["mssql+pyodbc"].installed()
    msg = run_test(client, body(server.port, protocol="mssql+pymssql"))
    assert msg["code"] == "CONNECTION_SUCCESSFUL"


def test_missing_pymssql_means_driver_not_available(client: httpx.Client, server: FakeTDS7,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pymssql", None)  # how Python sees a package that is not installed
    msg = run_test(client, body(server.port, protocol="mssql+pymssql"))
    assert msg["code"] == "DRIVER_NOT_AVAILABLE"
    assert "pymssql" in msg["body"]
    assert CONNECTOR.protocol_values() == ["mssql+pyodbc"]


def test_unknown_protocol(client: httpx.Client, server: FakeTDS7) -> None:
    msg = run_test(client, body(server.port, protocol="mssql+aioodbc"))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == ["protocol"]


# --- the arguments the drivers get ------------------------------------------------------------


def _endpoint(odbc: OdbcDriver | None, mode: str = "optional") -> RelayedAddress:
    relay = TDSRelay(LOOPBACK, 9, Deadline(1))
    relay.close()
    return RelayedAddress("db.example.test", "192.0.2.10", 1433, relay=relay, section="wizard_0123456789abcdef",
                           odbc=odbc, tls_mode=mode)


def _params(**overrides: Any) -> Any:
    return mssql.CreateMsSQLConnector.model_validate({**body(1433), **overrides})


def _ctx() -> Context:
    deadline = Deadline(3)
    return Context(make_settings(), TargetPolicy(), deadline, Diagnosis(CONNECTOR.stage_names, deadline))


def test_built_arguments_carry_the_password_verbatim() -> None:
    ctx = _ctx()
    freetds = OdbcDriver("/usr/lib/x86_64-linux-gnu/odbc/libtdsodbc.so", True, (1, 3))
    _, cargs, kwargs = CONNECTOR.driver_call(_params(), _endpoint(freetds), ctx)
    (connection_string,) = cargs
    assert f";PWD={NASTY_PASSWORD};" in connection_string  # no ';' inside: passed as it is
    assert "Servername=wizard_0123456789abcdef;" in connection_string and "UID=wizard;" in connection_string
    assert kwargs["autocommit"] is True and 1 <= kwargs["timeout"] <= 6

    pymssql_endpoint = _endpoint(None)
    _, cargs, kwargs = CONNECTOR.driver_call(_params(protocol="mssql+pymssql"), pymssql_endpoint, ctx)
    assert cargs == () and kwargs["password"] == NASTY_PASSWORD and kwargs["user"] == "wizard"
    assert kwargs["host"] == f"wizard_0123456789abcdef:{pymssql_endpoint.relay.port}"  # type: ignore[union-attr]
    assert kwargs["login_timeout"] <= 6 and kwargs["tds_version"] == "7.4"


@pytest.mark.parametrize(("value", "freetds13", "spec"), [
    ("plain", "plain", "plain"),
    ("p@ss:w/rd#%?&= 'x\"", "p@ss:w/rd#%?&= 'x\"", "p@ss:w/rd#%?&= 'x\""),
    ("a}b", "a}b", "a}b"),  # no braces needed: '}' is taken as it is
    ("a;b", "{a;b}", "{a;b}"),
    ("{x", "{{x}", "{{x}"),
    ("semi;and}brace", "{semi;and}brace}", "{semi;and}}brace}"),  # FreeTDS 1.3 does not undouble '}}'
])
def test_odbc_value_quoting(value: str, freetds13: str, spec: str) -> None:
    assert odbc_value(value, OdbcDriver("x", True, (1, 3)), "password") == freetds13
    assert odbc_value(value, OdbcDriver("ODBC Driver 18 for SQL Server", False), "password") == spec


def test_odbc_value_refuses_what_freetds_13_cannot_carry() -> None:
    with pytest.raises(Failure) as caught:
        odbc_value("a};b", OdbcDriver("x", True, (1, 3)), "password")
    assert caught.value.code.value == "INVALID_PARAMETERS" and list(caught.value.fields) == ["password"]
    assert odbc_value("a};b", OdbcDriver("x", True, (1, 5)), "password") == "{a}};b}"


def test_microsoft_driver_gets_its_encryption_keywords() -> None:
    microsoft = OdbcDriver("ODBC Driver 18 for SQL Server", False)
    string = CONNECTOR.odbc_string(_params(), _endpoint(microsoft, "verify-ca"))
    assert string.startswith("DRIVER={ODBC Driver 18 for SQL Server};Server=tcp:127.0.0.1,")
    assert "Encrypt=yes;TrustServerCertificate=no;HostNameInCertificate=db.example.test;" in string
    string = CONNECTOR.odbc_string(_params(), _endpoint(microsoft, "require"))
    assert "Encrypt=yes;TrustServerCertificate=yes;" in string


# --- classify(), from real driver errors ------------------------------------------------------


def _pyodbc_error(port: int, **attrs: str) -> Exception:
    assert FREETDS is not None
    settings = {"Server": LOOPBACK, "Port": str(port), "UID": "wizard", "PWD": "pw", "Database": "appdb",
                "TDS_Version": "7.4", **attrs}
    string = f"DRIVER={{{FREETDS.name}}};" + ";".join(f"{k}={v}" for k, v in settings.items())
    with pytest.raises(pyodbc.Error) as caught:
        pyodbc.connect(string, timeout=1, autocommit=True)
    return caught.value


def _pymssql_error(port: int, user: str = "wizard", password: str = "pw", database: str = "appdb") -> Exception:
    with pytest.raises(pymssql.Error) as caught:
        pymssql.connect(server=LOOPBACK, port=str(port), user=user, password=password, database=database,
                        login_timeout=1, tds_version="7.4")
    return caught.value


def _login_verdict(exc: Exception) -> Failure:
    return CONNECTOR.classify_error(parse_driver_error(exc))


def test_classify_login_failed(server: FakeTDS7) -> None:
    for exc in (_pyodbc_error(server.port, PWD="wrong"), _pymssql_error(server.port, password="wrong")):
        verdict = _login_verdict(exc)
        assert verdict.code.value == "AUTHENTICATION_FAILED", exc
        assert verdict.stage == "authentication" and "password" in verdict.fields
        assert "18456" not in verdict.fields["password"][0]


def test_classify_connection_refused(closed_port: int) -> None:
    verdict = _login_verdict(_pymssql_error(closed_port))  # db-lib 20009 with the OS error 111
    assert (verdict.code.value, verdict.stage, list(verdict.fields)) == ("PORT_CLOSED", "tcp", ["port"])
    verdict = _login_verdict(_pyodbc_error(closed_port))  # FreeTDS ODBC: 08S01 / 20009
    assert verdict.code.value == "PORT_CLOSED"


def test_classify_login_timeout(silent_port: int) -> None:
    exc = _pyodbc_error(silent_port)  # FreeTDS ODBC's own login timeout (1 s): HYT00
    assert exc.args[0] == "HYT00"
    assert _login_verdict(exc).code.value == "CONNECTION_TIMEOUT"


def test_classify_hang_up_and_garbage(closing: ClosingListener, http_garbage: HTTPGarbageListener) -> None:
    closed, garbage = closing.port, http_garbage.port
    for exc in (_pymssql_error(closed), _pymssql_error(garbage), _pyodbc_error(closed), _pyodbc_error(garbage)):
        verdict = _login_verdict(exc)
        assert verdict.code.value == "TLS_HANDSHAKE_FAILED", exc
        assert list(verdict.fields) == ["port"]


@pytest.mark.parametrize(("string", "sqlstate"), [
    ("DSN=no_such_dsn", "IM002"),  # unixODBC: data source name not found
    ("DRIVER={/nonexistent/libtdsodbc.so};Server=127.0.0.1", "01000"),  # unixODBC: can't open lib
])
def test_classify_missing_odbc_driver(string: str, sqlstate: str) -> None:
    with pytest.raises(pyodbc.Error) as caught:
        pyodbc.connect(string, timeout=1)
    assert caught.value.args[0] == sqlstate
    verdict = _login_verdict(caught.value)
    assert (verdict.code.value, list(verdict.fields)) == ("DRIVER_NOT_AVAILABLE", ["protocol"])


def test_classify_query_errors(server: FakeTDS7) -> None:
    assert FREETDS is not None
    conn = pyodbc.connect(f"DRIVER={{{FREETDS.name}}};Server={LOOPBACK};Port={server.port};UID=wizard;"
                          f"PWD={NASTY_PASSWORD};Database=appdb;TDS_Version=7.4", timeout=2, autocommit=True)
    try:
        with pytest.raises(pyodbc.Error) as caught:
            conn.cursor().execute("SELECT * FROM forbidden")
    finally:
        conn.close()
    verdict = CONNECTOR.classify(caught.value, _params(), _endpoint(FREETDS))
    assert (verdict.code.value, verdict.stage) == ("PERMISSION_DENIED", "query")


# --- metadata ---------------------------------------------------------------------------------


def test_supported_types(client: httpx.Client) -> None:
    props = client.get(TYPES).json()["write_connectors"]["MsSQLConnector"]
    assert list(props)[:10] == ["hooks_params", "is_source", "host", "database", "username", "password",
                                "schema_name", "port", "protocol", "include_views"]
    assert props["port"] == {"type": ["integer", "null"], "default": 1433, "values": None}
    assert props["password"]["type"] == "password"
    assert props["include_views"] == {"type": ["boolean", "null"], "default": False, "values": None}
    assert props["protocol"]["default"] == "mssql+pyodbc"
    assert props["protocol"]["values"] == ["mssql+pyodbc", "mssql+pymssql"]
    assert props["hooks_params"]["values"] == ["SSHTunnel", "SSL"]
    assert props["hooks_params.SSL.ssl_mode"]["values"] == ["disable", "optional", "require", "verify-ca"]
