"""The API exactly as ``backend.main.create_app()`` builds it, plus bare routes for the bench.

``uvicorn --factory bench.app:create`` serves it. ``/bench/constant`` returns a constant
through the same server, middleware and JSON path as any FastAPI endpoint, without auth, a
response model or any logic: the yardstick the metadata endpoints are compared with.
``/bench/constant-auth`` adds the API's own authentication dependency (``deps.current_user``),
so that the cost of checking the caller is told apart from the cost of the endpoint.
``POST /bench/echo`` takes a small pydantic body and answers a constant: the floor of a POST.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel

CONSTANT_PATH = "/bench/constant"
CONSTANT_AUTH_PATH = "/bench/constant-auth"
ECHO_PATH = "/bench/echo"


class EchoBody(BaseModel):
    connector_type: str
    host: str
    port: int
    database: str
    username: str
    password: str


def create(ops: bool = True) -> FastAPI:
    from backend.api.deps import current_user
    from backend.main import create_app

    app = create_app(ops=ops)

    @app.get(CONSTANT_PATH, include_in_schema=False)
    async def constant() -> dict[str, bool]:
        return {"ok": True}

    @app.get(CONSTANT_AUTH_PATH, include_in_schema=False)
    async def constant_auth(user: Any = Depends(current_user)) -> dict[str, bool]:
        return {"ok": True}

    @app.post(ECHO_PATH, include_in_schema=False)
    async def echo(body: EchoBody) -> dict[str, bool]:
        return {"ok": True}

    return app


def create_without_ops() -> FastAPI:
    """The same app without the security-header and request-id middleware (``--factory bench.app:create_without_ops``):
    the other side of the middleware's cost (section 7)."""
    return create(ops=False)
