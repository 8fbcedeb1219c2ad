"""The contract every connector keeps, checked for each one in the registry with its own example body.

A new connector gets these tests from its own example body (``Connector.example``: the host and
port aimed at the suite's listeners, every secret field replaced by a canary), or from an entry in
``SPECIAL`` when its endpoint is not in host and port fields: a closed port, a silent host, an unresolvable host, the hooks it refuses, its
``ssl_mode`` words, its metadata, and no secret of the request in any answer or log line.
The per-connector test files keep what is particular to each connector.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from backend.connectors import registry
from backend.diagnosis.messages import ACCEPTED_THEN_SILENT, CATALOG, Code
from backend.spec.fields import is_secret
from tests.conftest import DEADLINE_S, expect_port_closed, expect_timeout, run_test, stage
from tests.servers.common import LOOPBACK
from tests.servers.stubs import ClosingListener

TYPES = "/api/v1/database_connections/supported_types/"
FUNCS = "/api/v1/database_connections/functionalities/"
LIBPQ_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
CANARY = "canary-7f3e"
"""Part of every secret in the example bodies: it must never come back, nor reach a log line."""
PASSWORD = f"{CANARY}-p@ss:w/rd#%?&= 'x\""
ACCOUNT_KEY = "Y2FuYXJ5LTdmM2Uta2V5LWNhbmFyeS03ZjNlLWtleS1jYW5hcnktN2YzZS1rZXktMDA="  # base64 of a canary
AWS_SECRET = f"{CANARY}/wJalrXUtnFEMI+K7MDENGbPxRfiCY"  # an AWS secret key is printable ASCII without spaces
UNRESOLVABLE = "db.contract.invalid"


@dataclass(frozen=True)
class Example:
    """One connector's example body, aimed at ``host:port``, and what it needs around it."""

    body: Callable[[str, int], dict[str, Any]]
    secrets: tuple[str, ...]
    env: Callable[[str, int], dict[str, str]] = field(default=lambda host, port: {})
    """Environment the wizard reads (S3's endpoint comes from AWS_ENDPOINT_URL_S3, not from the body)."""
    host_field: str | None = "host"
    """The field a wrong host is blamed on (None: the endpoint is the wizard's setting, no field)."""
    port_field: str | None = "port"


def from_connector(connector_type: str, **extra: Any) -> Example:
    """The connector's own example body, aimed at ``host:port``, its secret fields holding the canary."""
    connector = registry()[connector_type]
    secret_fields = [name for name, info in connector.model.model_fields.items() if is_secret(info)]

    def body(host: str, port: int) -> dict[str, Any]:
        aimed = {**connector.example, "host": host, "port": port, **extra}
        return {**aimed, **{name: PASSWORD for name in secret_fields if name in aimed}}

    return Example(body, (PASSWORD,))


def s3_body(host: str, port: int) -> dict[str, Any]:
    return {"connector_type": "S3FSConnector", "bucket": "contract-bucket", "region": "eu-west-1",
            "aws_access_key_id": "AKIACONTRACTEXAMPLE", "aws_secret_access_key": AWS_SECRET}


def adls_body(host: str, port: int) -> dict[str, Any]:
    conn = (f"DefaultEndpointsProtocol=http;AccountName=contractacct;AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://{host}:{port}/contractacct;")
    return {"connector_type": "ADLSFSConnector", "storage_container_name": "contract", "storage_connection_string": conn}


DATABRICKS_TOKEN = f"dapi{CANARY}0123+/=@:#%?&; 'x\""

SPECIAL: dict[str, Example] = {
    "MySQLMariaDBConnector": from_connector("MySQLMariaDBConnector", protocol="mysql+pymysql"),
    "DatabricksConnector": Example(
        lambda host, port: {"connector_type": "DatabricksConnector", "host": host, "port": port, "catalog": "main",
                            "database": "default", "token": DATABRICKS_TOKEN, "warehouse_id": "1234567890abcdef"},
        (DATABRICKS_TOKEN,),
    ),
    "ADLSFSConnector": Example(adls_body, (ACCOUNT_KEY,), host_field="storage_connection_string",
                               port_field="storage_connection_string"),
    "S3FSConnector": Example(s3_body, (AWS_SECRET,), env=lambda host, port: {"AWS_ENDPOINT_URL_S3": f"http://{host}:{port}"},
                             host_field=None, port_field=None),
}
"""Connectors whose example cannot simply be aimed through ``host`` and ``port``."""
EXAMPLES: dict[str, Example] = {name: SPECIAL.get(name) or from_connector(name) for name in registry()}
HOOK_BODIES: dict[str, dict[str, Any]] = {
    "SSHTunnel": {"host": "bastion.contract.invalid", "username": "jump", "password": PASSWORD},
    "SSL": {"ssl_mode": "require"},
    "Kerberos": {"principal": "etl@CONTRACT.INVALID", "keytab_file": "etl.keytab"},
}
CONNECTORS = sorted(registry())


def aimed(connector_type: str, host: str, port: int, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> dict[str, Any]:
    """The example body of ``connector_type`` aimed at ``host:port`` (its environment set for this test)."""
    example = EXAMPLES[connector_type]
    for name, value in example.env(host, port).items():
        monkeypatch.setenv(name, value)
    return {**example.body(host, port), **extra}


def assert_no_secret(msg: dict[str, Any], connector_type: str, caplog: pytest.LogCaptureFixture) -> None:
    text = json.dumps(msg)
    for secret in EXAMPLES[connector_type].secrets:
        assert secret not in text and secret not in caplog.text
    assert CANARY not in text and CANARY not in caplog.text


@pytest.fixture(scope="module")
def types() -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from backend.main import create_app
    from tests.conftest import make_settings

    with TestClient(create_app(make_settings())) as client:
        response = client.get(TYPES)
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def test_every_connector_has_an_example_body() -> None:
    """Each example is accepted by its model; one aimed by host and port has those fields."""
    for name, example in EXAMPLES.items():
        body = example.body(LOOPBACK, 1)
        registry()[name].model.model_validate(body)
        assert name in SPECIAL or (body["host"], body["port"]) == (LOOPBACK, 1)


# --- the network ------------------------------------------------------------------------------


@pytest.mark.parametrize("connector_type", CONNECTORS)
def test_closed_port_fails_at_once_and_masks_secrets(
    client: httpx.Client, closed_port: int, connector_type: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # Once untimed: the 1 s budget is for the network, not for loading a driver the first time
    # (the benchmark measures start-up apart).
    run_test(client, aimed(connector_type, LOOPBACK, closed_port, monkeypatch))
    msg = expect_port_closed(client, aimed(connector_type, LOOPBACK, closed_port, monkeypatch))
    port_field = EXAMPLES[connector_type].port_field
    assert list(msg["details"] or {}) == ([port_field] if port_field else [])
    assert stage(msg, "dns")["status"] == "passed"
    assert stage(msg, "tcp")["status"] == "failed"
    assert_no_secret(msg, connector_type, caplog)


@pytest.mark.parametrize("connector_type", CONNECTORS)
def test_silent_host_ends_within_the_deadline(
    client: httpx.Client, silent_port: int, closing: ClosingListener, connector_type: str,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    # Untimed first, at a listener that hangs up: the driver is loaded then. A first import (a
    # second or more for some drivers on a loaded machine) holds the interpreter while the
    # deadline runs; the benchmark's start-up rows measure it, this test measures the network.
    run_test(client, aimed(connector_type, LOOPBACK, closing.port, monkeypatch))
    msg = expect_timeout(client, aimed(connector_type, LOOPBACK, silent_port, monkeypatch))
    assert stage(msg, "tcp")["status"] == "passed"  # it accepted: the silence came after
    assert_no_secret(msg, connector_type, caplog)
    # The stage the test was waiting on is the one marked; nothing after it passed or was blamed.
    stages = msg["payload"]["stages"]
    names = [s["name"] for s in stages]
    failed = [s["name"] for s in stages if s["status"] == "failed"]
    assert len(failed) == 1, stages
    expected = "tls" if "database" in names or connector_type == "DatabricksConnector" else "authentication"
    assert failed == [expected], stages  # the example storage endpoints are plain HTTP: no TLS to wait on
    at = names.index(failed[0])
    assert all(s["status"] == "skipped" and s["duration_ms"] is None for s in stages[at + 1:]), stages
    # It waited there, not 0 ms: what the earlier stages left of the deadline (their own time grows on a busy machine).
    before = sum(s["duration_ms"] or 0 for s in stages[:at])
    assert stages[at]["duration_ms"] >= 0.9 * (1000 * DEADLINE_S - before), stages
    # The advice matches what was seen: the port accepted, so no firewall dropped the connection.
    assert msg["title"] == ACCEPTED_THEN_SILENT.title and msg["body"] == ACCEPTED_THEN_SILENT.body
    assert "firewall" not in msg["body"]


@pytest.mark.parametrize("connector_type", CONNECTORS)
def test_a_port_that_hangs_up_at_once_is_connection_reset_on_the_port(
    client: httpx.Client, closing: ClosingListener, connector_type: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    msg = run_test(client, aimed(connector_type, LOOPBACK, closing.port, monkeypatch))
    assert msg["code"] == "CONNECTION_RESET", msg
    assert msg["kind"] == "error"
    assert msg["body"] == CATALOG[Code.CONNECTION_RESET].body
    port_field = EXAMPLES[connector_type].port_field
    assert list(msg["details"] or {}) == ([port_field] if port_field else [])
    assert msg["display"] == ("field" if port_field else "notification")
    assert stage(msg, "tcp")["status"] == "passed"
    assert_no_secret(msg, connector_type, caplog)


@pytest.mark.parametrize("connector_type", [name for name in CONNECTORS if "disable" in registry()[name].ssl_words().accepted])
def test_a_silent_port_with_tls_switched_off_blames_the_login_not_the_encryption(
    client: httpx.Client, silent_port: int, connector_type: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    body = aimed(connector_type, LOOPBACK, silent_port, monkeypatch, hooks_params={"SSL": {"ssl_mode": "disable"}})
    msg = expect_timeout(client, body)
    assert [s["name"] for s in msg["payload"]["stages"] if s["status"] == "failed"] == ["authentication"], msg
    assert stage(msg, "tls")["status"] == "warning" and "No encryption was asked for" in stage(msg, "tls")["detail"]
    assert stage(msg, "tls")["duration_ms"] is None, "no time claimed for a step that did not happen"
    assert stage(msg, "database")["status"] == "skipped"


@pytest.mark.parametrize("connector_type", CONNECTORS)
def test_a_port_whose_syns_are_dropped_is_a_firewall_timeout_at_tcp(
    client: httpx.Client, dropping_port: int, connector_type: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    msg = expect_timeout(client, aimed(connector_type, LOOPBACK, dropping_port, monkeypatch))
    assert [s["name"] for s in msg["payload"]["stages"] if s["status"] == "failed"] == ["tcp"], msg
    assert stage(msg, "dns")["status"] == "passed"
    assert msg["title"] == CATALOG[Code.CONNECTION_TIMEOUT].title
    assert msg["title"] != ACCEPTED_THEN_SILENT.title and "firewall" in msg["body"]


@pytest.mark.parametrize("connector_type", CONNECTORS)
def test_unresolvable_host_is_host_not_found(
    client: httpx.Client, connector_type: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    msg = run_test(client, aimed(connector_type, UNRESOLVABLE, 443, monkeypatch))
    assert msg["code"] == "HOST_NOT_FOUND", msg
    host_field = EXAMPLES[connector_type].host_field
    assert list(msg["details"] or {}) == ([host_field] if host_field else [])
    assert stage(msg, "dns")["status"] == "failed"
    assert stage(msg, "tcp")["status"] == "skipped"
    assert_no_secret(msg, connector_type, caplog)


# --- hooks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("connector_type", CONNECTORS)
def test_a_hook_the_metadata_does_not_list_is_refused_with_a_reason(
    client: httpx.Client, types: dict[str, Any], closed_port: int, connector_type: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    listed = set(types["write_connectors"][connector_type]["hooks_params"]["values"])
    for hook, settings in HOOK_BODIES.items():
        body = aimed(connector_type, LOOPBACK, closed_port, monkeypatch, hooks_params={hook: settings})
        msg = run_test(client, body)
        named = [key for key in msg["details"] or {} if key == f"hooks_params.{hook}"]
        if hook in listed:
            assert named == [], (hook, msg)  # may fail later for other reasons, never as "does not apply"
        else:
            assert msg["code"] == "INVALID_PARAMETERS", (hook, msg)
            assert named == [f"hooks_params.{hook}"], (hook, msg)
            assert len(msg["details"][f"hooks_params.{hook}"][0]) > 20, "a reason in plain words"
            assert stage(msg, "dns")["status"] == "skipped"


SSL_CONNECTORS = [name for name in CONNECTORS if "SSL" in registry()[name].hooks]


@pytest.mark.parametrize("connector_type", SSL_CONNECTORS)
@pytest.mark.parametrize("word", LIBPQ_MODES)
def test_every_libpq_ssl_mode_is_accepted_or_refused_naming_the_field(
    client: httpx.Client, types: dict[str, Any], closed_port: int, connector_type: str, word: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    values = types["write_connectors"][connector_type]["hooks_params.SSL.ssl_mode"]["values"]
    body = aimed(connector_type, LOOPBACK, closed_port, monkeypatch, hooks_params={"SSL": {"ssl_mode": word}})
    msg = run_test(client, body)
    details = msg["details"] or {}
    if word in values:
        assert "hooks_params.SSL.ssl_mode" not in details, msg
    else:
        assert msg["code"] == "INVALID_PARAMETERS", msg
        assert list(details) == ["hooks_params.SSL.ssl_mode"], msg
        assert all(value in details["hooks_params.SSL.ssl_mode"][0] for value in values), "it says which it can"


@pytest.mark.parametrize("connector_type", SSL_CONNECTORS)
def test_every_listed_ssl_mode_passes_the_mode_check(
    client: httpx.Client, types: dict[str, Any], closed_port: int, connector_type: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for word in types["write_connectors"][connector_type]["hooks_params.SSL.ssl_mode"]["values"]:
        body = aimed(connector_type, LOOPBACK, closed_port, monkeypatch, hooks_params={"SSL": {"ssl_mode": word}})
        msg = run_test(client, body)
        assert "hooks_params.SSL.ssl_mode" not in (msg["details"] or {}), (word, msg)


def test_the_ssl_hook_lists_the_union_of_the_connectors_words(types: dict[str, Any]) -> None:
    union = types["hooks"]["SSL"]["ssl_mode"]["values"]
    per_connector = {word for name in SSL_CONNECTORS
                     for word in types["write_connectors"][name]["hooks_params.SSL.ssl_mode"]["values"]}
    assert set(union) == per_connector and len(union) == len(set(union))
    assert set(LIBPQ_MODES) <= set(union), "a script can use the libpq words with every connector that can honour them"


# --- metadata ---------------------------------------------------------------------------------


@pytest.mark.parametrize("connector_type", CONNECTORS)
def test_metadata_describes_every_field_of_the_example(
    client: httpx.Client, types: dict[str, Any], connector_type: str,
) -> None:
    props = types["write_connectors"][connector_type]
    example = EXAMPLES[connector_type].body(LOOPBACK, 1)
    for name, value in example.items():
        if name == "connector_type":
            continue
        prop = props[name]
        assert set(prop) == {"type", "default", "values"}, name
        kind = prop["type"][0] if isinstance(prop["type"], list) else prop["type"]
        if value in EXAMPLES[connector_type].secrets or CANARY in str(value):
            assert kind == "password", f"{name} holds a secret and must be typed password"
        if prop["values"] is not None:
            assert value in prop["values"], f"the example's {name} is not among the listed values"
    assert props["hooks_params"]["type"] == ["object", "null"]
    response = client.get(FUNCS, params={"connector_type": connector_type})
    assert response.status_code == 200 and response.json()["functionalities"]
