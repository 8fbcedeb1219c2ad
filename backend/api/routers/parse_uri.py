"""``POST /api/v1/database_connections/parse_uri/``: the paste box's reader, on the server
(DESIGN.md "Endpoints added for the UI and the steward").

The one answer that may hold a secret: only the one sent in the same request, with
``Cache-Control: no-store``; neither the text nor the answer is ever logged (messages and notes
name parts, never values: ``backend.spec.uri``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from backend.api.deps import UserDep
from backend.api.errors import invalid_parameters_error
from backend.spec.uri import URIError, parse_uri

router = APIRouter(prefix="/api/v1/database_connections", tags=["Database Connections"])

MAX_URI = 8192


class ParseURIRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uri: str = Field(max_length=MAX_URI, description="A connection URI, a `jdbc:` URL or an Azure connection string")


class ParsedConnection(BaseModel):
    connection: dict[str, Any] = Field(
        description="The fields read, as a partial `Create…Connector` body: `connector_type` included, "
        "hook fields under `hooks_params`; a password in the text comes back in its field"
    )
    notes: list[str] = Field(description="What was left out and why, by name (never a value)")


MESSAGE = {"application/json": {"schema": {"$ref": "#/components/schemas/ApplicationMessage"}}}


@router.post(
    "/parse_uri/",
    operation_id="database_connections_parse_uri_create",
    summary="Read a connection URI into a connection body (the paste box's reader)",
    description="Reads the schemes the paste box reads, `jdbc:` forms and Azure connection strings included. "
    "The answer may hold the secret sent in the same request: it is never stored, logged or cached "
    "(`Cache-Control: no-store`). Unreadable text is `422 INVALID_PARAMETERS` naming `uri`.",
    response_model=ParsedConnection,
    responses={422: {"description": "Message (INVALID_PARAMETERS): the text cannot be read; `details` names `uri`",
                     "content": MESSAGE}},
)
async def parse_connection_uri(body: ParseURIRequest, user: UserDep) -> Response:
    try:
        parsed = parse_uri(body.uri)
    except URIError as exc:
        raise invalid_parameters_error({"uri": [exc.message]}) from None
    answer = ParsedConnection(connection=parsed.connection, notes=parsed.notes)
    return JSONResponse(answer.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
