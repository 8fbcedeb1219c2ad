"""The ASGI app: ``uvicorn backend.main:app``."""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.api import errors, openapi, playground
from backend.api.routers import capabilities, database_connections, forms, health, monitoring, parse_uri, saved
from backend.connectors import registry
from backend.diagnosis.messages import Code
from backend.diagnosis.service import ConnectionTester
from backend.monitor.alerts import Alerts, MonitorMetrics
from backend.monitor.schedule import Scheduler
from backend.ops import logs as ops_logs
from backend.ops import shutdown
from backend.ops.metrics import Metrics
from backend.ops.middleware import Operations
from backend.ops.readiness import READY_DEADLINE_S, StoreProbe
from backend.saved.service import SavedConnections
from backend.security.auth import AuthService
from backend.security.auth import router as auth_router
from backend.security.policy import TargetPolicy
from backend.security.secrets import SecretFilter, install_log_scrubbing
from backend.settings import Settings, get_settings
from backend.store.calls import ping as store_ping

API_TITLE = "Connection Wizard API"


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, before they are read whole."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        response = errors.message_response(
            413,
            Code.REQUEST_TOO_LARGE,
            "Request too large",
            f"The request body is larger than the {self.max_bytes} bytes the wizard accepts.",
        )
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})


class _TooLarge(StarletteHTTPException):
    """Raised from ``receive``: an HTTPException, so FastAPI's body reader lets it through as a 413."""

    def __init__(self) -> None:
        super().__init__(413, "The request body is too large.")


METHODS = ("DELETE", "GET", "PATCH", "POST", "PUT")


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """The methods some route takes on ``scope``'s path (HEAD wherever GET is), sorted: asked of
    the route table itself (``BaseRoute.matches``), whatever nests the routes."""
    methods = {m for m in METHODS if any(r.matches({**scope, "method": m})[0] is Match.FULL for r in routes)}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


class HeadAsGet:
    """``HEAD`` wherever ``GET`` is (load balancers and uptime checks use it): answered as the
    ``GET`` with its headers and no body. FastAPI's routes, unlike Starlette's, have no HEAD of
    their own; the document lists only the GET (docs/design.md, "The OpenAPI document")."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app, self.routes = app, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        as_get = {**scope, "method": "GET"}
        if not any(route.matches(as_get)[0] is Match.FULL for route in self.routes):
            await self.app(scope, receive, send)  # no GET here: the 405 names what the path has
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await self.app(as_get, receive, headers_only)


class OwnEndpoints:
    """Teach the target policy where the wizard listens: the socket each request came in on.

    ``scope["server"]`` is the (host, port) of the listening socket that accepted the
    connection, whatever the ASGI server (uvicorn, the Streamlit app's embedded server).
    """

    def __init__(self, app: ASGIApp, policy: TargetPolicy) -> None:
        self.app, self.policy = app, policy

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        if scope["type"] in ("http", "websocket") and server and len(server) == 2:
            host, port = server
            if isinstance(port, int) and port not in self.policy.own_ports:
                self.policy.add_own_endpoint(str(host), port)
        await self.app(scope, receive, send)


def _streamlit_port() -> int | None:
    """Streamlit's port when the UI runs in this process (``streamlit run app.py``)."""
    if "streamlit" not in sys.modules:
        return None
    try:
        from streamlit import config

        port = config.get_option("server.port")
    except Exception:  # noqa: BLE001 - Streamlit not configured: nothing to learn
        return None
    return int(port) if isinstance(port, int) else None


def configure_logging(settings: Settings) -> None:
    install_log_scrubbing()
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uv = logging.getLogger(name)
        if not any(isinstance(f, SecretFilter) for f in uv.filters):
            uv.addFilter(SecretFilter())
    logger = logging.getLogger("wizard")
    logger.setLevel(settings.log_level.upper())
    if not any(isinstance(f, SecretFilter) for f in logger.filters):
        logger.addFilter(SecretFilter())
    ops_logs.configure(logger, settings.log_format, _log_handler)


def _log_handler() -> logging.Handler:
    """The wizard's handler on standard error; the secret filter applies in text and JSON alike."""
    handler = ops_logs.WizardHandler()
    handler.addFilter(SecretFilter())
    return handler


def create_app(settings: Settings | None = None, *, ops: bool = True) -> FastAPI:
    """The API. ``ops=False`` leaves out the security-header and request-id middleware (for the
    benchmark that measures what it costs; never in a deployment)."""
    settings = settings or get_settings()
    configure_logging(settings)
    metrics = Metrics()
    auth = AuthService(settings, metrics=metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        port = _streamlit_port()
        if port is not None:
            app.state.service.policy.add_own_endpoint(None, port)
        await run_in_threadpool(app.state.saved.startup)  # the store's migrations, the secrets key
        if settings.auth_enabled:
            await run_in_threadpool(auth.startup)  # the first user; its generated password, once
        app.state.alerts.start()  # connection health over time (backend/monitor)
        if settings.monitor_enabled:
            app.state.scheduler.start()
        try:
            yield
        finally:
            await app.state.scheduler.stop()  # running scheduled tests end with their verdicts
            await app.state.alerts.stop()
            # In-flight requests have ended (uvicorn waits for them): remove the process's own
            # temp folders now, as atexit never runs after uvicorn re-raises SIGTERM.
            shutdown.run_cleanups()

    app = FastAPI(
        title=API_TITLE,
        lifespan=lifespan,
        version=openapi.API_VERSION,
        openapi_url="/api/schema/",
        docs_url=None,  # the playground is served offline by backend/api/playground.py
        redoc_url=None,
        separate_input_output_schemas=False,
    )
    app.state.settings = settings
    app.state.service = ConnectionTester(settings, metrics=metrics)
    app.state.auth = auth
    app.state.saved = SavedConnections(settings, auth)
    app.state.metrics = metrics
    app.state.readiness = StoreProbe(lambda: store_ping(auth.store.engine, READY_DEADLINE_S))
    # Connection health over time: alerts of state changes, the scheduler of monitored connections.
    monitor_metrics = MonitorMetrics(metrics)
    app.state.alerts = Alerts(settings, monitor_metrics)
    app.state.saved.observers.append(app.state.alerts.notify)
    app.state.scheduler = Scheduler(settings, app.state.saved, app.state.service, on_pass=monitor_metrics.set_states)
    errors.install(app, registry())

    @app.exception_handler(400)
    async def unreadable_body(request: Request, exc: Exception) -> Response:
        # FastAPI answers 400 when the body cannot be decoded at all (e.g. not UTF-8): like any
        # body that breaks the schema, that is a 422 INVALID_PARAMETERS (docs/design.md, "Verdict codes and stages").
        return errors.invalid_parameters({"body": ["The request body is not valid JSON in UTF-8."]})

    @app.exception_handler(405)
    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        # Starlette's Allow names the methods of the first route on the path only; list them all.
        allowed = allowed_methods(app.router.routes, request.scope)
        headers = {"Allow": ", ".join(allowed)} if allowed else dict(getattr(exc, "headers", None) or {})
        text = f"{request.method} is not allowed here" + (f"; use {headers['Allow']}." if headers.get("Allow") else ".")
        return errors.message_response(405, Code.METHOD_NOT_ALLOWED, "Method not allowed", text, headers=headers)

    app.include_router(health.router)
    app.include_router(auth_router.router)
    # The fixed paths (supported_types/, test/, capabilities/…) first; saved connections' `{id}`
    # never matches their names anyway (backend/api/routers/ids.py), so a wrong method there is a 405.
    app.include_router(database_connections.router)
    app.include_router(forms.router)
    app.include_router(capabilities.router)
    app.include_router(monitoring.router)  # health/ and {id}/history/ (backend/monitor)
    app.include_router(parse_uri.router)
    app.include_router(saved.router)
    playground.install(app)
    app.openapi = lambda: openapi.build(app)  # type: ignore[method-assign]
    app.add_middleware(HeadAsGet, routes=app.router.routes)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(OwnEndpoints, policy=app.state.service.policy)
    if ops:
        # Outside FastAPI's outermost (error) middleware too, so that a 500 has the headers as well.
        build = app.build_middleware_stack
        app.build_middleware_stack = lambda: Operations(build(), settings.frame_ancestors)  # type: ignore[method-assign]
    return app


app = create_app()

