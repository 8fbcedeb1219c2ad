"""The API embedded beside the UI: what ``streamlit run app.py`` serves under ``/api/``.

The one backend module the UI imports (``app.py``, ``pages/``, ``components/`` reach the API over
HTTP otherwise): the routes, middleware and lifespan that embed the API, the login hand-off, and
what the UI needs to know of the API's settings (:func:`ui_settings`: where the API is, the
test deadline), so the UI never builds the backend's settings class itself.

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

**The login lives in the browser.** The API's ``sessionid`` cookie is HttpOnly, and a Streamlit
script cannot set a cookie. So the login page logs in over HTTP as before, then hands the new
session to the browser through :func:`issue_ticket` and the ``POST /_wizard/session`` route
here: a one-time ticket (30 s) that the page posts from the browser, answered with the API's own
``Set-Cookie`` (same name and attributes, same origin) and a redirect back to the page asked
for. From then on every run of the script reads the cookie from ``st.context.cookies``: a
reload or a second tab is logged in, and logging out (``DELETE /api/v1/auth/``) ends the session
for every tab at its next call. The route refuses a post from another origin (a page elsewhere
must not log the user in as someone else).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

API_PREFIX = "/api"
HANDOFF_PATH = "/_wizard/session"
TICKET_TTL_S = 30.0

_tickets: dict[str, tuple[str, float]] = {}
_tickets_lock = threading.Lock()


@dataclass(frozen=True)
class UISettings:
    """What the UI needs from the wizard's settings."""

    api_url: str | None
    """``WIZARD_API_URL``: an API served elsewhere; None: the one embedded beside the UI."""
    test_timeout_s: float
    """``WIZARD_TEST_TIMEOUT_S``: a test's deadline (the UI waits a little longer for its answer)."""


def ui_settings() -> UISettings:
    """``WIZARD_API_URL`` and ``WIZARD_TEST_TIMEOUT_S`` from the wizard's one settings class."""
    try:
        from backend.settings import Settings

        settings = Settings()
        return UISettings(getattr(settings, "api_url", None), float(settings.test_timeout_s))
    except Exception:  # noqa: BLE001 - a bad WIZARD_* value must not keep the UI from starting
        return UISettings(None, 10.0)


def issue_ticket(session_id: str) -> str:
    """A one-time ticket that :func:`take_session` exchanges for the ``sessionid`` cookie."""
    now = time.monotonic()
    ticket = secrets.token_urlsafe(32)
    with _tickets_lock:
        for old in [t for t, (_, expires) in _tickets.items() if expires < now]:
            del _tickets[old]
        _tickets[ticket] = (session_id, now + TICKET_TTL_S)
    return ticket


def _redeem(ticket: str) -> str | None:
    with _tickets_lock:
        found = _tickets.pop(ticket, None)
    if found is None or found[1] < time.monotonic():
        return None
    return found[0]


def _safe_next(value: str) -> str:
    """Only a path of this site (``/capabilities?x=1``), never another site (``//evil``, ``https://…``)."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value and "\n" not in value:
        return value
    return "/"


def _from_own_page(request: Request, source: str | None, same_origin: Any) -> bool:
    """Whether a browser page of this very origin sent the request.

    The wizard answers with ``Referrer-Policy: no-referrer``, under which a browser sends
    ``Origin: null`` with a form post even to its own origin. The browser's ``Sec-Fetch-Site``
    (Fetch Metadata, which no page can set) then says ``same-origin``; a real origin must match.
    """
    if source is not None and source != "null":
        return bool(same_origin(source, request))
    return request.headers.get("sec-fetch-site") == "same-origin"


async def take_session(request: Request) -> Response:
    """``POST /_wizard/session`` (form: ``ticket``, ``next``): set the session cookie, or clear it, and go back."""
    from backend.security.auth.sessions import browser_origin, clear_cookie, same_origin, set_cookie
    from backend.settings import get_settings

    if not _from_own_page(request, browser_origin(request), same_origin):
        return PlainTextResponse("Refused: this form must be sent by the wizard's own page.", status_code=403)
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    target = _safe_next((form.get("next") or ["/"])[0])
    response = RedirectResponse(target, status_code=303)
    session_id = _redeem((form.get("ticket") or [""])[0])
    if session_id:
        set_cookie(response, request, session_id, get_settings().session_ttl_s)
    else:
        clear_cookie(response, request)
    response.headers["Cache-Control"] = "no-store"
    return response


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


def browser_headers(address: str | None) -> dict[str, str]:
    """The headers with which the UI hands the embedded API the browser's address, proven by a secret of
    this process (the login throttle then counts each browser apart; no other caller can claim one)."""
    from backend.security.auth.throttle import embed_headers

    return embed_headers(address)


def security_middleware() -> list[Middleware]:
    """Security headers and request ids on every response of the process: Streamlit's pages and
    static files as well as the API (whose own instance of the middleware then stands aside).

    ``st.App(middleware=…)`` puts these outside Streamlit's own middleware, around every route.
    """
    from backend.ops.middleware import Operations
    from backend.settings import get_settings

    return [Middleware(Operations, frame_ancestors=get_settings().frame_ancestors)]


def api_routes() -> Sequence[BaseRoute]:
    """The backend, mounted at ``/api`` beside Streamlit's own routes."""
    return [
        Route(HANDOFF_PATH, take_session, methods=["POST"]),
        Mount(API_PREFIX, app=FullPath(_backend())),
    ]


@asynccontextmanager
async def api_lifespan(_streamlit_app: Any) -> AsyncIterator[None]:
    """Run the backend's own lifespan (a mounted app's lifespan is not run by Starlette)."""
    backend = _backend()
    async with backend.router.lifespan_context(backend):
        yield None
