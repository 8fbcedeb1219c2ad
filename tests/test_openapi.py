"""The app's OpenAPI document: the seed spec field for field (but for the deliberate differences of
docs/design.md "The OpenAPI document"), valid OpenAPI 3.1, and saying what the server does."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate
from packaging.version import Version

SPEC: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "docs/spec/database_connections.openapi.json").read_text()
)
SAVED = "/api/v1/database_connections/"
WRITES = ("post", "put", "patch", "delete")


@pytest.fixture
def document(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/api/schema/")
    assert response.status_code == 200
    data: dict[str, Any] = response.json()
    return data


def test_the_document_validates_as_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    validate(copy.deepcopy(document))
    assert str(Version(document["info"]["version"])) == document["info"]["version"] >= "1.0.0"


@pytest.mark.parametrize("name", sorted(SPEC["components"]["schemas"]))
def test_every_spec_schema_is_served_identically(document: dict[str, Any], name: str) -> None:
    mine = copy.deepcopy(document["components"]["schemas"].get(name))
    theirs = SPEC["components"]["schemas"][name]
    if name == "ApplicationMessage":  # the one deliberate change: the verdict's payload has a schema
        payload = mine["properties"].pop("payload")
        assert {"$ref": "#/components/schemas/VerdictPayload"} in payload["anyOf"]
        assert payload["default"] is None and payload["title"] == "Payload"
        theirs = copy.deepcopy(theirs)
        theirs["properties"].pop("payload")
    assert mine == theirs


def test_the_verdict_payload_declares_its_stages(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    payload = schemas["VerdictPayload"]
    assert set(payload["required"]) >= {"stages", "elapsed_ms"}
    assert payload["properties"]["stages"]["items"] == {"$ref": "#/components/schemas/VerdictStage"}
    stage = schemas["VerdictStage"]
    assert set(stage["required"]) == {"name", "status", "duration_ms", "detail"}
    assert stage["properties"]["status"]["enum"] == ["passed", "failed", "warning", "skipped"]


def test_security_schemes_and_requirement(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["authentication"] == SPEC["components"]["securitySchemes"]["authentication"]
    assert {k: schemes["OIDC"][k] for k in ("type", "scheme", "bearerFormat")} == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT"
    }
    assert {k: schemes["csrf"][k] for k in ("type", "in", "name")} == {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"}
    assert document["security"] == SPEC["security"]


def test_cookie_authenticated_writes_need_the_csrf_scheme(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            security = operation.get("security", document["security"])
            if security == []:
                continue  # public: the login, live/, ready/, metrics
            cookie = next(r for r in security if "authentication" in r)
            assert ("csrf" in cookie) == (method in WRITES), (path, method)
            assert {"OIDC": []} in security, (path, method)
    assert document["paths"]["/api/v1/auth/"]["post"]["security"] == []


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


def test_functionalities_connector_type_is_required(document: dict[str, Any], client: httpx.Client) -> None:
    (parameter,) = document["paths"]["/api/v1/database_connections/functionalities/"]["get"]["parameters"]
    assert parameter["name"] == "connector_type" and parameter["required"] is True
    assert client.get("/api/v1/database_connections/functionalities/").status_code == 422


def test_page_size_says_it_is_capped_without_a_maximum(document: dict[str, Any], client: httpx.Client) -> None:
    parameter = next(p for p in document["paths"][SAVED]["get"]["parameters"] if p["name"] == "page_size")
    assert "maximum" not in parameter["schema"] and "100" in parameter["description"]
    assert client.get(SAVED, params={"page_size": 1000}).status_code == 200


def test_errors_are_documented_as_application_messages(document: dict[str, Any]) -> None:
    ref = {"$ref": "#/components/schemas/ApplicationMessage"}
    test_op = document["paths"]["/api/v1/database_connections/test/"]["post"]
    assert test_op["responses"]["422"]["content"]["application/json"]["schema"] == ref
    assert test_op["responses"]["503"]["content"]["application/json"]["schema"] == ref
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status[0] in "45" and path != "/api/metrics":
                    assert response["content"]["application/json"]["schema"] == ref, (path, method, status)


def test_response_headers_are_declared(document: dict[str, Any]) -> None:
    create = document["paths"][SAVED]["post"]["responses"]["201"]
    assert {"Location", "ETag"} <= set(create["headers"])
    assert "ETag" in document["paths"][SAVED + "{id}/"]["get"]["responses"]["200"]["headers"]
    assert "ETag" not in document["paths"][SAVED]["get"]["responses"]["200"].get("headers", {}), "lists carry none"
    for path, item in document["paths"].items():
        for operation in item.values():
            for status in ("429", "503"):
                if status in operation["responses"]:
                    assert "Retry-After" in operation["responses"][status]["headers"], (path, status)


def test_timestamps_are_date_time_and_names_have_a_max_length(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for name in ("created_at", "updated_at"):
        assert schemas["SavedConnection"]["properties"][name]["format"] == "date-time"
    assert schemas["LastTest"]["properties"]["at"]["format"] == "date-time"
    for body in ("SavedConnectionCreate", "SavedConnectionUpdate"):
        assert schemas[body]["properties"]["name"]["maxLength"] == 100


# --- what the document declares is what the server does -----------------------------------------


def _nullable(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "null" or any(_nullable(o) for o in schema.get("anyOf", []))


def _unreachable() -> dict[str, Any]:
    return {"connector_type": "PostgreSQLConnector", "host": "127.0.0.1", "port": 1, "database": "db",
            "username": "u", "password": "pw"}


def test_saved_connection_bodies_accept_and_refuse_what_they_declare(document: dict[str, Any], client: httpx.Client) -> None:
    """For each field of the create and PATCH bodies: null, missing and one over maxLength are accepted
    exactly when the document says so."""
    schemas = document["components"]["schemas"]
    base = {"name": "declared", "description": "d", "connection": _unreachable()}
    made = client.post(SAVED, json={**base, "name": "for patches"})
    assert made.status_code == 201, made.text
    target = f"{SAVED}{made.json()['id']}/"
    counter = iter(range(10_000))
    for component, send in (
        ("SavedConnectionCreate", lambda body: client.post(SAVED, json=body)),
        ("SavedConnectionUpdate", lambda body: client.patch(target, json=body)),
    ):
        schema = schemas[component]
        required = set(schema.get("required", []))
        for field, prop in schema["properties"].items():
            def fresh() -> dict[str, Any]:
                return {**base, "name": f"declared {next(counter)}"}

            with_null = {**fresh(), field: None}
            answer = send(with_null)
            assert (answer.status_code < 300) == _nullable(prop), (component, field, "null", answer.text)
            missing = fresh()
            missing.pop(field, None)
            answer = send(missing)
            assert (answer.status_code < 300) == (field not in required), (component, field, "missing", answer.text)
            if "maxLength" in prop:
                answer = send({**fresh(), field: "x" * (prop["maxLength"] + 1)})
                assert answer.status_code == 422 and field in answer.json()["details"], (component, field)
                longest = f"{next(counter):05d}".rjust(prop["maxLength"], "x")  # unique: names are
                answer = send({**fresh(), field: longest})
                assert answer.status_code < 300, (component, field, answer.text)


def test_playground_serves_swagger_ui(client: httpx.Client) -> None:
    response = client.get("/api/playground/")
    assert response.status_code == 200
    assert "swagger-ui" in response.text and "/api/schema/" in response.text


def test_the_playground_assets_ship_with_the_python_package(client: httpx.Client) -> None:
    from backend.api import playground

    assert playground.ASSETS_DIR.is_relative_to(Path(playground.__file__).parent), "not node_modules"
    assert (playground.ASSETS_DIR / "LICENSE").is_file()
    for name, media_type in playground.ASSETS.items():
        response = client.get(f"/api/playground/assets/{name}")
        assert response.status_code == 200 and response.headers["content-type"] == media_type, name
    bundle = client.get("/api/playground/assets/swagger-ui-bundle.js").text
    assert 'version:"5.' in bundle or "5.35.0" in bundle, "Swagger UI 5: the first to render OpenAPI 3.1"
    assert client.get("/api/playground/assets/../../main.py").status_code == 404
