"""The three Database Connections endpoints of the spec, and the streamed test (``test/stream/``)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from backend.api.deps import ServiceDep, UserDep
from backend.api.errors import APIError
from backend.api.openapi import NDJSON, stream_media_type, stream_response
from backend.api.responses import written
from backend.connectors import registry
from backend.diagnosis.messages import Code
from backend.diagnosis.service import LiveTest
from backend.spec.metadata import functionalities_json, supported_types_json
from backend.spec.models import CreateConnectorSchema
from backend.spec.schemas import ApplicationMessage, FunctionalityListSchema, SupportedConnectionTypes

JSON = "application/json"

router = APIRouter(prefix="/api/v1/database_connections", tags=["Database Connections"])

BUSY: dict[int | str, dict[str, Any]] = {503: {"description": "Message: service unavailable"}}


@router.get(
    "/functionalities/",
    operation_id="database_connections_functionalities_retrieve",
    response_model=FunctionalityListSchema,
    responses=BUSY,
    # Checked below, with the list of connector types in the message, but required all the same.
    openapi_extra={"x-required-parameters": ["connector_type"]},
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
async def test_connection(body: CreateConnectorSchema, service: ServiceDep, user: UserDep) -> Response:  # type: ignore[valid-type]
    # Never cached: a verdict (docs/design.md, "Concurrent edits").
    return written(await service.test(body.root, user), headers={"Cache-Control": "no-store"})  # type: ignore[attr-defined]


# --- the streamed test --------------------------------------------------------------------------

STREAM_EXAMPLE = """\
{"event":"start","stage":{"name":"parameters"}}
{"event":"stage","stage":{"name":"parameters","status":"passed","duration_ms":0,"detail":null}}
{"event":"start","stage":{"name":"dns"}}
{"event":"stage","stage":{"name":"dns","status":"passed","duration_ms":1,"detail":"db.example.com → 192.0.2.7"}}
{"event":"start","stage":{"name":"tcp"}}
{"event":"stage","stage":{"name":"tcp","status":"failed","duration_ms":10001,"detail":"db.example.com:5432 did not answer within the 10 s deadline."}}
{"event":"stage","stage":{"name":"ssh","status":"skipped","duration_ms":null,"detail":null}}
{"event":"verdict","message":{"code":"CONNECTION_TIMEOUT","title":"…","body":"…","kind":"error","payload":{"stages":["…"]}}}
"""
STREAM_DESCRIPTION = """The same test as `POST /api/v1/database_connections/test/` (same body, same authentication, CSRF check,
limits and secret masking), told as it runs: newline-delimited JSON (`application/x-ndjson`), one object
per line, each line sent as soon as it is known.

- `{"event": "start", "stage": {"name": "tcp"}}`: a stage's step begins (a stage may have none).
- `{"event": "stage", "stage": {"name", "status", "duration_ms", "detail"}}`: a stage is settled
  (`passed`, `failed`, `warning` or `skipped`), once per stage, in stage order; the stages not reached
  come as `skipped` just before the verdict.
- `{"event": "verdict", "message": <ApplicationMessage>}`: exactly once, last; exactly what `test/` answers,
  its `payload.stages` included.

Ignore events of other kinds: later versions may add some. A refusal before the test starts (422, 401, 403,
413, 429, 503) is an ordinary `application/json` ApplicationMessage with its status code, as for `test/`.
If the client disconnects, the test is cancelled and cleaned up (tunnels, temporary files)."""


class NDJSONStream(StreamingResponse):
    """A streamed test as NDJSON lines; the test is cancelled (and cleaned up) if the client goes away.

    Starlette stops the body (cancels its iteration) when the client disconnects; whatever ends
    the response, the test is closed here: cancelled if it still runs, its slot released.
    """

    media_type = NDJSON

    def __init__(self, run: LiveTest, media_type: str = NDJSON) -> None:
        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        super().__init__(_lines(run), headers=headers, media_type=media_type)
        self.run = run

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.run.aclose()


async def _lines(run: LiveTest) -> AsyncIterator[bytes]:
    async for event in run.events():
        yield json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


@router.post(
    "/test/stream/",
    operation_id="database_connections_test_stream_create",
    summary="Test a connection, streaming its stages",
    description=STREAM_DESCRIPTION,
    status_code=200,
    response_class=NDJSONStream,
    responses={
        200: stream_response(
            "The stages as they settle, then the verdict (newline-delimited JSON)", "TestStreamLine", STREAM_EXAMPLE
        ),
        **BUSY,
    },
)
async def test_connection_stream(body: CreateConnectorSchema, service: ServiceDep, user: UserDep, request: Request) -> Response:  # type: ignore[valid-type]
    media_type = stream_media_type(request.headers.get("accept"))
    return NDJSONStream(await service.stream(body.root, user), media_type)  # type: ignore[attr-defined]
