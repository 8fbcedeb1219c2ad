"""supported_types and functionalities: generated from the registry, consistent with the spec."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from backend.connectors import registry
from backend.spec.fields import is_secret
from tests.helpers import load_spec

TYPES = "/api/v1/database_connections/supported_types/"
FUNCS = "/api/v1/database_connections/functionalities/"
SECRET_HOOK_FIELDS = {("SSHTunnel", "password"), ("SSHTunnel", "pkey"), ("SSHTunnel", "pkey_password"), ("SSL", "key")}
TEXT_HOOK_FIELDS = {("SSL", "ca"), ("SSL", "cert")}

SPEC = load_spec()


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


SPEC_CONNECTORS = set(SPEC["components"]["schemas"]["CreateConnectorSchema"]["discriminator"]["mapping"])
DESTINATION_ONLY = {"S3FSConnector", "ADLSFSConnector"}  # the design: object stores are write connectors only


def test_sources_and_destinations(types: dict[str, Any]) -> None:
    """Every connector of the spec can be written to; all but the object stores can be read from."""
    assert set(types["write_connectors"]) == SPEC_CONNECTORS
    assert set(types["connectors"]) == SPEC_CONNECTORS - DESTINATION_ONLY


@pytest.mark.parametrize("connector_type", sorted(registry()))
def test_properties_follow_the_spec(types: dict[str, Any], connector_type: str) -> None:
    props = types["write_connectors"][connector_type]
    schema = spec_schema(connector_type)
    required = set(schema["required"])
    model_fields = registry()[connector_type].model.model_fields
    for field, spec_prop in schema["properties"].items():
        if field == "connector_type":
            assert field not in props
            continue
        prop = props[field]
        optional = isinstance(prop["type"], list) and "null" in prop["type"]
        assert optional == (field not in required), field
        assert prop["default"] == spec_prop.get("default"), field
        kind = prop["type"][0] if isinstance(prop["type"], list) else prop["type"]
        if is_secret(model_fields[field]):  # tests/test_completeness.py: every secret-looking field is marked
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


ENUMS = {name: SPEC["components"]["schemas"][name]["enum"] for name in (
    "FunctionalityName", "FunctionalityKind", "FunctionalityApplicability", "FunctionalityCapabilityName")}


@pytest.mark.parametrize("connector_type", sorted(SPEC_CONNECTORS))
def test_functionalities_are_a_consistent_dependency_graph(client: httpx.Client, connector_type: str) -> None:
    """Each functionality uses the spec's names, lists what its capabilities depend on, and has no circle."""
    response = client.get(FUNCS, params={"connector_type": connector_type})
    assert response.status_code == 200
    items = response.json()["functionalities"]
    assert sorted(f["name"] for f in items) == sorted(ENUMS["FunctionalityName"])
    for functionality in items:
        assert functionality["kind"] in ENUMS["FunctionalityKind"]
        assert functionality["applicability"] in ENUMS["FunctionalityApplicability"]
        assert len(functionality["description"]) > 40, "a plain-words description"
        assert not re.search(r"\[[a-z][a-z0-9 ,_-]*\]", functionality["description"]), "citation markers stay in the source"
        graph = {c["name"]: c["depends_on"] for c in functionality["capabilities"]}
        assert set(graph) <= set(ENUMS["FunctionalityCapabilityName"])
        for capability, needs in graph.items():
            assert set(needs) <= set(graph), f"{capability} depends on {needs}, not all listed"
        assert not _has_cycle(graph), graph


def _has_cycle(graph: dict[str, list[str]]) -> bool:
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> bool:
        if node in path:
            return True
        if node in done:
            return False
        done.add(node)
        return any(visit(nxt, (*path, node)) for nxt in graph.get(node, ()))

    return any(visit(node, ()) for node in graph)


def test_the_cycle_check_sees_a_cycle() -> None:
    assert _has_cycle({"A": ["B"], "B": ["A"]}) and not _has_cycle({"A": ["B"], "B": []})


@pytest.mark.parametrize("query", [{}, {"connector_type": ""}, {"connector_type": "FooConnector"}])
def test_functionalities_need_a_known_connector_type(client: httpx.Client, query: dict[str, str]) -> None:
    response = client.get(FUNCS, params=query)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "INVALID_PARAMETERS"
    assert list(body["details"]) == ["connector_type"]
    for name in registry():
        assert name in body["body"]
