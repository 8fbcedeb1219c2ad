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
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response

from backend.api.deps import OwnerDep, SavedDep, ServiceDep, UserDep
from backend.api.openapi import stream_media_type, stream_response
from backend.api.responses import written
from backend.api.routers.database_connections import STREAM_EXAMPLE, NDJSONStream
from backend.api.routers.ids import SAVED_ID
from backend.core.saved_errors import StoreUnavailable
from backend.saved.schemas import SavedConnection, SavedConnectionCreate, SavedConnectionPage, SavedConnectionUpdate
from backend.saved.service import parse_if_match
from backend.spec.schemas import ApplicationMessage

log = logging.getLogger("wizard.saved")

MAX_PAGE_SIZE = 100

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
        "description": "Message (CANNOT_DECRYPT): cannot decrypt: the key changed; `details` names each secret to enter again",
        "content": MESSAGE,
    }
}
PRECONDITION: dict[int | str, dict[str, Any]] = {
    412: {
        "description": "Message (PRECONDITION_FAILED): If-Match does not name the current version; nothing changed",
        "content": MESSAGE,
    }
}
NO_STORE = "no-store"
ETAG_HEADER = {"ETag": {"description": 'The connection\'s version, `"<version>"`: send it as If-Match', "schema": {"type": "string"}}}
IfMatchHeader = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='Apply only if the connection is still at this version: `"3"`, `W/"3"` or `*` (else 412). '
        "Without it the change applies whatever the version.",
    ),
]


def one(connection: SavedConnection, status: int = 200, **headers: str) -> Response:
    """An answer that carries one connection: its ETag, and no caching."""
    return written(connection, status, {"ETag": f'"{connection.version}"', "Cache-Control": NO_STORE, **headers})


def _with_etag(description: str) -> dict[str, Any]:
    return {"description": description, "headers": ETAG_HEADER}


@router.get(
    "/",
    operation_id="database_connections_list",
    response_model=SavedConnectionPage,
    responses=UNAVAILABLE,
    summary="List the caller's saved connections, newest first",
)
async def list_saved(
    request: Request,
    response: Response,
    saved: SavedDep,
    owner: OwnerDep,
    page: int = Query(1, ge=1, le=1_000_000, description="Page number, from 1"),
    page_size: int = Query(50, ge=1, description=f"Connections per page (at most {MAX_PAGE_SIZE}: a larger size is taken as {MAX_PAGE_SIZE})"),
    search: str | None = Query(
        None, max_length=100, description="Only connections whose name contains this (any case, any script; % and _ are plain)"
    ),
) -> SavedConnectionPage:
    # A larger page is served as the largest, as Django REST framework's `max_page_size` does (the
    # Syntho API's own pagination), rather than refused: a client asking for "all" still gets pages.
    page_size = min(page_size, MAX_PAGE_SIZE)
    count, results = await saved.call(lambda: saved.page(owner, search, page, page_size))
    last = max(1, -(-count // page_size))
    next_url = str(request.url.include_query_params(page=page + 1)) if page < last else None
    previous_url = str(request.url.include_query_params(page=min(page - 1, last))) if page > 1 else None
    response.headers["Cache-Control"] = NO_STORE
    return SavedConnectionPage(count=count, next=next_url, previous=previous_url, results=results)


@router.post(
    "/",
    operation_id="database_connections_create",
    status_code=201,
    response_model=SavedConnection,
    responses={
        201: {
            "description": "The saved connection",
            "headers": {
                **ETAG_HEADER,
                "Location": {"description": "Where it lives: `/api/v1/database_connections/{id}/`", "schema": {"type": "string"}},
            },
        },
        **UNAVAILABLE,
    },
    summary="Save a connection (its secrets encrypted)",
)
async def create_saved(body: SavedConnectionCreate, saved: SavedDep, owner: OwnerDep) -> Response:
    made = await saved.call(lambda: saved.create(owner, body))
    return one(made, 201, Location=f"{router.prefix}/{made.id}/")


@router.get(
    "/{id:" + SAVED_ID + "}/",
    operation_id="database_connections_retrieve",
    response_model=SavedConnection,
    responses={200: _with_etag("The saved connection"), **NOT_FOUND, **UNAVAILABLE},
    summary="A saved connection (secrets as the mask)",
)
async def get_saved(id: str, saved: SavedDep, owner: OwnerDep) -> Response:
    return one(await saved.read(owner, id))


@router.patch(
    "/{id:" + SAVED_ID + "}/",
    operation_id="database_connections_partial_update",
    response_model=SavedConnection,
    responses={200: _with_etag("The saved connection as changed"), **NOT_FOUND, **PRECONDITION, **UNAVAILABLE},
    summary="Change a saved connection (the mask keeps a stored secret, null clears it)",
)
async def update_saved(
    id: str, body: SavedConnectionUpdate, saved: SavedDep, owner: OwnerDep, if_match: IfMatchHeader = None
) -> Response:
    condition = parse_if_match(if_match)
    return one(await saved.call(lambda: saved.update(owner, id, body, condition)))


@router.delete(
    "/{id:" + SAVED_ID + "}/",
    operation_id="database_connections_destroy",
    status_code=204,
    response_class=Response,
    responses={**NOT_FOUND, **PRECONDITION, **UNAVAILABLE},
    summary="Delete a saved connection",
)
async def delete_saved(id: str, saved: SavedDep, owner: OwnerDep, if_match: IfMatchHeader = None) -> Response:
    condition = parse_if_match(if_match)
    await saved.call(lambda: saved.delete(owner, id, condition))
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
) -> Response:
    loaded = await saved.call(lambda: saved.load(owner, id, trigger="user"))
    message = await service.test(loaded.model, user)
    try:
        await saved.call(lambda: saved.record(loaded, message))
    except StoreUnavailable:  # the verdict stands; only its keeping failed (logged by the store call)
        log.error("the verdict of a saved connection's test could not be kept as its last_test")
    return written(message, headers={"Cache-Control": NO_STORE})


# --- the saved connection's test, streamed (DESIGN.md "Endpoints added for the UI and the steward") ---


@router.post(
    "/{id:" + SAVED_ID + "}/test/stream/",
    operation_id="database_connections_saved_test_stream_create",
    summary="Test a saved connection, streaming its stages; the verdict becomes its last_test",
    description="The saved connection's test, streamed exactly as `test/stream/` (no body). "
    "A stream the client cancels keeps no verdict.",
    status_code=200,
    response_class=NDJSONStream,
    responses={
        200: stream_response(
            "The stages as they settle, then the verdict (newline-delimited JSON)", "TestStreamLine", STREAM_EXAMPLE
        ),
        **NOT_FOUND,
        **CANNOT_DECRYPT,
        429: {"description": "Message: too many tests by this user in a minute", "content": MESSAGE},
        503: {"description": "Message: too many tests at once, or the store is unavailable", "content": MESSAGE},
    },
)
async def test_saved_stream(
    id: str, saved: SavedDep, owner: OwnerDep, service: ServiceDep, user: UserDep, request: Request
) -> Response:
    loaded = await saved.call(lambda: saved.load(owner, id, trigger="user"))
    run = await service.stream(loaded.model, user)

    async def recorded() -> AsyncIterator[bytes]:
        async for event in run.events():
            if event.get("event") == "verdict":  # only a stream that ran to its end is kept
                message = ApplicationMessage.model_validate(event["message"])
                try:
                    await saved.call(functools.partial(saved.record, loaded, message, "user"))
                except Exception as exc:  # noqa: BLE001 - the verdict is answered even when it cannot be kept
                    log.error("the verdict of a streamed saved test could not be kept: %s", type(exc).__name__)
            yield json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"

    response = NDJSONStream(run, stream_media_type(request.headers.get("accept")))
    response.body_iterator = recorded()
    return response
