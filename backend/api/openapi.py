"""The OpenAPI document at ``/api/schema/``, generated from the routes and models (docs/design.md,
"The OpenAPI document").

FastAPI writes the document from the route declarations; this module adds, by rules that apply
to every route (those added later included), what FastAPI cannot infer:

* the spec's security schemes: ``authentication`` (the session cookie) as the seed has it,
  ``OIDC`` as ``http``/``bearer`` (JWT), and ``csrf`` (the ``X-CSRF-Token`` header) required
  beside the cookie on every authenticated write;
* every refusal as an ApplicationMessage, and the response headers the server sends:
  ``Location`` on a ``201``, ``ETag`` on an answer that carries one saved connection,
  ``Retry-After`` on ``429`` and ``503``, ``412`` where a route takes ``If-Match``;
* ``format: date-time`` on the timestamps of the wizard's own schemas (``at``, ``*_at``, ``since``);
* the verdict's ``payload`` (its stages) as a schema of its own, :class:`VerdictPayload`;
* a route's ``openapi_extra`` may name ``x-required-parameters``: query parameters that the
  handler checks itself (with a message of its own) but that are required all the same.

The result validates as OpenAPI 3.1 (``openapi-spec-validator``) and ``openapi-python-client``
generates a client from it without a warning (tests/test_openapi.py, tests/test_generated_client.py).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from backend.security.auth.sessions import CSRF_HEADER

API_VERSION = "1.0.0"
"""``info.version``: a plain version, so that a generated client's package installs with pip."""

SECURITY_SCHEMES: dict[str, Any] = {
    "authentication": {
        "type": "apiKey",
        "in": "cookie",
        "name": "sessionid",
        "description": "Log in using the <a href='/api/playground/#/Auth/auth_create'>POST /api/v1/auth/</a> endpoint",
    },
    "OIDC": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An OIDC access token of the configured issuer and audience (WIZARD_OIDC_*).",
    },
    "csrf": {
        "type": "apiKey",
        "in": "header",
        "name": CSRF_HEADER,
        "description": "The session's CSRF token (the login's `csrf_token`), on every write authenticated by the "
        "session cookie. Django clients may send it as `X-CSRFToken` with the `csrftoken` cookie instead. "
        "Bearer-token requests need neither.",
    },
}
READ_SECURITY: list[dict[str, list[str]]] = [{"authentication": []}, {"OIDC": []}]
WRITE_SECURITY: list[dict[str, list[str]]] = [{"authentication": [], "csrf": []}, {"OIDC": []}]
WRITES = ("post", "put", "patch", "delete")

MESSAGE = {"application/json": {"schema": {"$ref": "#/components/schemas/ApplicationMessage"}}}
NDJSON = "application/x-ndjson"
TEXT = "text/plain"

_REFUSALS = {
    "401": "Message: not authenticated (no valid session cookie or bearer token)",
    "403": "Message: refused by the CSRF protection (a cookie-authenticated write without the session's CSRF token)",
    "412": "Message: PRECONDITION_FAILED: If-Match does not name the current version; nothing changed",
    "413": "Message: the request body is too large",
    "429": "Message: too many tests by this user in a minute",
}
HEADERS: dict[str, dict[str, Any]] = {
    "Location": {
        "description": "The new resource's path, e.g. `/api/v1/database_connections/{id}/`",
        "schema": {"type": "string", "format": "uri-reference"},
    },
    "ETag": {
        "description": 'The connection\'s version as an entity tag, e.g. `"3"`: send it back as If-Match',
        "schema": {"type": "string"},
    },
    "Retry-After": {"description": "Seconds to wait before trying again", "schema": {"type": "integer", "minimum": 0}},
}
SAVED_CONNECTION_REF = "#/components/schemas/SavedConnection"


# --- the verdict's payload --------------------------------------------------------------------


class VerdictStage(BaseModel):
    """One stage of a test, in order: ``parameters``, ``dns``, ``tcp``, ``ssh``, ``tls``, ``authentication``…"""

    model_config = ConfigDict(title="VerdictStage")

    name: str = Field(examples=["tcp"])
    status: Literal["passed", "failed", "warning", "skipped"]
    duration_ms: int | None = Field(description="null for a stage not reached, or settled by another stage's step")
    detail: str | None = Field(description="What happened, in plain words (never a secret)")


class VerdictPayload(BaseModel):
    """The diagnosis a test's verdict carries as its ``payload``."""

    model_config = ConfigDict(title="VerdictPayload", extra="allow")

    stages: list[VerdictStage]
    elapsed_ms: int = Field(description="The whole test, in milliseconds, measured by the server")
    server: dict[str, Any] | None = Field(
        default=None, description="What the test learned of the server (version, TLS, `expires`…), where it did"
    )


PAYLOAD_SCHEMA: dict[str, Any] = {
    "anyOf": [
        {"$ref": "#/components/schemas/VerdictPayload"},
        {"type": "object", "additionalProperties": True},
        {"type": "null"},
    ],
    "default": None,
    "title": "Payload",
    "description": "A test's verdict carries a VerdictPayload (its stages, in order); other messages carry null.",
}


# --- the streamed test's lines ----------------------------------------------------------------

STREAM_COMPONENTS: dict[str, Any] = {
    "TestStreamLine": {
        "title": "TestStreamLine",
        "description": "One line of a streamed test: one JSON object, then a line feed. Ignore events of other kinds.",
        "oneOf": [{"$ref": f"#/components/schemas/{name}"} for name in ("StageStarted", "StageSettled", "VerdictLine")],
    },
    "StageName": {
        "title": "StageName",
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "examples": ["tcp"]}},
    },
    "StageStarted": {
        "title": "StageStarted",
        "description": "A stage's step begins (a stage may have none).",
        "type": "object",
        "required": ["event", "stage"],
        "properties": {"event": {"type": "string", "const": "start"}, "stage": {"$ref": "#/components/schemas/StageName"}},
    },
    "StageSettled": {
        "title": "StageSettled",
        "description": "A stage is settled, once per stage, in stage order.",
        "type": "object",
        "required": ["event", "stage"],
        "properties": {"event": {"type": "string", "const": "stage"}, "stage": {"$ref": "#/components/schemas/VerdictStage"}},
    },
    "VerdictLine": {
        "title": "VerdictLine",
        "description": "The verdict, exactly once, last: exactly what `test/` answers.",
        "type": "object",
        "required": ["event", "message"],
        "properties": {
            "event": {"type": "string", "const": "verdict"},
            "message": {"$ref": "#/components/schemas/ApplicationMessage"},
        },
    },
}
"""The streamed test's line (``TestStreamLine``) and its three kinds, as named components."""


# --- the document -----------------------------------------------------------------------------


def build(app: FastAPI) -> dict[str, Any]:
    """The document of ``app`` (cached on it by FastAPI's own ``openapi()`` contract)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        servers=[{"url": "/"}],
    )
    components = schema.setdefault("components", {})
    components["securitySchemes"] = SECURITY_SCHEMES
    schema["security"] = READ_SECURITY
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    # FastAPI drops every `"default": null` when it serialises the document; the spec keeps
    # them, so the spec's components come straight from pydantic.
    seed = _component_schemas()
    own = set(schemas) - set(seed)
    schemas.update(seed)
    schemas.update(_own_component_schemas())
    schemas["ApplicationMessage"]["properties"]["payload"] = PAYLOAD_SCHEMA
    for name in sorted(set(schemas) - set(seed) | own):
        _timestamps(schemas[name])
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            _operation(path, method, operation)
    app.openapi_schema = schema
    return schema


def _operation(path: str, method: str, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    public = operation.get("security") == []
    if method in WRITES and not public:
        operation["security"] = WRITE_SECURITY
    if_match = any(p.get("in") == "header" and p.get("name", "").lower() == "if-match" for p in operation.get("parameters", []))
    codes = [] if public else ["401"]
    if method in WRITES and not public:
        codes.append("403")
    if if_match:
        codes.append("412")
    if method in ("post", "put", "patch"):
        codes.append("413")
    if operation.get("operationId", "").endswith(("test_create", "test_stream_create")):
        codes.append("429")
    for code in codes:
        responses.setdefault(code, {"description": _REFUSALS[code]})
    required = set(operation.pop("x-required-parameters", []))
    for parameter in operation.get("parameters", []):
        # `str | None = None` is "optional" in the spec's words: a plain string schema.
        any_of = parameter.get("schema", {}).get("anyOf")
        if any_of and len(any_of) == 2 and {"type": "null"} in any_of:
            parameter["schema"] = next(s for s in any_of if s != {"type": "null"})
        if parameter.get("name") in required:
            parameter["required"] = True
    for status, response in responses.items():
        if status == "422":
            responses[status] = response = {"description": "Message: invalid parameters", "content": MESSAGE}
        elif status[0] in "45" and status != "422":
            response["content"] = MESSAGE
        headers: dict[str, Any] = response.get("headers", {})
        if status == "201":
            headers.setdefault("Location", HEADERS["Location"])
        if status in ("429", "503"):
            headers.setdefault("Retry-After", HEADERS["Retry-After"])
        carried = response.get("content", {}).get("application/json", {}).get("schema", {})
        if status.startswith("2") and carried.get("$ref") == SAVED_CONNECTION_REF:
            headers.setdefault("ETag", HEADERS["ETag"])
        if headers:
            response["headers"] = headers


def _timestamps(schema: dict[str, Any]) -> None:
    """``format: date-time`` on the string properties that hold a moment (``at``, ``*_at``, ``since``)."""
    for name, prop in schema.get("properties", {}).items():
        if name in ("at", "since") or name.endswith("_at"):
            for option in [prop, *prop.get("anyOf", [])]:
                if option.get("type") == "string":
                    option.setdefault("format", "date-time")


def _component_schemas() -> dict[str, Any]:
    """The seed spec's components (backend/spec/schemas.py and the connectors' union), field for field."""
    from pydantic.json_schema import models_json_schema

    from backend.spec import schemas
    from backend.spec.models import CreateConnectorSchema

    models: list[type[BaseModel]] = [
        obj for obj in vars(schemas).values() if isinstance(obj, type) and issubclass(obj, BaseModel) and obj is not BaseModel
    ]
    models.append(CreateConnectorSchema)
    _, top = models_json_schema([(m, "validation") for m in models], ref_template="#/components/schemas/{model}")
    return dict(top.get("$defs", {}))


def _own_component_schemas() -> dict[str, Any]:
    """The wizard's own: the verdict's payload and the streamed test's line."""
    from pydantic.json_schema import models_json_schema

    _, top = models_json_schema([(VerdictPayload, "validation")], ref_template="#/components/schemas/{model}")
    return {**top.get("$defs", {}), **STREAM_COMPONENTS}


# --- declarations a route may use -------------------------------------------------------------


def stream_response(description: str, line_component: str, example: str) -> dict[str, Any]:
    """A ``200`` of newline-delimited JSON: a string body, each line an object of ``line_component``
    (named in ``x-itemSchema``: OpenAPI 3.2's ``itemSchema`` is not a 3.1 keyword).

    The same lines are also offered as ``text/plain`` (what the server sends to a client whose
    ``Accept`` asks for it, see :func:`stream_media_type`): generators that know no
    ``application/x-ndjson`` (``openapi-python-client``) keep the ``200`` and return the text.
    """
    schema = {"type": "string", "description": f"Newline-delimited JSON: one {line_component} object per line."}
    item = {"$ref": f"#/components/schemas/{line_component}"}
    return {
        "description": description,
        "content": {
            NDJSON: {"schema": {**schema, "contentMediaType": NDJSON}, "x-itemSchema": item, "example": example},
            TEXT: {"schema": schema, "x-itemSchema": item},
        },
    }


def stream_media_type(accept: str | None) -> str:
    """``text/plain`` when the client asks for it and not for NDJSON, else ``application/x-ndjson``."""
    if accept and TEXT in accept and NDJSON not in accept:
        return f"{TEXT}; charset=utf-8"
    return NDJSON
