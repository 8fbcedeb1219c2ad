"""Liveness, readiness and metrics: what a load balancer and Prometheus ask (docs/design.md, "Operations").

``live/`` and ``ready/`` need no login (a load balancer has none) and are not rate limited;
``ready/`` answers 503 within 2 s when the store does not answer. ``/api/metrics`` is open unless
``WIZARD_METRICS_TOKEN`` is set, then it needs ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request, Response

from backend.api.deps import AppSettingsDep, MetricsDep, ReadinessDep
from backend.api.errors import APIError
from backend.diagnosis.messages import Code
from backend.ops.metrics import CONTENT_TYPE
from backend.ops.schemas import HealthStatus

router = APIRouter(prefix="/api", tags=["Health"])

OK = {"status": "ok"}
NO_LOGIN: dict[str, Any] = {"security": []}
NOT_READY: dict[int | str, dict[str, Any]] = {503: {"description": "Message: the store does not answer"}}


@router.get(
    "/v1/live/",
    operation_id="live_retrieve",
    summary="Liveness: the process serves",
    response_model=HealthStatus,
    openapi_extra=NO_LOGIN,
)
async def live() -> dict[str, str]:
    """200 while the process serves requests; touches nothing else (no store, no login)."""
    return OK


@router.get(
    "/v1/ready/",
    operation_id="ready_retrieve",
    summary="Readiness: the store answers",
    response_model=HealthStatus,
    responses=NOT_READY,
    openapi_extra=NO_LOGIN,
)
async def ready(readiness: ReadinessDep, settings: AppSettingsDep) -> dict[str, str]:
    """200 when the user and session store answers a query, else 503 (within 2 s, never a hang)."""
    why = await readiness.ready()
    if why is not None:
        raise APIError(
            503,
            Code.SERVICE_BUSY,
            "Not ready",
            f"The wizard cannot serve requests yet: {why}. Try again shortly.",
            headers={"Retry-After": str(settings.retry_after_s)},
        )
    return OK


@router.get(
    "/metrics",
    operation_id="metrics_retrieve",
    summary="Prometheus metrics of this process",
    response_class=Response,
    # Neither a session nor an OIDC token: its own bearer token, and only when WIZARD_METRICS_TOKEN is set
    # (the spec's security schemes are kept as they are, so that one is described in words).
    openapi_extra=NO_LOGIN,
    responses={
        200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}, "description": "Prometheus text format"},
        401: {"description": "Message: WIZARD_METRICS_TOKEN is set and `Authorization: Bearer <it>` was not sent",
              "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApplicationMessage"}}}},
    },
)
async def metrics(request: Request, metrics: MetricsDep, settings: AppSettingsDep) -> Response:
    """The Prometheus text format; with ``WIZARD_METRICS_TOKEN`` set, only for ``Authorization: Bearer <token>``."""
    if settings.metrics_token:
        scheme, _, supplied = request.headers.get("authorization", "").partition(" ")
        # Compared in constant time: the answer must not tell how much of a guess was right.
        if scheme.lower() != "bearer" or not hmac.compare_digest(supplied.strip().encode(), settings.metrics_token.get_secret_value().encode()):
            raise APIError(
                401,
                Code.NOT_AUTHENTICATED,
                "Metrics token required",
                "Send the metrics token (WIZARD_METRICS_TOKEN) as 'Authorization: Bearer <token>'.",
                headers={"WWW-Authenticate": 'Bearer realm="connection-wizard-metrics"'},
            )
    body, content_type = metrics.exposition(request.headers.get("accept", ""))
    return Response(body, headers={"Content-Type": content_type})
