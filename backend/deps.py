"""The API's dependencies, in one place."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from backend.auth import AuthService
from backend.service import TestService
from backend.settings import Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_service(request: Request) -> TestService:
    service: TestService = request.app.state.service
    return service


def get_auth(request: Request) -> AuthService:
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
    principal = await get_auth(request).require(request)
    return principal.name


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServiceDep = Annotated[TestService, Depends(get_service)]
UserDep = Annotated[str | None, Depends(current_user)]
