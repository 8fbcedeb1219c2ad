"""supported_types and functionalities: generated from the registry, consistent with the spec."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from backend.connectors import registry
from tests.test_openapi import SPEC

TYPES = "/api/v1/database_connections/supported_types/"
FUNCS = "/api/v1/database_connections/functionalities/"
SECRET_HOOK_FIELDS = {("SSHTunnel", "password"), ("SSHTunnel", "pkey"), ("SSHTunnel", "pkey_password"), ("SSL", "key")}
TEXT_HOOK_FIELDS = {("SSL", "ca"), ("SSL", "cert")}
SECRET_NAMES = {"password", "token", "aws_secret_access_key", "storage_account_key", "storage_connection_string",
                "container_connection_string"}


@pytest.fixture
def types(client: httpx.Client) -> dict[str, Any]:
    response = client.get(TYPES)
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def spec_schema(connector_type: str) -> dict[str, Any]:
    ref = SPEC["components"]["schemas"]["CreateConnectorSchema"]["discriminator"]["mapping"][connector_type]
    schema: dict[str, Any] = SPEC["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def test_sources_and_destinations(types: dict[str, Any]) -> None:
    connectors = registry()
    assert set(types["write_connectors"]) == set(connectors)
    assert set(types["connectors"]) == {name for name, c in connectors.items() if c.source}
    for name in ("S3FSConnector", "ADLSFSConnector"):
        if name in connectors:
            assert name not in types["connectors"], "object stores are destination-only"


@pytest.mark.parametrize("connector_type", sorted(registry()))
def test_properties_follow_the_spec(types: dict[str, Any], connector_type: str) -> None:
    props = types["write_connectors"][connector_type]
    schema = spec_schema(connector_type)
    required = set(schema["required"])
    for field, spec_prop in schema["properties"].items():
        if field == "connector_type":
            assert field not in props
            continue
        prop = props[field]
        optional = isinstance(prop["type"], list) and "null" in prop["type"]
        assert optional == (field not in required), field
        assert prop["default"] == spec_prop.get("default"), field
        kind = prop["type"][0] if isinstance(prop["type"], list) else prop["type"]
        if field in SECRET_NAMES:
            assert kind == "password", field
        elif field == "hooks_params":
            assert kind == "object"
        else:
            spec_types = {s.get("type") for s in spec_prop.get("anyOf", [spec_prop])} - {"null"}
            assert {"string": "string", "integer": "integer", "boolean": "boolean"}[spec_types.pop()] == kind, field
    if "protocol" in props:
        assert props["protocol"]["default"] in props["protocol"]["values"]


def test_hooks(types: dict[str, Any]) -> None:
    assert set(types["hooks"]) == {"SSHTunnel", "SSL", "Kerberos"}
    for hook, fields in types["hooks"].items():
        spec = SPEC["components"]["schemas"][f"Create{hook}HooksSchema"]
        assert set(fields) == set(spec["properties"])
        for field, prop in fields.items():
            if (hook, field) in SECRET_HOOK_FIELDS:
                assert prop["type"] == ["password", "null"], (hook, field)
            elif (hook, field) in TEXT_HOOK_FIELDS:
                assert prop["type"] == ["text", "null"], (hook, field)
            else:
                assert prop["type"][0] in ("string", "integer"), (hook, field)


@pytest.mark.parametrize("connector_type", sorted(registry()))
def test_hooks_listed_per_connector(types: dict[str, Any], connector_type: str) -> None:
    connector = registry()[connector_type]
    props = types["write_connectors"][connector_type]
    assert set(props["hooks_params"]["values"]) == set(connector.hooks)
    if "SSL" in connector.hooks:
        assert props["hooks_params.SSL.ssl_mode"]["values"] == list(connector.ssl_modes)


@pytest.mark.parametrize("connector_type", sorted(registry()))
def test_functionalities(client: httpx.Client, connector_type: str) -> None:
    response = client.get(FUNCS, params={"connector_type": connector_type})
    assert response.status_code == 200
    items = response.json()["functionalities"]
    assert {f["name"] for f in items} == {"HIGH_PERFORMANCE_WRITING", "IDEMPOTENT_WRITING"}
    kinds = {f["name"]: f["kind"] for f in items}
    assert kinds == {"HIGH_PERFORMANCE_WRITING": "ADDITIVE", "IDEMPOTENT_WRITING": "PREVENTIVE"}
    for functionality in items:
        assert functionality["applicability"] in ("FULL", "PARTIAL")
        assert len(functionality["description"]) > 40, "a plain-words description"
        names = {c["name"] for c in functionality["capabilities"]}
        for capability in functionality["capabilities"]:
            for dependency in capability["depends_on"]:
                assert dependency in names, f"{capability['name']} depends on {dependency}, which is not listed"


@pytest.mark.parametrize("query", [{}, {"connector_type": ""}, {"connector_type": "FooConnector"}])
def test_functionalities_need_a_known_connector_type(client: httpx.Client, query: dict[str, str]) -> None:
    response = client.get(FUNCS, params=query)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "INVALID_PARAMETERS"
    assert list(body["details"]) == ["connector_type"]
    for name in registry():
        assert name in body["body"]
