"""Security headers and request ids on every response: one pure ASGI middleware.

Pure ASGI (not Starlette's ``BaseHTTPMiddleware``): it only rewrites the ``http.response.start``
message and passes every body chunk straight through, so the NDJSON lines of
``POST …/test/stream/`` still leave one by one. It is installed around everything a response can
come from: in ``backend.main`` outside FastAPI's own error middleware (so a 500 has the headers
too), and in ``app.py`` around the whole Streamlit app (pages, static files, and the API mounted
under ``/api/``). Where both wrap one request, the inner one sees the outer one's mark and stands
aside: each header is set exactly once.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.ops.context import AFTER_ANSWER, REQUEST_ID, AfterAnswer, accept_or_generate

log = logging.getLogger("wizard.ops")

MARK = "wizard.ops"
"""Scope key set by the outermost instance; an inner one passes the request through untouched."""

HSTS = (b"strict-transport-security", b"max-age=63072000; includeSubDomains")
_REQUEST_ID = b"x-request-id"
SERVER_TIMING = b"server-timing"
"""``app;dur=<ms>``: the time from the request to its answer's headers, by the server's clock (W3C Server Timing)."""
_CSP = b"content-security-policy"

# An origin a browser compares frame-ancestors against: scheme://host[:port], a host may start
# with "*." (every subdomain); or the keyword 'self'. Anything else (a path, a quote, a ';' that
# would open another directive) is refused rather than written into the header.
_SOURCE = re.compile(r"'self'|https?://(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::\d{1,5})?")


def frame_sources(setting: str | Iterable[str]) -> list[str]:
    """The valid origins of ``WIZARD_FRAME_ANCESTORS`` (checked and split by ``Settings``; a string, space- or
    comma-separated, is split here); others are logged and left out."""
    sources = []
    for item in re.split(r"[\s,]+", setting.strip()) if isinstance(setting, str) else setting:
        if not item:
            continue
        if _SOURCE.fullmatch(item):
            sources.append(item.rstrip("/"))
        else:
            log.warning("WIZARD_FRAME_ANCESTORS: %r is not an origin (https://host[:port]) and is ignored", item[:100])
    return sources


def security_headers(frame_ancestors: str | Iterable[str] = "") -> list[tuple[bytes, bytes]]:
    """The headers every response carries (HSTS apart: it depends on the request's scheme).

    Without allowed origins the page may not be framed at all, said both ways (``X-Frame-Options``
    for old browsers, CSP ``frame-ancestors`` for the rest); with origins, only CSP can list them.
    """
    headers = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
    sources = frame_sources(frame_ancestors)
    if sources:
        headers.append((b"content-security-policy", f"frame-ancestors {' '.join(sources)}".encode()))
    else:
        headers += [(b"x-frame-options", b"DENY"), (b"content-security-policy", b"frame-ancestors 'none'")]
    return headers


def merged(
    headers: Iterable[tuple[bytes, bytes]], added: list[tuple[bytes, bytes]], names: frozenset[bytes]
) -> list[tuple[bytes, bytes]]:
    """The response's headers with ours set once: a header of the same name is replaced, except an
    app's own Content-Security-Policy, whose other directives are kept (its frame-ancestors yields
    to the operator's ``WIZARD_FRAME_ANCESTORS``)."""
    kept: list[tuple[bytes, bytes]] = []
    policies: list[bytes] = []
    for name, value in headers:
        lower = name.lower()
        if lower == _CSP:
            policies.append(value)
        elif lower not in names:
            kept.append((name, value))
    if not policies:
        return kept + added
    directives = [d.strip() for p in policies for d in p.split(b";") if d.strip()]
    directives = [d for d in directives if not d.lower().startswith(b"frame-ancestors")]
    ours = [(n, v) for n, v in added if n == _CSP]
    joined = b"; ".join([*directives, *(v for _, v in ours)])
    return [*kept, *((n, v) for n, v in added if n != _CSP), (_CSP, joined)]


class Operations:
    """Sets the request id (accepted or generated) for the request's work and logs, and adds the
    security headers and ``X-Request-ID`` to its response.

    ``Strict-Transport-Security`` is sent only when ``scope["scheme"]`` is https: behind a reverse
    proxy that is what uvicorn derived from ``X-Forwarded-Proto``, which it trusts only from
    ``--forwarded-allow-ips``; a client cannot claim https by sending the header itself.
    """

    def __init__(self, app: ASGIApp, frame_ancestors: str | Iterable[str] = "") -> None:
        self.app = app
        self.headers = security_headers(frame_ancestors)
        self.names = frozenset(name for name, _ in self.headers) | {HSTS[0], _REQUEST_ID}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or MARK in scope:
            await self.app(scope, receive, send)
            return
        scope[MARK] = True
        supplied = next((value for name, value in scope["headers"] if name.lower() == _REQUEST_ID), None)
        request_id = accept_or_generate(supplied)
        added = [*self.headers, (_REQUEST_ID, request_id.encode())]
        if scope.get("scheme") == "https":
            added.append(HSTS)
        names = self.names

        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # The server's own time to the answer's headers (what a client cannot tell from its wall clock
                # on a busy machine): browsers' developer tools show it, and the suite checks deadlines by it.
                took = f"app;dur={(time.perf_counter() - started) * 1000:.1f}".encode()
                message = {**message, "headers": [*merged(message.get("headers", ()), added, names),
                                                  (SERVER_TIMING, took)]}
            await send(message)

        token = REQUEST_ID.set(request_id)
        pending = AfterAnswer()
        pending_token = AFTER_ANSWER.set(pending)
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            AFTER_ANSWER.reset(pending_token)
            pending.run()  # the answer has been sent (or the request failed): its clean-ups now
            REQUEST_ID.reset(token)
