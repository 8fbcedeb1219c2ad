"""Live capabilities (docs/design.md, "Live capabilities"): ``capabilities/`` and ``{id}/capabilities/``.

Thin: the work is :func:`backend.capabilities.engine.examine`, which runs the connection test
through the same :class:`ConnectionTester` as ``test/`` (authentication, CSRF, rate and in-flight
limits, deadline, target policy, masking). Included before the saved connections' router, whose
``{id}/`` paths would otherwise take "capabilities" for an id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Response

from backend.api.deps import OwnerDep, SavedDep, ServiceDep, UserDep
from backend.api.routers.ids import SAVED_ID
from backend.capabilities.engine import examine
from backend.capabilities.schemas import CapabilitiesRequest, CapabilityOptions, ConnectionCapabilities
from backend.spec.schemas import optional_not_null

router = APIRouter(prefix="/api/v1/database_connections", tags=["Database Connections"])

MESSAGE = {"application/json": {"schema": {"$ref": "#/components/schemas/ApplicationMessage"}}}
LIMITS: dict[int | str, dict[str, Any]] = {
    429: {"description": "Message: too many tests by this user in a minute", "content": MESSAGE},
    503: {"description": "Message: too many tests at once", "content": MESSAGE},
}
DESCRIPTION = """Tests the connection exactly like `POST …/test/` (its verdict, stages and all, is `verdict`), then
tells for each capability, functionality and basic access whether this user can use it: `available`,
`unavailable`, `unknown` (the reason says why it could not be told) or `not_supported` (the connector
cannot do it at all), with the reason naming the objects concerned and a `fix` to paste.

Nothing is written unless `write_probe` is true: the answer comes from the database's own privilege
catalog. With it, throwaway objects named `wizard_probe_<random>` are created and removed (in a
rolled-back transaction where DDL is transactional); anything left behind is named in `verdict` as a
warning. Server-wide settings are never changed. A `schema` that does not exist is the verdict
`SCHEMA_NOT_FOUND` naming `schema`; a failed test leaves every item `unknown`."""


@router.post(
    "/capabilities/",
    operation_id="database_connections_capabilities_create",
    response_model=ConnectionCapabilities,
    responses=LIMITS,
    summary="What this connection, with these credentials, can really do when writing",
    description=DESCRIPTION,
)
async def capabilities(
    body: CapabilitiesRequest, response: Response, service: ServiceDep, user: UserDep
) -> ConnectionCapabilities:
    response.headers["Cache-Control"] = "no-store"  # carries a verdict
    return await examine(service, body.connection.root, body, user)  # type: ignore[attr-defined]


@router.post(
    "/{id:" + SAVED_ID + "}/capabilities/",
    operation_id="database_connections_saved_capabilities_create",
    response_model=ConnectionCapabilities,
    responses={
        404: {"description": "Message: no saved connection of the caller has this id", "content": MESSAGE},
        409: {"description": "Message (INVALID_PARAMETERS): cannot decrypt: the key changed", "content": MESSAGE},
        **LIMITS,
    },
    summary="What a saved connection can really do when writing",
    description=DESCRIPTION,
)
async def saved_capabilities(
    id: str,
    response: Response,
    saved: SavedDep,
    owner: OwnerDep,
    service: ServiceDep,
    user: UserDep,
    # Optional, not nullable in the document: generated clients then send no body when given none.
    body: Annotated[CapabilityOptions | None, Body(json_schema_extra=optional_not_null)] = None,
) -> ConnectionCapabilities:
    """No body (or ``{}``): the connection's own schema, nothing written."""
    response.headers["Cache-Control"] = "no-store"  # carries a verdict
    loaded = await saved.call(lambda: saved.load(owner, id))
    return await examine(service, loaded.model, body or CapabilityOptions(), user)
