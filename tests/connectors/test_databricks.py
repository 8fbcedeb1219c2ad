"""Databricks with the real databricks-sql-connector (Thrift over HTTPS) against loopback servers.

No workspace can run here: the driver meets a closed port, a silent listener, listeners that close
or answer garbage, a TLS listener, and a small HTTPS server (the suite's PKI) that answers the
Thrift POST with one HTTP status, as a workspace does for a bad token (401/403), an unknown
warehouse (404) or a warehouse that is starting (503).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from databricks.sql import exc as dbx_exc

from backend.connectors.databricks import CONNECTOR, CreateDatabricksConnector
from backend.core import ReachedAddress
from backend.diagnosis.messages import Code
from tests.conftest import run_test, stage, timed_verdict
from tests.servers.stubs import ClosingListener, HTTPSStub, TLSListener

HOST = "127.0.0.1"
TOKEN = "dapi0123abcd+/=@:#%?&; 'x\""  # every URL and header delimiter


def body(port: int, **overrides: Any) -> dict[str, Any]:
    return {
        "connector_type": "DatabricksConnector",
        "host": HOST,
        "port": port,
        "catalog": "main",
        "database": "default",
        "token": TOKEN,
        "warehouse_id": "1234567890abcdef",
        **overrides,
    }


@pytest.fixture
def workspace(pki: Any, request: pytest.FixtureRequest) -> Iterator[HTTPSStub]:
    """An HTTPS server answering every request with the status given by ``@pytest.mark.parametrize``."""
    stub = HTTPSStub(request.param, (pki.server.cert, pki.server.key))
    yield stub
    stub.close()


def with_ca(pki: Any) -> dict[str, Any]:
    return {"hooks_params": {"SSL": {"ca": pki.ca.cert_pem}}}


# --- parameters -------------------------------------------------------------------------------


@pytest.mark.parametrize("paths", [{}, {"cluster_path": "sql/protocolv1/o/1/0123-456789-abc"}])
def test_exactly_one_of_warehouse_id_and_cluster_path(client: httpx.Client, closing: ClosingListener,
                                                      paths: dict[str, str]) -> None:
    payload = body(closing.port, **paths)
    if not paths:
        payload.pop("warehouse_id")
    msg = run_test(client, payload)
    assert msg["code"] == "INVALID_PARAMETERS"
    assert set(msg["details"]) == {"warehouse_id", "cluster_path"}
    assert stage(msg, "dns")["status"] == "skipped"


def test_a_warehouse_path_in_warehouse_id_is_refused_with_advice(client: httpx.Client, closing: ClosingListener) -> None:
    msg = run_test(client, body(closing.port, warehouse_id="/sql/1.0/warehouses/abc"))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == ["warehouse_id"]


def test_a_url_as_host_is_refused(client: httpx.Client, closing: ClosingListener) -> None:
    msg = run_test(client, body(closing.port, host="https://adb-1234567890123456.7.azuredatabricks.net/"))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == ["host"]


@pytest.mark.parametrize(("hook", "value"), [
    ("SSHTunnel", {"host": HOST, "username": "u", "password": "p"}),
    ("Kerberos", {"principal": "a@B", "keytab_file": "k"}),
])
def test_ssh_tunnels_and_kerberos_are_refused_with_a_reason(client: httpx.Client, closing: ClosingListener,
                                                            hook: str, value: dict[str, str]) -> None:
    msg = run_test(client, body(closing.port, hooks_params={hook: value}))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == [f"hooks_params.{hook}"]


def test_a_token_with_a_line_break_is_refused_without_echoing_it(client: httpx.Client, closing: ClosingListener) -> None:
    msg = run_test(client, body(closing.port, token="dapi123\r\nX-Injected: 1"))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == ["token"]
    assert "dapi123" not in json.dumps(msg)


def test_only_verified_tls_is_offered(client: httpx.Client, closing: ClosingListener) -> None:
    msg = run_test(client, body(closing.port, hooks_params={"SSL": {"ssl_mode": "disable"}}))
    assert msg["code"] == "INVALID_PARAMETERS"
    assert list(msg["details"]) == ["hooks_params.SSL.ssl_mode"]


# --- the network ------------------------------------------------------------------------------


@pytest.mark.parametrize("listener", ["closing", "garbage"])
def test_a_port_without_https_is_tls_not_supported(client: httpx.Client, listener: str,
                                                   request: pytest.FixtureRequest) -> None:
    port = request.getfixturevalue(listener).port
    # within 2 s: one attempt, no back-off of seconds
    msg = timed_verdict(client, body(port), "CONNECTION_RESET" if listener == "closing" else "TLS_NOT_SUPPORTED", within=2)
    assert list(msg["details"]) == ["port"]


def test_an_untrusted_certificate_is_refused(client: httpx.Client, pki: Any) -> None:
    listener = TLSListener(pki.server.cert, pki.server.key)
    try:
        msg = run_test(client, body(listener.port))  # the system's CAs do not know the suite's CA
        assert msg["code"] == "TLS_CERTIFICATE_INVALID"
        assert list(msg["details"]) == ["hooks_params.SSL.ca"]
        msg = run_test(client, body(listener.port, hooks_params={"SSL": {"ca": pki.other_ca.cert_pem}}))
        assert msg["code"] == "TLS_CERTIFICATE_INVALID"
        before = listener.handshakes
        msg = run_test(client, body(listener.port, **with_ca(pki)))
        assert listener.handshakes > before  # trusted with the CA given; then the listener hangs up
        assert msg["title"] == "No Databricks SQL endpoint answered"
    finally:
        listener.close()


# --- what the workspace answers ---------------------------------------------------------------


@pytest.mark.parametrize("workspace", [401, 403], indirect=True)
def test_a_refused_token_is_authentication_failed(client: httpx.Client, workspace: HTTPSStub, pki: Any) -> None:
    msg = run_test(client, body(workspace.port, **with_ca(pki)))
    assert msg["code"] == "AUTHENTICATION_FAILED"
    assert list(msg["details"]) == ["token"]
    assert stage(msg, "tls")["status"] == "passed"
    # The token reached the workspace intact, as a bearer token, and appears nowhere in the verdict.
    assert workspace.authorizations == [f"Bearer {TOKEN}"]
    assert workspace.requests == [("POST", "/sql/1.0/warehouses/1234567890abcdef")]
    assert TOKEN not in json.dumps(msg) and "dapi0123abcd" not in json.dumps(msg)


@pytest.mark.parametrize("workspace", [404], indirect=True)
def test_an_unknown_http_path_names_the_field_it_came_from(client: httpx.Client, workspace: HTTPSStub, pki: Any) -> None:
    msg = run_test(client, body(workspace.port, warehouse_id=None, cluster_path="sql/protocolv1/o/42/0123-abc",
                                **with_ca(pki)))
    assert msg["code"] == "PATH_NOT_FOUND"
    assert list(msg["details"]) == ["cluster_path"]
    assert workspace.requests == [("POST", "/sql/protocolv1/o/42/0123-abc")]


@pytest.mark.deadline
@pytest.mark.parametrize("workspace", [503], indirect=True)
def test_a_starting_warehouse_is_reported_at_once(client: httpx.Client, workspace: HTTPSStub, pki: Any) -> None:
    # within 2 s: the driver's default would retry for up to 900 s
    msg = timed_verdict(client, body(workspace.port, **with_ca(pki)), "CONNECTION_TIMEOUT", within=2)
    assert msg["title"] == "The warehouse or cluster is not ready"


# --- classify() of server errors -----------------------------------------------------------------


def _classify(error: BaseException) -> tuple[Code, list[str]]:
    params = CreateDatabricksConnector.model_validate(body(443))
    failure = CONNECTOR.classify(error, params, ReachedAddress(HOST, HOST, 443))
    return failure.code, list(failure.fields)


def test_classify_error_classes_of_the_server() -> None:
    # Databricks error messages: "[ERROR_CLASS] text SQLSTATE: xxxxx" (docs.databricks.com/en/error-messages/).
    catalog = dbx_exc.DatabaseError("[NO_SUCH_CATALOG_EXCEPTION] Catalog 'nope' was not found. Please verify the "
                                    "catalog name and then retry the query or command again. SQLSTATE: 42704")
    assert _classify(catalog) == (Code.DATABASE_NOT_FOUND, ["catalog"])
    schema = dbx_exc.ServerOperationError("[SCHEMA_NOT_FOUND] The schema `main`.`nope` cannot be found. Verify the "
                                          "spelling and correctness of the schema and catalog. SQLSTATE: 42704")
    assert _classify(schema) == (Code.SCHEMA_NOT_FOUND, ["database"])
    denied = dbx_exc.ServerOperationError("[INSUFFICIENT_PERMISSIONS] Insufficient privileges: User does not have "
                                          "USE CATALOG on Catalog 'main'. SQLSTATE: 42501")
    assert _classify(denied)[0] == Code.PERMISSION_DENIED
    assert _classify(dbx_exc.DatabaseError("something else")) == (Code.UNEXPECTED_ERROR, [])


# --- metadata -----------------------------------------------------------------------------------


def test_supported_types_show_databricks(client: httpx.Client) -> None:
    props = client.get("/api/v1/database_connections/supported_types/").json()["connectors"]["DatabricksConnector"]
    assert list(props)[:6] == ["hooks_params", "is_source", "host", "catalog", "database", "port"]
    assert props["port"]["default"] == 443
    assert props["token"] == {"type": "password", "default": None, "values": None}
    assert props["protocol"]["values"] == ["databricks"]
    assert props["warehouse_id"]["type"] == ["string", "null"] and props["cluster_path"]["type"] == ["string", "null"]
    assert props["hooks_params"]["values"] == ["SSL"]
