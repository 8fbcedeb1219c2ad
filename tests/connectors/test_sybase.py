"""Sybase ASE: the real driver (pyodbc over FreeTDS, TDS 5.0) against loopback stand-ins.

No ASE can run here. ``FakeTDS5`` answers the TDS 5.0 login with ASE's own error numbers (4002
login failed, 911 no such database, 10351 not a user of the database) and the test queries
(including FreeTDS's dynamic SQL for the parameterised schema check).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pyodbc
import pytest

from backend.connectors._tds import odbc
from backend.connectors._tds.connector import RelayedAddress
from backend.connectors._tds.errors import parse_driver_error
from backend.connectors._tds.odbc import find_odbc_driver
from backend.connectors.sybase import CONNECTOR
from backend.core import RunContext as Context
from backend.diagnosis.stages import Deadline, Diagnosis
from backend.security.policy import TargetPolicy
from tests.conftest import NASTY_PASSWORD, expect_timeout, failed_detail, make_settings, run_test, stage
from tests.helpers import busy_driver_threads, new_driver_threads, wait_until, wall_bound
from tests.servers.common import LOOPBACK
from tests.servers.fake_tds import Account, FakeTDS5
from tests.servers.stubs import ClosingListener, HTTPGarbageListener

TYPES = "/api/v1/database_connections/supported_types/"
FUNCS = "/api/v1/database_connections/functionalities/"
FREETDS = find_odbc_driver(microsoft=False)


@pytest.fixture(scope="module")
def server() -> Iterator[FakeTDS5]:
    fake = FakeTDS5({"wizard": Account(NASTY_PASSWORD, {"appdb"}), "outsider": Account("outsider-pw", set())})
    yield fake
    fake.close()


def body(port: int, **overrides: Any) -> dict[str, Any]:
    return {
        "connector_type": "SybaseConnector",
        "host": LOOPBACK,
        "port": port,
        "database": "appdb",
        "username": "wizard",
        "password": NASTY_PASSWORD,
        **overrides,
    }


def test_success_reports_what_was_verified(client: httpx.Client, server: FakeTDS5) -> None:
    payload = body(server.port, schema_name="sales")
    assert "protocol" not in payload
    msg = run_test(client, payload)
    assert msg["code"] == "CONNECTION_SUCCESSFUL", msg
    facts = msg["payload"]["server"]
    assert (facts["product"], facts["version"]) == ("Adaptive Server Enterprise", "16.0 SP04 PL02")
    assert (facts["user"], facts["database"], facts["schema"]) == ("wizard", "appdb", "sales")
    assert msg["payload"]["tls"] == {"enabled": False}
    assert stage(msg, "tls")["status"] == "warning"
    assert stage(msg, "query")["status"] == "passed"
    # the password as it arrived in the TDS 5.0 login record
    assert server.logins[-1]["password"] == NASTY_PASSWORD and server.logins[-1]["username"] == "wizard"
    assert NASTY_PASSWORD not in json.dumps(msg)


def test_wrong_password(client: httpx.Client, server: FakeTDS5) -> None:
    msg = run_test(client, body(server.port, password="wrong"))
    assert msg["code"] == "AUTHENTICATION_FAILED"
    assert {"password", "username"} <= set(msg["details"])
    assert stage(msg, "authentication")["status"] == "failed"


def test_unknown_database(client: httpx.Client, server: FakeTDS5) -> None:
    msg = run_test(client, body(server.port, database="no_such_db"))
    assert msg["code"] == "DATABASE_NOT_FOUND"
    assert list(msg["details"]) == ["database"]
    assert stage(msg, "authentication")["status"] == "passed"
    assert stage(msg, "database")["status"] == "failed"


def test_database_of_which_the_login_is_no_user(client: httpx.Client, server: FakeTDS5) -> None:
    msg = run_test(client, body(server.port, username="outsider", password="outsider-pw"))
    assert msg["code"] == "PERMISSION_DENIED"
    assert list(msg["details"]) == ["database"]


def test_unknown_schema(client: httpx.Client, server: FakeTDS5) -> None:
    msg = run_test(client, body(server.port, schema_name="nobody"))
    assert msg["code"] == "SCHEMA_NOT_FOUND"
    assert list(msg["details"]) == ["schema_name"]
    assert stage(msg, "query")["status"] == "failed"


def test_silent_host_times_out_and_the_driver_gives_up(client: httpx.Client, silent_port: int) -> None:
    # FreeTDS 1.3 never returns after its own TDS 5.0 login timeout on a silent server (it
    # deadlocks in tds_disconnect); the relay ends the wait at the deadline instead.
    before = busy_driver_threads()
    expect_timeout(client, body(silent_port))
    wait_until(lambda: not new_driver_threads(before), timeout=wall_bound(1.5), what="the driver's threads' end")


def test_server_that_hangs_up_at_once(client: httpx.Client, closing: ClosingListener) -> None:
    msg = run_test(client, body(closing.port))
    assert msg["code"] == "CONNECTION_RESET"  # the driver's TLS_HANDSHAKE_FAILED, seen again from the socket
    assert msg["title"] == "The port hung up at once"
    assert "Sybase SSL port" in failed_detail(msg)
    assert list(msg["details"]) == ["port"]


def test_port_that_answers_http(client: httpx.Client, http_garbage: HTTPGarbageListener) -> None:
    msg = run_test(client, body(http_garbage.port))
    assert msg["code"] == "UNEXPECTED_ERROR"
    assert msg["title"] == "This port does not answer like Sybase ASE"


@pytest.mark.parametrize(("hook", "hook_settings"), [
    ("SSL", {"ssl_mode": "require"}),
    ("Kerberos", {"principal": "a@B", "keytab_file": "k"}),
])
def test_hooks_the_driver_cannot_do_are_refused_with_a_reason(client: httpx.Client, server: FakeTDS5, hook: str,
                                                               hook_settings: dict[str, str]) -> None:
    msg = run_test(client, body(server.port, hooks_params={hook: hook_settings}))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == [f"hooks_params.{hook}"]
    assert "FreeTDS" in msg["details"][f"hooks_params.{hook}"][0]


def test_no_odbc_driver_means_driver_not_available(client: httpx.Client, server: FakeTDS5,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # what a machine without Debian's tdsodbc looks like to the wizard
    monkeypatch.setattr(odbc, "FREETDS_LIBRARIES", ())
    monkeypatch.setattr(odbc, "registered_odbc_drivers", list)
    msg = run_test(client, body(server.port))
    assert msg["code"] == "DRIVER_NOT_AVAILABLE"
    assert "tdsodbc" in msg["details"]["protocol"][0]
    assert CONNECTOR.protocol_values() == ["sybase+pyodbc"]  # the spec's default stays listed


def test_built_connection_string() -> None:
    assert FREETDS is not None and FREETDS.freetds, "FreeTDS's ODBC driver (tdsodbc) is part of the setup"
    params = CONNECTOR.model.model_validate(body(5000, password="semi;colon"))
    endpoint = RelayedAddress("ase.example.test", "192.0.2.1", 5000, section="wizard_00", odbc=FREETDS)
    string = CONNECTOR.odbc_string(params, endpoint)
    assert string.startswith(f"DRIVER={{{FREETDS.name}}};Servername=wizard_00;UID=wizard;PWD={{semi;colon}};")
    assert "Database=appdb;" in string


def test_freetds_section_speaks_tds_50_without_encryption() -> None:
    deadline = Deadline(3)
    ctx = Context(make_settings(), TargetPolicy(), deadline, Diagnosis(CONNECTOR.stage_names, deadline))
    settings = CONNECTOR.freetds_settings(4242, "disable", ctx)
    assert settings["tds version"] == "5.0" and settings["port"] == "4242" and settings["host"] == "127.0.0.1"
    assert settings["encryption"] == "off"  # 'request' would ask ASE for password encryption it may not offer
    assert 3 <= int(settings["timeout"]) <= 5


def _pyodbc_error(port: int, **attrs: str) -> Exception:
    assert FREETDS is not None
    settings = {"Server": LOOPBACK, "Port": str(port), "UID": "wizard", "PWD": NASTY_PASSWORD, "Database": "appdb",
                "TDS_Version": "5.0", **attrs}
    string = f"DRIVER={{{FREETDS.name}}};" + ";".join(f"{k}={v}" for k, v in settings.items())
    with pytest.raises(pyodbc.Error) as caught:
        pyodbc.connect(string, timeout=2, autocommit=True)
    return caught.value


@pytest.mark.parametrize(("attrs", "code", "field"), [
    ({"PWD": "wrong"}, "AUTHENTICATION_FAILED", "password"),  # ASE 4002
    ({"Database": "no_such_db"}, "DATABASE_NOT_FOUND", "database"),  # ASE 911
    ({"UID": "outsider", "PWD": "outsider-pw"}, "PERMISSION_DENIED", "database"),  # ASE 10351
])
def test_classify_real_driver_errors(server: FakeTDS5, attrs: dict[str, str], code: str, field: str) -> None:
    verdict = CONNECTOR.classify_error(parse_driver_error(_pyodbc_error(server.port, **attrs)))
    assert verdict.code.value == code
    assert field in verdict.fields


def test_classify_hang_up(closing: ClosingListener, closed_port: int) -> None:
    verdict = CONNECTOR.classify_error(parse_driver_error(_pyodbc_error(closing.port)))
    assert verdict.code.value == "TLS_HANDSHAKE_FAILED"
    verdict = CONNECTOR.classify_error(parse_driver_error(_pyodbc_error(closed_port)))
    assert verdict.code.value == "PORT_CLOSED"


def test_supported_types(client: httpx.Client) -> None:
    props = client.get(TYPES).json()["write_connectors"]["SybaseConnector"]
    assert list(props) == ["hooks_params", "is_source", "host", "database", "username", "password", "schema_name",
                           "port", "protocol"]  # no include_views in the spec's CreateSybaseConnector
    assert props["port"] == {"type": ["integer", "null"], "default": 5000, "values": None}
    assert props["protocol"] == {"type": ["string", "null"], "default": "sybase+pyodbc", "values": ["sybase+pyodbc"]}
    assert props["password"]["type"] == "password"
    assert props["hooks_params"]["values"] == ["SSHTunnel"]
