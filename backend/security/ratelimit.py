"""The per-user test rate limit (``WIZARD_TEST_RATE_PER_MINUTE``) on the ``limits`` library.

Where the counts live is ``WIZARD_RATE_LIMIT_STORAGE_URL``: ``memory://`` (the default) counts
per process; ``redis://host:port`` shares the counts between every API process pointed at the
same Redis, so that behind a load balancer a user gets the limit once, not once per process.
The window is a moving minute (``limits``' moving window: no burst at a window's edge).

Every Redis call has a deadline (1 s to connect, 1 s per call). If the storage does not
answer, the test is let through and an error is logged (at most once a minute), and the storage
is not asked again for :data:`COOL_DOWN_S` (a Redis that swallows packets must not add a second
to every test): an outage of the rate limiter must not take the wizard down with it. A shared
storage is asked from a worker thread (:meth:`UserRateLimit.ahit`), so that while it is slow the
event loop goes on serving every other request.

``memory://`` is counted here, not by ``limits``' ``MemoryStorage``: that one starts a timer
thread to expire its entries on nearly every hit (a thread start per test, milliseconds on a busy
machine) and inserts at the front of a list as long as the minute's hits. :class:`LocalWindow` is
the same moving window, a deque of times per user, and nothing else.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque

from limits import RateLimitItemPerMinute
from limits.errors import ConfigurationError, StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger("wizard.ratelimit")

DEADLINE_S = 1.0
COOL_DOWN_S = 10.0
NAMESPACE = "wizard-test-rate"


class LocalWindow:
    """A moving window of ``per_minute`` hits per user, in this process: ``hit(user)`` is 0 when counted,
    else the seconds until the oldest hit of the window leaves it (nothing counted)."""

    WINDOW_S = 60.0

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, user: str) -> int:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.get(user)
            if hits is None:
                if len(self._hits) > 10_000:  # users who have not tested for a minute: forgotten
                    self._hits = {k: v for k, v in self._hits.items() if v and v[-1] > now - self.WINDOW_S}
                hits = self._hits[user] = deque()
            while hits and hits[0] <= now - self.WINDOW_S:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return max(1, math.ceil(hits[-self.per_minute] + self.WINDOW_S - now))
            hits.append(now)
            return 0


class UserRateLimit:
    """``hit(user)``: 0 if this test may run (and it is counted), else the seconds to wait (nothing counted)."""

    def __init__(self, per_minute: int, storage_url: str = "memory://") -> None:
        self.item = RateLimitItemPerMinute(per_minute, namespace=NAMESPACE)
        self.storage_url = storage_url
        options: dict[str, float | str | bool] = {}
        if storage_url.startswith(("redis://", "rediss://", "redis+unix://")):
            options = {"socket_timeout": DEADLINE_S, "socket_connect_timeout": DEADLINE_S, "wrap_exceptions": True}
        self.storage = _storage(storage_url, options)
        self.shared = not isinstance(self.storage, MemoryStorage)  # counts kept elsewhere: network calls
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.local = None if self.shared else LocalWindow(per_minute)
        self._last_warning = 0.0
        self._down_until = 0.0
        self._lock = threading.Lock()

    def hit(self, user: str) -> int:
        if self.local is not None:
            return self.local.hit(user)
        if time.monotonic() < self._down_until:
            return 0  # the storage failed a moment ago: let tests through without waiting on it
        try:
            if self.limiter.hit(self.item, user):
                return 0
            reset_at, _remaining = self.limiter.get_window_stats(self.item, user)
        except (StorageError, OSError, TimeoutError) as exc:
            self._storage_failed(exc)
            return 0
        return max(1, math.ceil(reset_at - time.time()))

    async def ahit(self, user: str) -> int:
        """:meth:`hit` for the event loop: a shared storage (network calls) is asked from a thread."""
        if not self.shared or time.monotonic() < self._down_until:
            return self.hit(user)
        return await asyncio.to_thread(self.hit, user)

    def _storage_failed(self, exc: BaseException) -> None:
        with self._lock:
            now = time.monotonic()
            self._down_until = now + COOL_DOWN_S
            if now - self._last_warning < 60:
                return
            self._last_warning = now
        log.error(
            "the test rate limit's storage does not answer (%s); tests are not rate limited until it does",
            type(getattr(exc, "storage_error", exc)).__name__,
        )


def _storage(url: str, options: dict[str, float | str | bool]) -> Storage:
    """The storage of ``url``; an unusable URL is logged and replaced by ``memory://`` (the API still starts)."""
    try:
        storage = storage_from_string(url, **options)
        if isinstance(storage, Storage):
            return storage
        why = "an async storage (async+…) cannot be used here"
    except (ConfigurationError, ValueError):
        # Not the message: it may quote the URL, password included.
        why = f"unknown or unusable scheme '{url.partition(':')[0][:20]}'"
    log.error("WIZARD_RATE_LIMIT_STORAGE_URL is not usable (%s): counting per process (memory://) instead", why)
    fallback = storage_from_string("memory://")
    assert isinstance(fallback, Storage)
    return fallback
