"""Session ids, their CSRF tokens, the cookie, and the CSRF check of cookie-authenticated writes.

The store keeps only a SHA-256 of each session id: a copy of the database logs nobody in.
The CSRF token is an HMAC of the session id, so it needs no storage, changes with every
session, and cannot be computed without the (HttpOnly) cookie.

A cookie-authenticated request that changes something (POST, PUT, PATCH, DELETE) passes
the CSRF check when

* its ``Origin`` (or, without one, its ``Referer``) is the wizard's own origin (the Host
  the request was sent to) or one of ``WIZARD_TRUSTED_ORIGINS``: what browsers send with
  every same-origin write; or
* it has no ``Origin`` and no ``Referer`` (not a browser page) and carries the session's
  ``X-CSRF-Token`` header: what a non-browser client (the Streamlit UI's httpx) sends; or, as
  Django clients do, the ``X-CSRFToken`` header together with the ``csrftoken`` cookie (set by
  the login, not HttpOnly, ``SameSite=Lax``), both the session's token.

A foreign or opaque (``null``) origin is refused whatever else the request carries, and so
is ``Sec-Fetch-Site: cross-site``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "sessionid"
CSRF_HEADER = "X-CSRF-Token"
DJANGO_CSRF_HEADER = "X-CSRFToken"
DJANGO_CSRF_COOKIE = "csrftoken"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def new_session_id() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def session_hash(session_id: str) -> str:
    """What the store keeps instead of the session id."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


def csrf_token(session_id: str) -> str:
    return hmac.new(session_id.encode("utf-8", "surrogatepass"), b"wizard-csrf-v1", hashlib.sha256).hexdigest()


def set_cookie(response: Response, request: Request, session_id: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE,
        session_id,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    # The same token as the login's JSON, for Django/DRF-era clients that echo the `csrftoken`
    # cookie in `X-CSRFToken`: readable by the page (not HttpOnly), Lax like Django's.
    response.set_cookie(
        DJANGO_CSRF_COOKIE,
        csrf_token(session_id),
        max_age=max_age,
        path="/",
        httponly=False,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, request: Request) -> None:
    secure = request.url.scheme == "https"
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=secure)
    response.delete_cookie(DJANGO_CSRF_COOKIE, path="/", httponly=False, samesite="lax", secure=secure)


# --- CSRF -------------------------------------------------------------------------------------


def _host_port(netloc: str) -> tuple[str, int | None]:
    """``example.com:8000`` → (``example.com``, 8000); ``[::1]`` → (``::1``, None)."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port = netloc.partition(":")
    return host.rstrip("."), int(port) if port.isdigit() else None


def _origin_of(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of an Origin or Referer value, None when it is not a URL."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    return scheme, parts.hostname.lower().rstrip("."), port or _DEFAULT_PORTS.get(scheme)


def same_origin(source: str, request: Request, trusted: tuple[str, ...] = ()) -> bool:
    """Whether ``source`` (an Origin or a Referer) is the origin the request was sent to, or trusted."""
    origin = _origin_of(source)
    if origin is None:
        return False
    for item in trusted:
        known = _origin_of(item)
        if known is not None and known == origin:
            return True
    host_header = request.headers.get("host")
    if not host_header:
        return False
    host, port = _host_port(host_header)
    scheme = request.url.scheme.lower()
    # Strict: scheme, host and port. Behind a proxy that ends TLS, run uvicorn with
    # --proxy-headers (so the scheme is https) or list the public origin in WIZARD_TRUSTED_ORIGINS.
    return origin == (scheme, host, port or _DEFAULT_PORTS.get(scheme))


def browser_origin(request: Request) -> str | None:
    """The Origin of a request, or the origin of its Referer; ``"null"`` for an opaque one."""
    origin = request.headers.get("origin")
    if origin is not None:
        return origin.strip() or "null"
    referer = request.headers.get("referer")
    if referer:
        return referer
    return None


def csrf_refusal(request: Request, expected_token: str | None, trusted: tuple[str, ...] = ()) -> str | None:
    """Why a cookie-authenticated write must be refused, or None when it passes (see the module doc)."""
    if request.headers.get("sec-fetch-site", "").lower() == "cross-site":
        return "The request came from another site."
    source = browser_origin(request)
    if source is not None:
        if source == "null" or not same_origin(source, request, trusted):
            return "The request came from a page of another origin."
        return None
    header, sent = CSRF_HEADER, request.headers.get(CSRF_HEADER)
    django = request.headers.get(DJANGO_CSRF_HEADER)
    if not sent and django:
        header, sent = DJANGO_CSRF_HEADER, django
        cookie = request.cookies.get(DJANGO_CSRF_COOKIE)
        if not cookie or not _same(sent, cookie):
            return f"Send the {DJANGO_CSRF_HEADER} header together with the {DJANGO_CSRF_COOKIE} cookie of the login."
    if expected_token is None or not sent:
        return f"Send the {CSRF_HEADER} header you got when you logged in (or use a bearer token)."
    if not _same(sent, expected_token):
        return f"The {header} header does not belong to this session."
    return None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))
