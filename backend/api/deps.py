"""The API's dependencies, in one place.

Every dependency is ``async def``: FastAPI runs a plain ``def`` dependency in a worker thread, a
thread hop per dependency per request for what only reads ``app.state``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from backend.diagnosis.service import ConnectionTester
from backend.ops.metrics import Metrics
from backend.ops.readiness import StoreProbe
from backend.saved.service import SavedConnections, owner_of
from backend.security.auth import AuthService
from backend.settings import Settings


async def get_service(request: Request) -> ConnectionTester:
    service: ConnectionTester = request.app.state.service
    return service


async def get_auth(request: Request) -> AuthService:
    auth: AuthService = request.app.state.auth
    return auth


async def current_user(request: Request) -> str | None:
    """The caller's identity: a session's user name, or ``oidc:<sub>`` for a bearer token.

    Without valid credentials: 401 (``NOT_AUTHENTICATED``); a cookie-authenticated write
    that fails the CSRF check: 403. With ``WIZARD_AUTH_ENABLED=false``: None, nobody checked.
    """
    settings: Settings = request.app.state.settings
    if not settings.auth_enabled:
        return None
    auth: AuthService = request.app.state.auth
    principal = await auth.require(request)
    return principal.name


ServiceDep = Annotated[ConnectionTester, Depends(get_service)]
UserDep = Annotated[str | None, Depends(current_user)]


# --- saved connections -----------------------------------------------------------------------


async def get_saved(request: Request) -> SavedConnections:
    saved: SavedConnections = request.app.state.saved
    return saved


async def current_owner(user: UserDep) -> str:
    """Whose saved connections the caller sees: its identity, or the one anonymous owner without authentication."""
    return owner_of(user)


SavedDep = Annotated[SavedConnections, Depends(get_saved)]
OwnerDep = Annotated[str, Depends(current_owner)]


async def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_metrics(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


async def get_readiness(request: Request) -> StoreProbe:
    readiness: StoreProbe = request.app.state.readiness
    return readiness


AppSettingsDep = Annotated[Settings, Depends(get_app_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
ReadinessDep = Annotated[StoreProbe, Depends(get_readiness)]
