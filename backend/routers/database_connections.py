"""The three Database Connections endpoints of the spec."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Response

from backend.connectors import registry
from backend.deps import ServiceDep, UserDep
from backend.errors import APIError
from backend.messages import Code
from backend.metadata import functionalities_json, supported_types_json
from backend.models import CreateConnectorSchema
from backend.schemas import ApplicationMessage, FunctionalityListSchema, SupportedConnectionTypes
from backend.service import Busy

JSON = "application/json"

router = APIRouter(prefix="/api/v1/database_connections", tags=["Database Connections"])

BUSY: dict[int | str, dict[str, Any]] = {503: {"description": "Message: service unavailable"}}


@router.get(
    "/functionalities/",
    operation_id="database_connections_functionalities_retrieve",
    response_model=FunctionalityListSchema,
    responses=BUSY,
)
async def get_functionalities(
    user: UserDep,
    connector_type: str | None = Query(None, description="Connector type parameter for functionalities"),
) -> Response:
    if connector_type not in registry():
        valid = ", ".join(registry())
        what = f"'{connector_type}' is not a connector type." if connector_type else "connector_type is required."
        raise APIError(
            422,
            Code.INVALID_PARAMETERS,
            "Unknown connector type",
            f"{what} Use one of: {valid}.",
            details={"connector_type": [f"{what} Use one of: {valid}."]},
        )
    # Built once from the registry and served as ready bytes (the response model documents them).
    return Response(functionalities_json(connector_type), media_type=JSON)


@router.get(
    "/supported_types/",
    operation_id="database_connections_supported_types_retrieve",
    response_model=SupportedConnectionTypes,
    responses=BUSY,
)
async def get_supported_types(user: UserDep) -> Response:
    return Response(supported_types_json(), media_type=JSON)


@router.post(
    "/test/",
    operation_id="database_connections_test_create",
    response_model=ApplicationMessage,
    responses=BUSY,
)
async def test_connection(body: CreateConnectorSchema, service: ServiceDep, user: UserDep) -> ApplicationMessage:  # type: ignore[valid-type]
    try:
        return await service.test(body.root, user)  # type: ignore[attr-defined]
    except Busy:
        retry = str(service.settings.retry_after_s)
        raise APIError(
            503,
            Code.SERVICE_BUSY,
            "Too many tests at once",
            f"The wizard is running as many connection tests as it may. Try again in {retry} s.",
            headers={"Retry-After": retry},
        ) from None
