"""``/api/v1/auth/``: log in (session cookie), who am I, log out."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from backend.api.errors import APIError
from backend.diagnosis.messages import Code
from backend.security.auth.guard import AuthService, Principal, not_authenticated
from backend.security.auth.sessions import (
    COOKIE,
    CSRF_HEADER,
    browser_origin,
    clear_cookie,
    csrf_token,
    same_origin,
    set_cookie,
)
from backend.security.auth.throttle import client_address

log = logging.getLogger("wizard.auth")

router = APIRouter(prefix="/api/v1/auth", tags=["Auth"])

_MESSAGE = {"application/json": {"schema": {"$ref": "#/components/schemas/ApplicationMessage"}}}
R401: dict[int | str, dict[str, Any]] = {401: {"description": "Message: not authenticated", "content": _MESSAGE}}
R403: dict[int | str, dict[str, Any]] = {403: {"description": "Message: refused (CSRF protection)", "content": _MESSAGE}}
R429: dict[int | str, dict[str, Any]] = {429: {"description": "Message: too many failed logins", "content": _MESSAGE}}
R503: dict[int | str, dict[str, Any]] = {503: {"description": "Message: the user store is unavailable", "content": _MESSAGE}}


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=150, title="Username")
    password: str = Field(
        min_length=1, max_length=1024, title="Password", repr=False, json_schema_extra={"format": "password"}
    )


class AuthStatus(BaseModel):
    username: str = Field(title="Username")
    method: Literal["session", "oidc"] = Field(title="Method", description="How the caller authenticated.")
    csrf_token: str | None = Field(
        default=None,
        title="CSRF token",
        description=f"Send it as the {CSRF_HEADER} header with every POST/DELETE authenticated by the session cookie "
        "from a client that sends no Origin header (browsers send Origin and need not).",
    )
    expires_at: str | None = Field(default=None, title="Expires At", description="When the session or token expires (UTC).")


async def get_auth(request: Request) -> AuthService:
    auth: AuthService = request.app.state.auth
    return auth


AuthDep = Annotated[AuthService, Depends(get_auth)]


def _iso(epoch: float | None) -> str | None:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds") if epoch is not None else None


def _status(principal: Principal) -> AuthStatus:
    return AuthStatus(
        username=principal.display,
        method=principal.method,
        csrf_token=principal.csrf_token,
        expires_at=_iso(principal.expires_at),
    )


@router.post(
    "/",
    operation_id="auth_create",
    response_model=AuthStatus,
    summary="Log in",
    description="Check a user name and password and start a session: sets the HttpOnly `sessionid` cookie. "
    f"The answer (and its `{CSRF_HEADER}` header) carries the session's CSRF token.",
    responses={**R401, **R403, **R429, **R503},
    openapi_extra={"security": []},
)
async def auth_create(body: LoginRequest, request: Request, response: Response, auth: AuthDep) -> AuthStatus:
    source = browser_origin(request)
    if source is not None and (source == "null" or not same_origin(source, request, auth.trusted_origins)):
        raise APIError(403, Code.CSRF_FAILED, "Request refused (CSRF protection)", "The login came from a page of another origin.")
    settings = auth.settings
    client = client_address(request)
    throttle = auth.throttle
    wait = await throttle.retry_after(body.username, client)
    if wait:
        log.warning("login throttled from %s", client)
        if auth.metrics is not None:
            auth.metrics.reject("rate")
        raise APIError(
            429,
            Code.TOO_MANY_REQUESTS,
            "Too many failed logins",
            f"Too many failed logins for this user from this address, or from this address. Try again in {wait} s.",
            headers={"Retry-After": str(wait)},
        )
    store = auth.store
    user = await auth.call(lambda: store.authenticate(body.username, body.password))
    if user is None:
        await throttle.failed(body.username, client)
        known = await auth.call(lambda: store.user_exists(body.username))
        # A user name typed by mistake may be a password: name only existing users.
        log.warning("failed login for %s from %s", f"user '{body.username}'" if known else "an unknown user", client)
        raise not_authenticated("The user name or password is wrong.")
    await throttle.succeeded(body.username, client)
    previous = request.cookies.get(COOKIE)
    if previous:  # a login always starts a new session: the old id (perhaps planted) is ended
        await auth.call(lambda: store.delete_session(previous))
        auth.forget_session(previous)
    session_id, expires = await auth.call(lambda: store.create_session(user, settings.session_ttl_s))
    set_cookie(response, request, session_id, settings.session_ttl_s)
    principal = Principal(
        name=user.username,
        display=user.username,
        method="session",
        expires_at=expires,
        csrf_token=csrf_token(session_id),
        session_id=session_id,
    )
    response.headers[CSRF_HEADER] = principal.csrf_token or ""
    response.headers["Cache-Control"] = "no-store"
    log.info("user '%s' logged in from %s", user.username, client)
    return _status(principal)


@router.get(
    "/",
    operation_id="auth_retrieve",
    response_model=AuthStatus,
    summary="Who am I",
    description="The logged-in user (session cookie) or the bearer token's subject.",
    responses={**R401, **R503},
)
async def auth_retrieve(request: Request, response: Response, auth: AuthDep) -> AuthStatus:
    principal = await auth.require(request)
    response.headers["Cache-Control"] = "no-store"
    return _status(principal)


@router.delete(
    "/",
    operation_id="auth_destroy",
    status_code=204,
    response_class=Response,
    summary="Log out",
    description="End the session and clear the `sessionid` cookie (a bearer token has nothing to end).",
    responses={**R401, **R403, **R503},
)
async def auth_destroy(request: Request, auth: AuthDep) -> Response:
    principal = await auth.require(request)
    response = Response(status_code=204)
    if principal.session_id is not None:
        session_id = principal.session_id
        await auth.call(lambda: auth.store.delete_session(session_id))
        auth.forget_session(session_id)
        clear_cookie(response, request)
        log.info("user '%s' logged out", principal.name)
    return response
