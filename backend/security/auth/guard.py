"""Who is calling: a session cookie or an OIDC bearer token, and the CSRF check of cookie writes."""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypeVar

from starlette.requests import Request

from backend.api.errors import APIError
from backend.diagnosis.messages import Code
from backend.security.auth.oidc import InvalidToken, OIDCVerifier
from backend.security.auth.sessions import COOKIE, SAFE_METHODS, csrf_refusal, csrf_token
from backend.settings import Settings
from backend.store.calls import call_store, first_line

if TYPE_CHECKING:  # SQLAlchemy loads when the store is first used, not at import
    from backend.ops.metrics import Metrics
    from backend.security.auth.store import AuthStore, Session

log = logging.getLogger("wizard.auth")
T = TypeVar("T")

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="connection-wizard"'}

SESSION_CACHE_S = 2.0
"""How long a session found in the store is trusted without asking the store again (per process).

A logout or a password change made through another process (or ``python -m backend users
set-password``) ends the session here at most this long after; one made through this process ends
it at once. Only live sessions are kept (an unknown cookie always asks the store)."""
SESSION_CACHE_MAX = 10_000


@dataclass(frozen=True)
class Principal:
    name: str
    """The identity in audit lines and rate limits: the user name, or ``oidc:<sub>``."""
    display: str
    """The name to show: the user name, or the token's preferred_username / email / sub."""
    method: Literal["session", "oidc"]
    expires_at: float | None = None
    csrf_token: str | None = None
    session_id: str | None = None


def not_authenticated(body: str) -> APIError:
    return APIError(401, Code.NOT_AUTHENTICATED, "Not logged in", body, headers=CHALLENGE)


class AuthService:
    """The user store (opened on first use), the OIDC verifier and the checks of each request."""

    def __init__(self, settings: Settings, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        """Counts refusals (``wizard_requests_rejected_total{reason="auth"}``) when given."""
        self._store: AuthStore | None = None
        self._lock = threading.Lock()
        from backend.security.auth.throttle import LoginThrottle

        self.throttle = LoginThrottle(
            settings.login_max_failures,
            settings.login_max_failures_per_address,
            settings.login_window_s,
            settings.rate_limit_storage_url,
        )
        self._sessions: dict[str, tuple[float, Session]] = {}
        """session id → (monotonic time until which it is trusted, the session): see SESSION_CACHE_S."""
        self._lookups: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Task[Session | None]]] = {}
        """Store lookups in flight, shared by the requests of one session that missed the cache at once."""
        self._generation = 0
        """Counts the sessions ended here: a lookup begun before one ended keeps nothing in the cache."""
        self._ended: dict[str, None] = {}
        """The latest sessions ended here (a lookup begun before its end answers None for it)."""
        self.trusted_origins = settings.trusted_origins
        issuer, audience, jwks_url = oidc = (settings.oidc_issuer, settings.oidc_audience, settings.oidc_jwks_url)
        self.verifier = OIDCVerifier(issuer, audience, jwks_url) if issuer and audience and jwks_url else None
        if any(oidc) and not all(oidc):
            log.warning("bearer tokens are refused: set WIZARD_OIDC_ISSUER, _AUDIENCE and _JWKS_URL together")

    # --- the store ----------------------------------------------------------------------------

    @property
    def store(self) -> AuthStore:
        with self._lock:
            if self._store is None:
                from backend.security.auth.store import AuthStore

                self._store = AuthStore(self.settings.database_url, self.settings.store_timeout_s)
            return self._store

    async def call(self, fn: Callable[[], T]) -> T:
        """Run a blocking store call in a thread; an unreachable store is a 503, not a 500."""
        return await call_store(fn, self.settings, log, "user store")

    def startup(self, out: Callable[[str], None] | None = None) -> None:
        """Open the store and create the first user; print its password if one was generated."""
        from sqlalchemy.exc import SQLAlchemyError

        try:
            # An empty WIZARD_ADMIN_PASSWORD counts as unset: nobody could log in with it.
            generated = self.store.ensure_user(self.settings.admin_username, admin.get_secret_value() if (admin := self.settings.admin_password) else None)
        except SQLAlchemyError as exc:
            log.error("the user store is unavailable: %s", first_line(exc, self.settings))
            return
        if generated is not None:
            banner = (
                "\n" + "=" * 72 + "\n"
                f"Connection Wizard: first user '{self.settings.admin_username}' created with the password\n\n"
                f"    {generated}\n\n"
                "It is shown only this once. Set WIZARD_ADMIN_PASSWORD to choose your own.\n" + "=" * 72 + "\n"
            )
            (out or _print)(banner)
            log.info("generated the first user's password and printed it on the console (once)")

    # --- who is calling -----------------------------------------------------------------------

    async def principal(self, request: Request) -> Principal | None:
        """The caller, None without credentials; a bad bearer token is a 401 at once."""
        authorization = request.headers.get("authorization")
        if authorization is not None:
            return await self._bearer(authorization)
        session_id = request.cookies.get(COOKIE)
        if session_id:
            session = await self.session(session_id)
            if session is not None:
                return Principal(
                    name=session.username,
                    display=session.username,
                    method="session",
                    expires_at=session.expires_at,
                    csrf_token=csrf_token(session_id),
                    session_id=session_id,
                )
        return None

    async def session(self, session_id: str) -> Session | None:
        """The live session of ``session_id``: from this process's cache for SESSION_CACHE_S, else the store.

        Concurrent requests of one session that miss the cache share one store lookup: a burst of a
        client's parallel requests costs one store call, not one each (the store's pool is bounded).
        """
        now = time.monotonic()
        cached = self._sessions.get(session_id)
        if cached is not None and now < cached[0] and cached[1].expires_at > time.time():
            return cached[1]
        loop = asyncio.get_running_loop()
        pending = self._lookups.get(session_id)
        if pending is None or pending[0] is not loop:
            generation = self._generation
            task = loop.create_task(self._look_up(session_id, generation))
            pending = (loop, task)
            self._lookups[session_id] = pending
            task.add_done_callback(lambda _: self._lookups.pop(session_id, None) if self._lookups.get(session_id) is pending else None)
        return await asyncio.shield(pending[1])

    async def _look_up(self, session_id: str, generation: int) -> Session | None:
        session = await self.call(lambda: self.store.session(session_id))
        if session is None:
            self._sessions.pop(session_id, None)
            return None
        if generation != self._generation:  # a session ended here while the store was asked: not kept
            return session if session_id not in self._ended else None
        now = time.monotonic()
        if len(self._sessions) >= SESSION_CACHE_MAX:
            self._sessions = {k: v for k, v in self._sessions.items() if now < v[0]}
            if len(self._sessions) >= SESSION_CACHE_MAX:
                self._sessions.clear()
        self._sessions[session_id] = (now + SESSION_CACHE_S, session)
        return session

    def forget_session(self, session_id: str) -> None:
        """Drop a session ended by this process (a logout, a new login) from the cache at once."""
        self._sessions.pop(session_id, None)
        self._lookups.pop(session_id, None)
        self._generation += 1
        self._ended[session_id] = None
        while len(self._ended) > 1000:
            self._ended.pop(next(iter(self._ended)))

    async def _bearer(self, authorization: str) -> Principal:
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise not_authenticated("Send 'Authorization: Bearer <token>', or log in with POST /api/v1/auth/.")
        if self.verifier is None:
            raise not_authenticated("This wizard does not accept bearer tokens (OIDC is not configured).")
        try:
            claims = await self.verifier.verify(token)
        except InvalidToken as exc:
            raise not_authenticated(str(exc)) from None
        subject = str(claims["sub"])
        display = next(
            (str(claims[k]) for k in ("preferred_username", "email") if isinstance(claims.get(k), str) and claims[k]),
            subject,
        )
        exp = claims.get("exp")
        return Principal(
            name=f"oidc:{subject}",
            display=display,
            method="oidc",
            expires_at=float(exp) if isinstance(exp, (int, float)) else None,
        )

    async def require(self, request: Request) -> Principal:
        """The caller, or 401; a cookie-authenticated write must also pass the CSRF check (403)."""
        try:
            return await self._require(request)
        except APIError as exc:
            if exc.status in (401, 403) and self.metrics is not None:
                self.metrics.reject("auth")
            raise

    async def _require(self, request: Request) -> Principal:
        found = await self.principal(request)
        if found is None:
            raise not_authenticated(
                "Log in with POST /api/v1/auth/ (a session cookie) or send an OIDC bearer token."
            )
        if found.method == "session" and request.method.upper() not in SAFE_METHODS:
            self.check_csrf(request, found.csrf_token)
        request.state.principal = found
        return found

    def check_csrf(self, request: Request, expected: str | None) -> None:
        why = csrf_refusal(request, expected, self.trusted_origins)
        if why is not None:
            raise APIError(403, Code.CSRF_FAILED, "Request refused (CSRF protection)", why)


def _print(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()
