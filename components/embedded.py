"""The API embedded beside the UI: what ``streamlit run app.py`` serves under ``/api/``.

Why ``st.App`` rather than uvicorn in a thread started from ``st.cache_resource``:

- ``streamlit run app.py`` finds the ``app = st.App(...)`` assignment in ``app.py`` and serves
  that ASGI app with uvicorn (Streamlit 1.64+; see ``streamlit/web/server/app_discovery.py`` and
  ``bootstrap.run_asgi_app``).
  The API and the UI then share one process, one port and one origin, so ``/api/playground/``
  and ``/api/schema/`` are links on the very address the user has open, and there is no
  second port to choose, to find free, or to expose.
- The API is up as soon as the server is, with its lifespan run by the server (start-up and
  shut-down), rather than when the first browser session happens to run the script; a thread
  started from a cache would also die with ``st.cache_resource.clear()`` or live on after it.
- The backend is mounted whole (its own exception handlers, middleware and ``app.state``), so
  the embedded API is exactly ``uvicorn backend.main:app``.

The UI still talks to it only over HTTP (``components/api_client.py``), like any consumer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

API_PREFIX = "/api"


class FullPath:
    """Hand the backend the request path as the client sent it.

    A ``Mount("/api")`` would make ``/api`` the sub-app's ``root_path``; the backend's routes
    already start with ``/api/`` (as under ``uvicorn backend.main:app``), so the mount's
    ``root_path`` is undone here and the backend routes on the full path.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "root_path": scope.get("app_root_path", "")}
        await self.app(scope, receive, send)


def _backend() -> Any:
    from backend.main import app

    return app


def api_routes() -> Sequence[BaseRoute]:
    """The backend, mounted at ``/api`` beside Streamlit's own routes."""
    return [Mount(API_PREFIX, app=FullPath(_backend()))]


@asynccontextmanager
async def api_lifespan(_streamlit_app: Any) -> AsyncIterator[None]:
    """Run the backend's own lifespan (a mounted app's lifespan is not run by Starlette)."""
    backend = _backend()
    async with backend.router.lifespan_context(backend):
        yield None
