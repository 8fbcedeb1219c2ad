"""The login throttle (docs/design.md, "Login throttle"): it slows the guesser, not the owner.

Failed logins are counted with the ``limits`` library (moving windows) in the storage of
``WIZARD_RATE_LIMIT_STORAGE_URL`` — the test rate limit's, so every process sharing a Redis shares
the counts — under two keys:

- per (user name, client address): at most ``WIZARD_LOGIN_MAX_FAILURES`` in ``WIZARD_LOGIN_WINDOW_S``;
  a successful login clears it. A user whose name is guessed from one address still logs in from
  another.
- per client address (any user names): at most ``WIZARD_LOGIN_MAX_FAILURES_PER_ADDRESS``.

Keys are SHA-256 digests (a user name typed by mistake may be a password). If the storage does not
answer (1 s deadline), logins are let through and an error is logged.

The client address is the socket's peer (behind a proxy: what uvicorn's ``--forwarded-allow-ips``
makes of ``X-Forwarded-For``). A login through the embedded UI comes from the Streamlit process
over loopback; the UI hands the browser's address in :data:`ADDRESS_HEADER` with a proof
(:data:`PROOF_HEADER`): an HMAC of that address under a secret made per process, which only code
inside this process can compute (:func:`embed_headers`). Any other caller's header is ignored.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import ipaddress
import logging
import math
import secrets
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter
from starlette.requests import Request

from backend.security.ratelimit import COOL_DOWN_S, DEADLINE_S, _storage

log = logging.getLogger("wizard.auth")
T = TypeVar("T")

NAMESPACE = "wizard-login"
ADDRESS_HEADER = "X-Wizard-Client-Address"
PROOF_HEADER = "X-Wizard-Client-Proof"
_EMBED_SECRET = secrets.token_bytes(32)
"""Made at import, never leaves the process: the embedded UI and the API share it, nobody else can."""


def _proof(address: str) -> str:
    return hmac.new(_EMBED_SECRET, address.encode("ascii", "replace"), hashlib.sha256).hexdigest()


def embed_headers(address: str | None) -> dict[str, str]:
    """The headers with which the UI embedded in this process hands the API the browser's address."""
    if not address:
        return {}
    return {ADDRESS_HEADER: address, PROOF_HEADER: _proof(address)}


def client_address(request: Request) -> str:
    """The caller's address: the socket's peer, or the browser's when the embedding UI proves it."""
    peer = request.client.host if request.client else "-"
    claimed = request.headers.get(ADDRESS_HEADER)
    proof = request.headers.get(PROOF_HEADER)
    if claimed is None or proof is None or not hmac.compare_digest(proof, _proof(claimed)):
        return peer
    try:
        return str(ipaddress.ip_address(claimed.strip()))
    except ValueError:
        return peer


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


class LoginThrottle:
    """``retry_after(user, address)`` before checking a password; ``failed`` / ``succeeded`` after."""

    def __init__(self, max_failures: int, per_address: int, window_s: int, storage_url: str = "memory://") -> None:
        self.pair_item = RateLimitItemPerSecond(max_failures, window_s, namespace=NAMESPACE)
        self.address_item = RateLimitItemPerSecond(per_address, window_s, namespace=NAMESPACE)
        options: dict[str, float | str | bool] = {}
        if storage_url.startswith(("redis://", "rediss://", "redis+unix://")):
            options = {"socket_timeout": DEADLINE_S, "socket_connect_timeout": DEADLINE_S, "wrap_exceptions": True}
        self.storage: Storage = _storage(storage_url, options)
        self.shared = not isinstance(self.storage, MemoryStorage)
        self.limiter = MovingWindowRateLimiter(self.storage)
        self._down_until = 0.0
        self._last_error = 0.0
        self._lock = threading.Lock()

    @staticmethod
    def _keys(user: str, address: str) -> tuple[str, str]:
        return _digest("pair", user.strip().casefold(), address), _digest("addr", address)

    def _guarded(self, what: str, fn: Callable[[], T]) -> T | None:
        if time.monotonic() < self._down_until:
            return None
        try:
            return fn()
        except (StorageError, OSError, TimeoutError) as exc:
            self._failed(what, exc)
            return None

    def retry_after_now(self, user: str, address: str) -> int:
        """Seconds before this user may try from this address (0: now). Nothing is counted."""
        pair, addr = self._keys(user, address)
        wait = 0
        for item, key in ((self.pair_item, pair), (self.address_item, addr)):
            found = self._guarded("check", functools.partial(self._wait, item, key))
            wait = max(wait, found or 0)
        return wait

    def _wait(self, item: RateLimitItemPerSecond, key: str) -> int:
        if self.limiter.test(item, key):
            return 0
        reset_at, _remaining = self.limiter.get_window_stats(item, key)
        return max(1, math.ceil(reset_at - time.time()))

    def failed_now(self, user: str, address: str) -> None:
        pair, addr = self._keys(user, address)
        self._guarded("count", lambda: (self.limiter.hit(self.pair_item, pair), self.limiter.hit(self.address_item, addr)))

    def succeeded_now(self, user: str, address: str) -> None:
        pair, _addr = self._keys(user, address)
        self._guarded("clear", lambda: self.limiter.clear(self.pair_item, pair))

    async def retry_after(self, user: str, address: str) -> int:
        return await self._call(self.retry_after_now, user, address)

    async def failed(self, user: str, address: str) -> None:
        await self._call(self.failed_now, user, address)

    async def succeeded(self, user: str, address: str) -> None:
        await self._call(self.succeeded_now, user, address)

    async def _call(self, fn: Callable[[str, str], T], user: str, address: str) -> T:
        """A shared storage (network calls) is asked from a thread, so a slow Redis stalls no other request."""
        if not self.shared:
            return fn(user, address)
        return await asyncio.to_thread(fn, user, address)

    def _failed(self, what: str, exc: BaseException) -> None:
        with self._lock:
            now = time.monotonic()
            self._down_until = now + COOL_DOWN_S
            if now - self._last_error < 60:
                return
            self._last_error = now
        log.error(
            "the login throttle's storage does not answer (%s, on %s): logins are let through until it does",
            type(getattr(exc, "storage_error", exc)).__name__,
            what,
        )
