"""The app's OpenAPI document against the spec (docs/spec), field for field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

SPEC: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "docs/spec/database_connections.openapi.json").read_text()
)


@pytest.fixture
def document(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/api/schema/")
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


@pytest.mark.parametrize("name", sorted(SPEC["components"]["schemas"]))
def test_every_spec_schema_is_served_identically(document: dict[str, Any], name: str) -> None:
    assert document["components"]["schemas"].get(name) == SPEC["components"]["schemas"][name]


def test_security_schemes_and_requirement(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"] == SPEC["components"]["securitySchemes"]
    assert document["security"] == SPEC["security"]


@pytest.mark.parametrize(
    ("path", "method"), [(p, m) for p, item in SPEC["paths"].items() for m in item]
)
def test_every_spec_operation(document: dict[str, Any], path: str, method: str) -> None:
    mine = document["paths"][path][method]
    theirs = SPEC["paths"][path][method]
    assert mine["operationId"] == theirs["operationId"]
    assert mine["tags"] == theirs["tags"]
    assert [(p["name"], p["in"], p["schema"], p.get("description")) for p in mine.get("parameters", [])] == [
        (p["name"], p["in"], p["schema"], p.get("description")) for p in theirs.get("parameters", [])
    ]
    for status, response in theirs["responses"].items():
        assert status in mine["responses"]
        if "content" in response:
            assert mine["responses"][status]["content"] == response["content"]
    if "requestBody" in theirs:
        assert mine["requestBody"]["content"] == theirs["requestBody"]["content"]


def test_errors_are_documented_as_application_messages(document: dict[str, Any]) -> None:
    ref = {"$ref": "#/components/schemas/ApplicationMessage"}
    test_op = document["paths"]["/api/v1/database_connections/test/"]["post"]
    assert test_op["responses"]["422"]["content"]["application/json"]["schema"] == ref
    assert test_op["responses"]["503"]["content"]["application/json"]["schema"] == ref
    assert "HTTPValidationError" not in document["components"]["schemas"]


def test_playground_serves_swagger_ui(client: httpx.Client) -> None:
    response = client.get("/api/playground/")
    assert response.status_code == 200
    assert "swagger-ui" in response.text and "/api/schema/" in response.text
