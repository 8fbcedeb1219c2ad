"""Connection health over time: ``health/`` and ``{id}/history/`` (docs/design.md).

Thin: the queries are :class:`backend.monitor.history.HistoryStore`'s, run in a thread. Included
before the saved connections' ``{id}/`` routes (``health`` is never an id: backend/api/routers/ids.py).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Query, Request, Response

from backend.api.deps import OwnerDep, SavedDep
from backend.api.routers.ids import SAVED_ID
from backend.api.routers.saved import MAX_PAGE_SIZE, NOT_FOUND, UNAVAILABLE
from backend.core.saved_errors import NotFound
from backend.monitor.schemas import HealthList, HistoryEntry, HistoryPage
from backend.saved.service import iso

router = APIRouter(prefix="/api/v1/database_connections", tags=["Database Connections"])


@router.get(
    "/health/",
    operation_id="database_connections_health_list",
    response_model=HealthList,
    responses=UNAVAILABLE,
    summary="Every saved connection of the caller: its state, since when, timings and expiries",
)
async def health(saved: SavedDep, owner: OwnerDep) -> Response:
    now = time.time()
    # One query over the health rows, written as JSON straight from them (HealthList's shape).
    body = await saved.call(lambda: saved.history.health_json(owner, now, iso))
    return Response(body, media_type="application/json")


@router.get(
    "/{id:" + SAVED_ID + "}/history/",
    operation_id="database_connections_history_list",
    response_model=HistoryPage,
    responses={**NOT_FOUND, **UNAVAILABLE},
    summary="The kept tests of a saved connection, newest first",
)
async def history(
    request: Request,
    id: str,
    saved: SavedDep,
    owner: OwnerDep,
    page: int = Query(1, ge=1, le=1_000_000, description="Page number, from 1"),
    page_size: int = Query(50, ge=1, description=f"Tests per page (at most {MAX_PAGE_SIZE}: a larger size is taken as {MAX_PAGE_SIZE})"),
) -> HistoryPage:
    page_size = min(page_size, MAX_PAGE_SIZE)

    def read() -> tuple[int, list[dict[str, Any]]]:
        if saved.store.get(owner, id) is None:
            raise NotFound
        return saved.history.page(owner, id, (page - 1) * page_size, page_size)

    count, rows = await saved.call(read)
    last = max(1, -(-count // page_size))
    next_url = str(request.url.include_query_params(page=page + 1)) if page < last else None
    previous_url = str(request.url.include_query_params(page=min(page - 1, last))) if page > 1 else None
    results = [HistoryEntry.model_validate({**row, "at": iso(row["at"])}) for row in rows]
    return HistoryPage(count=count, next=next_url, previous=previous_url, results=results)
