"""Saved connections (docs/design.md, "Saved connections"): ``/api/v1/database_connections/`` and ``{id}/``.

Thin: validation is the schemas' (backend/saved/schemas.py), the rest is
:class:`backend.saved.service.SavedConnections`, run in a thread (SQL and Fernet block).
Included after the fixed paths (``test/``, ``supported_types/``…) so that they are never taken for an id.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request, Response

from backend.deps import OwnerDep, SavedDep, ServiceDep, UserDep
from backend.routers.database_connections import NDJSON, STREAM_EXAMPLE, STREAM_LINE, NDJSONStream
from backend.routers.ids import SAVED_ID
from backend.saved.schemas import SavedConnection, SavedConnectionCreate, SavedConnectionPage, SavedConnectionUpdate
from backend.schemas import ApplicationMessage

MAX_PAGE_SIZE = 100
log = logging.getLogger("wizard.saved")

router = APIRouter(prefix="/api/v1/database_connections", tags=["Database Connections"])

MESSAGE = {"application/json": {"schema": {"$ref": "#/components/schemas/ApplicationMessage"}}}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Message: no saved connection of the caller has this id", "content": MESSAGE}
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "Message: the store is unavailable, or the secrets key is unusable", "content": MESSAGE}
}
CANNOT_DECRYPT: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "Message (INVALID_PARAMETERS): cannot decrypt: the key changed; `details` names each secret to enter again",
        "content": MESSAGE,
    }
}


@router.get(
    "/",
    operation_id="database_connections_list",
    response_model=SavedConnectionPage,
    responses=UNAVAILABLE,
    summary="List the caller's saved connections, newest first",
)
async def list_saved(
    request: Request,
    saved: SavedDep,
    owner: OwnerDep,
    page: int = Query(1, ge=1, le=1_000_000, description="Page number, from 1"),
    page_size: int = Query(50, ge=1, description=f"Connections per page (at most {MAX_PAGE_SIZE}: a larger size is taken as {MAX_PAGE_SIZE})"),
    search: str | None = Query(None, max_length=100, description="Only connections whose name contains this (any case)"),
) -> SavedConnectionPage:
    # A larger page is served as the largest, as Django REST framework's `max_page_size` does (the
    # Syntho API's own pagination), rather than refused: a client asking for "all" still gets pages.
    page_size = min(page_size, MAX_PAGE_SIZE)
    count, results = await saved.call(lambda: saved.page(owner, search, page, page_size))
    last = max(1, -(-count // page_size))
    next_url = str(request.url.include_query_params(page=page + 1)) if page < last else None
    previous_url = str(request.url.include_query_params(page=min(page - 1, last))) if page > 1 else None
    return SavedConnectionPage(count=count, next=next_url, previous=previous_url, results=results)


@router.post(
    "/",
    operation_id="database_connections_create",
    status_code=201,
    response_model=SavedConnection,
    responses=UNAVAILABLE,
    summary="Save a connection (its secrets encrypted)",
)
async def create_saved(body: SavedConnectionCreate, saved: SavedDep, owner: OwnerDep) -> SavedConnection:
    return await saved.call(lambda: saved.create(owner, body))


@router.get(
    "/{id:" + SAVED_ID + "}/",
    operation_id="database_connections_retrieve",
    response_model=SavedConnection,
    responses={**NOT_FOUND, **UNAVAILABLE},
    summary="A saved connection (secrets as the mask)",
)
async def get_saved(id: str, saved: SavedDep, owner: OwnerDep) -> SavedConnection:
    return await saved.call(lambda: saved.get(owner, id))


@router.patch(
    "/{id:" + SAVED_ID + "}/",
    operation_id="database_connections_partial_update",
    response_model=SavedConnection,
    responses={**NOT_FOUND, **UNAVAILABLE},
    summary="Change a saved connection (the mask keeps a stored secret, null clears it)",
)
async def update_saved(id: str, body: SavedConnectionUpdate, saved: SavedDep, owner: OwnerDep) -> SavedConnection:
    return await saved.call(lambda: saved.update(owner, id, body))


@router.delete(
    "/{id:" + SAVED_ID + "}/",
    operation_id="database_connections_destroy",
    status_code=204,
    response_class=Response,
    responses={**NOT_FOUND, **UNAVAILABLE},
    summary="Delete a saved connection",
)
async def delete_saved(id: str, saved: SavedDep, owner: OwnerDep) -> Response:
    await saved.call(lambda: saved.delete(owner, id))
    return Response(status_code=204)


@router.post(
    "/{id:" + SAVED_ID + "}/test/",
    operation_id="database_connections_saved_test_create",
    response_model=ApplicationMessage,
    responses={
        **NOT_FOUND,
        **CANNOT_DECRYPT,
        429: {"description": "Message: too many tests by this user in a minute", "content": MESSAGE},
        503: {"description": "Message: too many tests at once, or the store is unavailable", "content": MESSAGE},
    },
    summary="Test a saved connection; the verdict becomes its last_test",
)
async def test_saved(
    id: str,
    saved: SavedDep,
    owner: OwnerDep,
    service: ServiceDep,
    user: UserDep,
) -> ApplicationMessage:
    loaded = await saved.call(lambda: saved.load(owner, id))
    message = await service.test(loaded.model, user)
    await saved.call(lambda: saved.record(loaded, message))
    return message


# --- the saved connection's test, streamed (DESIGN.md "Endpoints added for the UI and the steward") ---


@router.post(
    "/{id:" + SAVED_ID + "}/test/stream/",
    operation_id="database_connections_saved_test_stream_create",
    summary="Test a saved connection, streaming its stages; the verdict becomes its last_test",
    description="The saved connection's test, streamed exactly as `test/stream/` (no body). "
    "A stream the client cancels keeps no verdict.",
    status_code=200,
    response_class=NDJSONStream,
    response_description="The stages as they settle, then the verdict (newline-delimited JSON)",
    responses={
        200: {"content": {NDJSON: {"itemSchema": STREAM_LINE, "example": STREAM_EXAMPLE}}},
        **NOT_FOUND,
        **CANNOT_DECRYPT,
        429: {"description": "Message: too many tests by this user in a minute", "content": MESSAGE},
        503: {"description": "Message: too many tests at once, or the store is unavailable", "content": MESSAGE},
    },
)
async def test_saved_stream(id: str, saved: SavedDep, owner: OwnerDep, service: ServiceDep, user: UserDep) -> Response:
    loaded = await saved.call(lambda: saved.load(owner, id))
    run = await service.stream(loaded.model, user)

    async def recorded() -> AsyncIterator[bytes]:
        async for event in run.events():
            if event.get("event") == "verdict":  # only a stream that ran to its end is kept
                message = ApplicationMessage.model_validate(event["message"])
                try:
                    await saved.call(functools.partial(saved.record, loaded, message))
                except Exception as exc:  # noqa: BLE001 - the verdict is answered even when it cannot be kept
                    log.error("the verdict of a streamed saved test could not be kept: %s", type(exc).__name__)
            yield json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    response = NDJSONStream(run)
    response.body_iterator = recorded()
    return response
