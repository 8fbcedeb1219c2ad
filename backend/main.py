"""The ASGI app: ``uvicorn backend.main:app``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.types import ASGIApp, Receive, Scope, Send

from backend import errors
from backend.messages import Code
from backend.routers import database_connections
from backend.secrets import SecretFilter
from backend.service import TestService
from backend.settings import Settings, get_settings

API_TITLE = "Connection Wizard API"


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, before they are read whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = errors.message_response(
            413,
            Code.REQUEST_TOO_LARGE,
            "Request too large",
            f"The request body is larger than the {self.max_bytes} bytes the wizard accepts.",
        )
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


class _TooLarge(Exception):
    pass


def configure_logging(settings: Settings) -> None:
    logger = logging.getLogger("wizard")
    logger.setLevel(settings.log_level.upper())
    if not any(isinstance(f, SecretFilter) for f in logger.filters):
        logger.addFilter(SecretFilter())
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        handler.addFilter(SecretFilter())
        logger.addHandler(handler)
        logger.propagate = False


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    app = FastAPI(
        title=API_TITLE,
        version="1.0.0 (v1)",
        openapi_url="/api/schema/",
        docs_url="/api/playground/",
        redoc_url=None,
        separate_input_output_schemas=False,
    )
    app.state.settings = settings
    app.state.service = TestService(settings)
    errors.install(app)
    app.include_router(database_connections.router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The spec's shape: its security schemes, and every error documented as an ApplicationMessage."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, routes=app.routes, servers=[{"url": "/"}])
    components = schema.setdefault("components", {})
    components["securitySchemes"] = {
        "authentication": {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "Log in using the <a href='/api/playground/#/Auth/auth_create'>POST /api/v1/auth/</a> endpoint",
        },
        "OIDC": {"type": "apiKey", "in": "header", "name": "Authorization"},
    }
    schema["security"] = [{"authentication": []}, {"OIDC": []}]
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    # FastAPI drops every `"default": null` when it serialises the document; the spec keeps
    # them, so the components come straight from pydantic.
    schemas.update(_component_schemas())
    message = {"application/json": {"schema": {"$ref": "#/components/schemas/ApplicationMessage"}}}
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            for parameter in operation.get("parameters", []):
                # `str | None = None` is "optional" in the spec's words: a plain string schema.
                any_of = parameter.get("schema", {}).get("anyOf")
                if any_of and len(any_of) == 2 and {"type": "null"} in any_of:
                    parameter["schema"] = next(s for s in any_of if s != {"type": "null"})
            if "422" in responses:
                responses["422"] = {"description": "Message: invalid parameters", "content": message}
            if "503" in responses:
                responses["503"]["content"] = message
    app.openapi_schema = schema
    return schema


def _component_schemas() -> dict[str, Any]:
    from pydantic import BaseModel
    from pydantic.json_schema import models_json_schema

    from backend import schemas
    from backend.models import CreateConnectorSchema

    models: list[type[BaseModel]] = [
        obj for obj in vars(schemas).values() if isinstance(obj, type) and issubclass(obj, BaseModel) and obj is not BaseModel
    ]
    models.append(CreateConnectorSchema)
    _, top = models_json_schema([(m, "validation") for m in models], ref_template="#/components/schemas/{model}")
    return dict(top.get("$defs", {}))


app = create_app()
